"""The controller: one collector per run, fed from the phase reports; the report written once.

Under xdist the workers send their reports here, so only this object
writes files; with ``-n 0`` the same object runs in the one process. It
tells the collector (``conformance.collect``) what the run was asked to run
(the collected instances: from this process's items, or from the plan an
xdist worker wrote), what started, what came back, what was lost and why the
run stopped early; then builds the report, writes it, keeps it for
``socket-conformance run`` (``written``), and sets the exit status by the
collector's one rule.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.case import case_info
from conformance.collect import Collector, Stop, exit_code
from conformance.plugin import settings
from conformance.plugin.reruns import RESULT_ATTR
from conformance.plugin.watchdog import Watchdog
from conformance.plugin.workers import RUNDIR, Reporter, RunDir
from conformance.result import Result

# (report, paths) of the run, for whoever started pytest in this process.
WRITTEN = pytest.StashKey[tuple[dict[str, Any], dict[str, Path]]]()


def install(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        if RUNDIR in config.workerinput:
            try:
                reporter = Reporter(config)
            except OSError:
                # The run is over and its directory gone (a worker xdist started as a
                # replacement while the run was being stopped): nothing left to tell.
                return
            config.pluginmanager.register(reporter, "conformance.plugin.workers")
        return
    controller = Controller(config)
    config.pluginmanager.register(controller, "conformance.plugin.controller")
    config.pluginmanager.register(controller.watchdog, "conformance.plugin.watchdog")


class Controller:
    """See the module docstring; registered in the controller process only."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.collector = Collector()
        self.lock = threading.Lock()
        self.started = ""
        self.since: dict[str, float] = {}
        self.rundir: RunDir | None = None
        self.written: tuple[dict[str, Any], dict[str, Path]] | None = None
        self.partial: str | None = None
        st = settings.of(config)
        self.watchdog = Watchdog(self._stop, self._lose, self._running, self._who_runs,
                                 st.timeout, st.deadline)
        self.watchdog.start()

    # --- what the watchdog thread may call --------------------------------------------

    def _stop(self, stop: Stop) -> None:
        with self.lock:
            self.collector.stop(stop)

    def _lose(self, nodeid: str, verdict: str, why: str) -> None:
        with self.lock:
            self.collector.lose(nodeid, verdict, why)
            self.since.pop(nodeid, None)

    def _running(self) -> dict[str, float]:
        with self.lock:
            return dict(self.since)

    def _who_runs(self) -> dict[str, int]:
        return self.rundir.running() if self.rundir is not None else {}

    # --- pytest hooks -------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Each xdist worker gets the run directory (made with the first worker)."""
        if self.rundir is None:
            self.rundir = RunDir()
        node.workerinput[RUNDIR] = str(self.rundir.path)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        from conformance.report.model import now

        self.started = now()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist, the run's instances are this process's items."""
        from conformance.plugin.reruns import instance_of

        with self.lock:
            self.collector.plan(instance_of(i) for i in session.items if case_info(i))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist, the run's instances are in the plan a worker wrote."""
        if self.rundir is not None and not self.collector.planned:
            with self.lock:
                self.collector.plan(self.rundir.plan())

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        with self.lock:
            self.collector.start(nodeid)
            self.since[nodeid] = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, RESULT_ATTR, None)
        if data is None:
            return
        with self.lock:
            self.collector.add(Result.from_json(data))
            self.since.pop(report.nodeid, None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        """An xdist worker died while running ``crashitem`` (unless the watchdog killed it,
        which said why first). A worker that ends because the run is being stopped
        did not crash: the reason the run stopped speaks for its instance."""
        if self.collector.stopped is None:
            self._lose(crashitem, "error", "the worker running it crashed while it ran")

    # First: the watchdog must learn that the interrupt arrived before pytest spends
    # time formatting it.
    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        """A signal the watchdog caught has said why already; xdist stops a session
        early (``-x``) by raising a KeyboardInterrupt of its own, with the reason."""
        self.watchdog.arrived()
        drop_lineless_entries(excinfo)
        why = str(excinfo.value)
        if type(excinfo.value) is not KeyboardInterrupt and why:
            self._stop(Stop(f"the session stopped early ({why})", interrupted=False))
        self._stop(Stop("interrupted", interrupted=True))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Build the report from the collector, write it, set the exit status."""
        self.watchdog.close()
        if session.shouldstop or session.shouldfail:
            why = session.shouldstop or session.shouldfail
            self._stop(Stop(f"the session stopped early ({why})", interrupted=False))
        st = settings.of(self.config)
        if not st.out:
            return
        from conformance.errors import UsageError
        from conformance.report import write

        with self.lock:
            report = self.collector.report(st.platform, self.started)
            self.partial = self.collector.incomplete()
        if not report["results"] or exitstatus == pytest.ExitCode.USAGE_ERROR:
            # Nothing ran (a -k that matched nothing or did not parse): no report, and
            # the last one stays.
            return
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            self.partial = self.partial or "internal error"
        try:
            paths = write.write_all(report, Path(st.out), self.partial)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.written = (report, paths)
        self.config.stash[WRITTEN] = self.written
        code = exit_code(report)
        if code and session.exitstatus in (0, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = (pytest.ExitCode.INTERRUPTED if code == 130
                                  else pytest.ExitCode.TESTS_FAILED)

    def pytest_unconfigure(self) -> None:
        self.watchdog.close()
        if self.rundir is not None:
            self.rundir.remove()

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Say what is under test and which settings are in force."""
        from conformance.search import profile

        st = settings.of(config)
        caps = ", ".join(f"{k}={'yes' if v else 'no'}"
                         for k, v in st.platform.capabilities.items())
        return [
            f"socket-conformance: platform {st.platform.id} (stack {st.stack})",
            f"capabilities: {caps}",
            f"expectations: {st.family.family} ({len(st.family.entries)} case ids), "
            f"baseline posix ({len(st.baseline.entries)})",
            f"hypothesis profile: {profile().name}",
        ]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Where the report went, counts per verdict, and every failing result."""
        if self.written is None:
            return
        from conformance.report import summary

        report, paths = self.written
        for line in summary.lines(report, paths):
            terminalreporter.write_line(line)
        if self.partial:
            from conformance.report.write import partial_note

            terminalreporter.write_line(partial_note(paths, self.partial))


def drop_lineless_entries(excinfo: Any) -> None:
    """Leave out of an interrupt's traceback the entries without a line number.

    On CPython 3.11 a signal that lands on an instruction with no source
    location leaves a traceback entry whose ``tb_lineno`` is None; pytest's
    terminal reporter then fails formatting it (``None - 1``) inside its own
    interrupt handling, and the TypeError escapes pytest.main: the run died
    with a traceback and exit 1 instead of writing its report and exiting 130.
    Such an entry has no source line to show anyway.
    """
    from _pytest._code.code import Traceback

    entries = list(excinfo.traceback)
    kept = [e for e in entries if e._rawentry.tb_lineno is not None]
    if kept and len(kept) != len(entries):
        excinfo.traceback = Traceback(kept)


class ReportKeeper:
    """A pytest plugin for whoever runs pytest in this process (``socket-conformance
    run``, self-tests): keeps the report the controller built, in memory."""

    report: dict[str, Any] | None = None
    # A user's or a signal's interrupt (xdist's own -x stop is a subclass: not this).
    interrupted = False

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.interrupted = type(excinfo.value) is KeyboardInterrupt

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        written = config.stash.get(WRITTEN, None)
        if written is not None:
            self.report = written[0]
