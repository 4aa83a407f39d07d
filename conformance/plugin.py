"""pytest hooks: options, markers, observation capture, verdicts, report writing.

Workers (or the single process with -n 0) run each case, judge its
observation and attach the result to the pytest report object
(``report.conformance``), so it survives xdist's serialization. Only the
controller gathers those results and writes the one platform report.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance import options

_STATE = pytest.StashKey["_State"]()
_FDS = pytest.StashKey[set[int]]()
_JUDGEMENT = pytest.StashKey[Any]()
_KIT = pytest.StashKey[Any]()


class Deviation(AssertionError):
    """Raised by the plugin (never by a case) when an observation deviates."""


class _State:
    """Session-wide data: the platform and its expectations, loaded once per process."""

    def __init__(self, config: pytest.Config):
        from conformance import expectations, probe
        from conformance.checks import stack_name

        try:
            self.stack = stack_name(_option(config, options.STACK) or "host")
        except ValueError as exc:
            raise pytest.UsageError(f"{options.STACK[0]}: {exc}") from None
        exp_dir = _option(config, options.EXPECTATIONS)
        self.platform = probe.fingerprint(self.stack)
        # What expectations are matched against, built once rather than per instance.
        self.platform_json = self.platform.to_json()
        try:
            sets = expectations.load_all(Path(exp_dir) if exp_dir else None)
        except expectations.ExpectationError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.family = sets.get(self.platform.os) or expectations.ExpectationSet(
            self.platform.os, {}
        )
        self.baseline = sets[expectations.BASELINE]
        self.out = _option(config, options.OUT)
        self.reruns = _reruns(config)
        if self.out and not hasattr(config, "workerinput"):
            from conformance.errors import OutputError
            from conformance.report.write import check_directory

            try:
                check_directory(Path(self.out), "--conformance-out")
            except OutputError as exc:
                raise pytest.UsageError(str(exc)) from None


def _option(config: pytest.Config, opt: tuple[str, str, str, str]) -> str | None:
    _flag, ini, env, _ = opt
    value = config.getoption(ini)
    if value is None:
        value = os.environ.get(env) or config.getini(ini) or None
    return value


def _reruns(config: pytest.Config) -> int:
    flag, ini, env, _ = options.RERUNS
    value = _option(config, options.RERUNS)
    if value is None:
        return 2
    if not value.strip().isdigit():
        where = (flag if config.getoption(ini) is not None
                 else env if os.environ.get(env) else f"ini {ini}")
        raise pytest.UsageError(f"{where}: expected a whole number >= 0, got {value!r}")
    return int(value)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the suite's options, each also settable by ini and environment."""
    group = parser.getgroup("conformance", "socket conformance")
    for flag, ini, env, help_text in options.ALL:
        group.addoption(flag, dest=ini, default=None, help=f"{help_text} [env {env}]")
        parser.addini(ini, help_text, default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and load the platform and its expectations."""
    config.addinivalue_line(
        "markers", "conformance_case(info): a socket-conformance case (set by @case)"
    )
    config.addinivalue_line(
        "markers", "requires(capability): instance needs a platform capability (ipv6, ...)"
    )
    config.stash[_STATE] = _State(config)
    config.pluginmanager.register(_Controller(config), "conformance-controller")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Hypothesis searches first, everything else in its order.

    A search costs tens of milliseconds where a plain case costs one or two;
    handed out last, one would keep a worker busy while the others idle. The
    sort is stable and the same in every worker, as xdist requires.
    """
    from conformance.case import SEARCH_AREAS, case_info

    def plain(item: pytest.Item) -> bool:
        info = case_info(item)
        return info is None or info.area not in SEARCH_AREAS

    items.sort(key=plain)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say what is under test and which settings are in force."""
    from conformance.search import profile

    st = config.stash[_STATE]
    caps = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in st.platform.capabilities.items())
    return [
        f"socket-conformance: platform {st.platform.id} (stack {st.stack})",
        f"capabilities: {caps}",
        f"expectations: {st.family.family} ({len(st.family.entries)} case ids), "
        f"baseline posix ({len(st.baseline.entries)})",
        f"hypothesis profile: {profile().name}",
    ]


@pytest.fixture
def kit(request: pytest.FixtureRequest):
    """Sockets for one case instance, with the instance's backend; closed at teardown."""
    from conformance.backends import Tracker
    from conformance.kit import Kit

    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("backend", "python") if callspec else "python"
    k = Kit(backend, Tracker())
    request.node.stash[_KIT] = k
    yield k
    k.close()


@pytest.fixture
def expectations(request: pytest.FixtureRequest):
    """(family expectation set, platform dict) in force, for cases that consult them."""
    st = request.config.stash[_STATE]
    return st.family, st.platform_json


def _socket_fds() -> set[int]:
    fds: set[int] = set()
    fd_dir = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    for name in os.listdir(fd_dir):
        try:
            if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                fds.add(int(name))
        except OSError:
            continue
    return fds


def _case_item(item: pytest.Item) -> bool:
    from conformance.case import case_info

    return case_info(item) is not None


# Not a wrapper: a wrapper that raises before its yield keeps every inner
# wrapper (pytest's logging plugin, for one) from setting up, and their
# teardown then fails with KeyError. As the first plain implementation it
# still runs before pytest's own, which sets up the fixtures.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Snapshot open sockets, then refuse instances whose capability is missing."""
    if not _case_item(item) or sys.platform == "win32":
        return
    item.stash[_FDS] = _socket_fds()
    caps = item.config.stash[_STATE].platform.capabilities
    for mark in item.iter_markers("requires"):
        cap = mark.args[0]
        if not caps.get(cap, False):
            from conformance.errors import Unsupported

            raise Unsupported(f"capability {cap!r} is not available on this platform")


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After fixtures are torn down, any socket the case opened and kept is a leak."""
    result = yield
    before = item.stash.get(_FDS, None)
    if before is not None:
        leaked = sorted(_socket_fds() - before)
        if leaked:
            from conformance.errors import HarnessError

            raise HarnessError(f"case left {len(leaked)} socket descriptor(s) open: {leaked}")
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Run a case instance; while its result fails, run it again (up to the reruns limit).

    Each attempt is a whole setup/call/teardown, so the kit and every socket
    it made are closed and built afresh, the leak check runs per attempt, and
    a failed setup is retried like a failed call. This is what
    pytest-rerunfailures does; re-calling only the case body would reuse a
    kit whose sockets the failed attempt left in an unknown state. Only the
    last attempt's phase reports are logged, so the terminal and the xdist
    controller see one instance as usual; the list of attempts rides along
    in the teardown report's data and ``results.settle`` marks flakes.
    """
    if not _case_item(item):
        return None
    # runtestprotocol is not public API, but it is the one pytest-rerunfailures
    # relies on too; log=False keeps the attempts from reaching the reporters.
    from _pytest.runner import runtestprotocol

    from conformance import results

    reruns = item.config.stash[_STATE].reruns
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    attempts = []
    for _ in range(reruns + 1):
        # The previous attempt's judgement and kit must not leak into this one
        # (a setup that fails before the kit exists would report stale data).
        for key in (_JUDGEMENT, _KIT):
            if key in item.stash:
                del item.stash[key]
        reports = runtestprotocol(item, log=False, nextitem=nextitem)
        result = None
        for rep in reports:
            data = getattr(rep, "conformance", None)
            if data is not None:
                result = results.merge(result, data, rep)
        if result is not None:
            attempts.append(results.attempt(result))
        if (not results.should_rerun(result)
                or item.session.shouldstop or item.session.shouldfail):
            break
    if len(attempts) > 1:
        last = reports[-1]
        last.conformance = dict(last.conformance, attempts=attempts)
    for rep in reports:
        item.ihook.pytest_runtest_logreport(report=rep)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a case body, keep its observation, and judge it against the expectation."""
    from conformance.case import case_info
    from conformance.errors import HarnessError
    from conformance.verdict import judge

    info = case_info(pyfuncitem)
    if info is None:
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    observation = pyfuncitem.obj(**args)
    _check_observation(info.id, observation)
    st = pyfuncitem.config.stash[_STATE]
    params = _params(pyfuncitem)
    j = judge(info.id, observation, st.platform_json, params, st.family, st.baseline)
    pyfuncitem.stash[_JUDGEMENT] = (observation, j)
    if j.verdict == "deviates":
        raise Deviation(j.message)
    if j.verdict not in ("conforms", "undocumented"):
        raise HarnessError(f"judge returned {j.verdict!r} for an observation")
    return True


def _check_observation(case_id: str, observation: Any) -> None:
    import json

    from conformance.errors import HarnessError

    if not isinstance(observation, dict) or not observation:
        raise HarnessError(f"{case_id} returned {observation!r}; a case returns a non-empty dict")
    try:
        if json.loads(json.dumps(observation)) != observation:
            raise ValueError("does not round-trip")
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"{case_id} returned a non-JSON-safe observation: {exc}") from None


def _params(item: pytest.Item) -> dict[str, str]:
    callspec = getattr(item, "callspec", None)
    return {k: str(v) for k, v in callspec.params.items()} if callspec else {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attach the case result to the report and map it onto pytest's outcome."""
    report: pytest.TestReport = yield
    from conformance.case import case_info

    info = case_info(item)
    if info is None:
        return report
    from conformance import results

    kit = item.stash.get(_KIT, None)
    judged = item.stash.get(_JUDGEMENT, None) if call.when == "call" else None
    data = results.from_phase(info, _params(item), call, judged, kit.detail if kit else {})
    report.conformance = data
    if data["verdict"] in ("unsupported", "skipped") and report.outcome != "skipped":
        report.outcome = "skipped"
        lineno = (item.location[1] or 0) + 1
        report.longrepr = (str(item.path), lineno, f"{data['verdict']}: {data['message']}")
    elif data["verdict"] == "deviates":
        # The stack, not the code, deviated: the plugin's own frames would only
        # bury the got/expected line a reader needs.
        report.longrepr = f"deviates: {data['message']}"
    return report


class _Controller:
    """Gathers results from every phase report and writes the platform report.

    Registered per session so its state lives with the config; under xdist
    the workers send their reports here, so only this object writes files.
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self.table: dict[str, dict[str, Any]] = {}
        self.collected: set[str] = set()
        self.started = ""
        self.written: tuple[dict[str, Any], dict[str, Path]] | None = None
        self.partial: str | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        """Stamp the start time."""
        from conformance.report.model import now

        self.started = now()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Remember which case instances were collected, for the count check."""
        self.collected.update(i.nodeid for i in session.items if _case_item(i))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist the controller learns the collected ids from each worker."""
        self.collected.update(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Merge each phase's result into the table."""
        data = getattr(report, "conformance", None)
        if data is None:
            return
        from conformance import results

        self.table[report.nodeid] = results.merge(self.table.get(report.nodeid), data, report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Check every collected instance has a result, then write the report."""
        st = self.config.stash[_STATE]
        if not st.out or hasattr(self.config, "workerinput"):
            return
        from conformance import results
        from conformance.errors import UsageError
        from conformance.report import model, write

        if not self.collected and not self.table:
            # Nothing ran (a -k that matched nothing): no report, and the last one stays.
            return
        missing = sorted(self.collected - set(self.table))
        for nodeid in missing:
            self.table[nodeid] = results.missing(nodeid)
        # Set up but never called (an interrupt between phases): no verdict yet.
        unfinished = [n for n, r in self.table.items() if r["verdict"] is None]
        for nodeid in unfinished:
            self.table[nodeid] = dict(self.table[nodeid], verdict="error",
                                      message="the run ended before this instance finished")
            missing.append(nodeid)
        report = model.build(st.platform, list(self.table.values()), self.started)
        self.partial = _incomplete(session, exitstatus, len(missing))
        try:
            paths = write.write_all(report, Path(st.out), self.partial)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.written = (report, paths)
        failing = any(r["verdict"] in results.FAILING for r in report["results"])
        if failing and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

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


def _incomplete(session: pytest.Session, exitstatus: int, missing: int) -> str | None:
    """Why this run's report is not a complete one (None when it is): such a report
    goes beside the last complete one, never over it."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return "internal error"
    if session.shouldstop or session.shouldfail:
        return f"stopped early: {session.shouldstop or session.shouldfail}"
    if missing:
        return f"{missing} instance(s) never reported a result"
    return None
