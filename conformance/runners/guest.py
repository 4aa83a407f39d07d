"""Inside the sandbox: run pytest with a journal the host can salvage.

``python -m conformance.runners.guest WORKDIR`` reads ``WORKDIR/job.json``
(written by :mod:`conformance.runners.sandbox`), runs pytest in this process
and appends to ``WORKDIR/journal.jsonl``. When the job says the guest is the
machine's init (User-Mode Linux boots straight into it), it first brings the
machine up and finally powers it off, whatever happened in between.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.runners.sandbox import JOB, JOURNAL


class Journal:
    """A pytest plugin that records progress line by line, synced to disk.

    Each line must survive the sandbox being killed a moment later, so every
    write is flushed and fsync'd; a line cut in half is dropped by the reader.
    """

    def __init__(self, path: Path, stack: str):
        self.stack = stack
        self.file = path.open("a", encoding="utf-8")
        self.report: str | None = None

    def write(self, entry: dict[str, Any]) -> None:
        self.file.write(json.dumps(entry) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Describe the platform first: a salvaged report needs its id."""
        from conformance import platform

        self.write({"platform": platform.fingerprint(self.stack).to_json()})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Record the case instances collected (without xdist)."""
        from conformance.case import case_info

        self.write({"collected": [i.nodeid for i in session.items if case_info(i) is not None]})

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Record the case instances a worker collected (with xdist)."""
        self.write({"collected": ids})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """An instance started: if the sandbox dies now, this is the one that was running."""
        self.write({"start": nodeid})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Name the running case, since its phase reports arrive only once it has finished."""
        from conformance.case import case_info

        info = case_info(item)
        if info is None:
            return
        callspec = getattr(item, "callspec", None)
        params = {k: str(v) for k, v in callspec.params.items()} if callspec else {}
        self.write({"running": item.nodeid, "case": {
            "id": info.id, "params": params, "title": info.title, "level": info.level,
            "area": info.area, "citations": [c.to_json() for c in info.citations],
        }})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """One phase's result, as the plugin attached it to the report."""
        data = getattr(report, "conformance", None)
        if data is not None:
            self.write({"nodeid": report.nodeid, "duration": report.duration, "phase": data})

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        """All phases of an instance were reported."""
        self.write({"finish": nodeid})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Note which report the plugin's controller wrote, if any."""
        controller = config.pluginmanager.get_plugin("conformance-controller")
        written = getattr(controller, "written", None)
        if written is not None:
            self.report = str(written[1]["json"])


# pytest's own plugins the guest's run never uses (the debugger, unittest and
# doctest collection, JUnit XML: the CLI writes that from the report, on the
# host): each costs an import, which under UML is ten times a host's. The host
# run's command line is left as it is.
UNUSED_PLUGINS = ("debugging", "unittest", "doctest", "junitxml", "pastebin")


def guest_pytest_argv(argv: list[str]) -> list[str]:
    """The job's pytest command line, trimmed to what runs in the sandbox.

    ``-n auto`` on a machine with one CPU (User-Mode Linux has one) runs the
    cases in this process: xdist would start one worker there, the same cases
    in the same order plus a second interpreter to start, import pytest into
    and collect in, about half of the UML run's wall time. In-process, xdist
    itself is not loaded either.
    """
    i = argv.index("-n") if "-n" in argv else -1
    workers = argv[i + 1] if 0 <= i < len(argv) - 1 else None
    if workers == "auto" and len(os.sched_getaffinity(0)) < 2:
        workers = "0"
    blocked = UNUSED_PLUGINS
    if workers == "0":
        argv = [*argv[:i], *argv[i + 2 :]]
        blocked += ("xdist", "xdist.looponfail")
    # No output capturing: the cases print nothing, and capturing costs a
    # handful of dup2/seek/truncate calls per test phase, which a sandbox whose
    # system calls are slow (UML) pays a thousand times over.
    return [*argv, "--capture=no", *(a for name in blocked for a in ("-p", f"no:{name}"))]


def run(workdir: Path, job: dict[str, Any]) -> int:
    """Run the job's pytest command line; journal its progress and its ending."""
    os.environ.update(job["env"])
    os.chdir(job["cwd"])
    journal = Journal(workdir / JOURNAL, job["stack"])
    try:
        code = int(pytest.main(guest_pytest_argv(job["argv"]), plugins=[journal]))
        journal.write({"report": journal.report, "exit": code})
    finally:
        journal.close()
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m conformance.runners.guest WORKDIR", file=sys.stderr)
        return 2
    workdir = Path(args[0])
    job = json.loads((workdir / JOB).read_text(encoding="utf-8"))
    if not job["init"]:
        return run(workdir, job)
    # PID 1 of a booted kernel: returning would panic it, so always power off instead.
    from conformance.runners import uml

    code = 1
    try:
        uml.boot()
        code = run(workdir, job)
    finally:
        uml.power_off()
    return code


if __name__ == "__main__":
    sys.exit(main())
