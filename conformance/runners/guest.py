"""Inside the sandbox: run one shard of the suite with a journal the host reads.

``python -m conformance.runners.guest WORKDIR`` reads ``WORKDIR/job.json``
(written by :mod:`conformance.runners.sandbox`), runs pytest in this process
on the job's shard of the collected instances and appends every step to
``WORKDIR/journal.jsonl``; the host writes the report from the journals.
When the job says the guest is the machine's init (User-Mode Linux boots
straight into it), it first brings the machine up and finally powers it
off, whatever happened in between.
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
    """A pytest plugin that records progress line by line for the host.

    What must survive the sandbox being killed a moment later is synced to
    disk (flushed and fsync'd) before the suite goes on: the platform, the
    instances collected, the start of each instance (with its case, since
    its phase reports come only once it has finished), and the end of each
    instance, whose sync takes its phase reports along. Syncing each phase
    report on its own cost a sandbox about a tenth of its run. A line cut in
    half by a kill is dropped by the reader.
    """

    def __init__(self, path: Path, stack: str):
        self.stack = stack
        self.file = path.open("a", encoding="utf-8")
        self.items: dict[str, pytest.Item] = {}

    def write(self, entry: dict[str, Any], sync: bool = True) -> None:
        self.file.write(json.dumps(entry) + "\n")
        if sync:
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Describe the platform first: even a report salvaged from a crash needs its id."""
        from conformance import probe

        self.write({"platform": probe.fingerprint(self.stack).to_json()})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Record the case instances this shard will run."""
        from conformance.case import case_info

        self.items = {i.nodeid: i for i in session.items if case_info(i) is not None}
        self.write({"collected": list(self.items)})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """An instance started: if the sandbox dies now, this is the one that was running."""
        self.write({"start": nodeid, "case": _describe(self.items.get(nodeid))})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """One phase's result, as the plugin attached it to the report (synced at the end)."""
        data = getattr(report, "conformance", None)
        if data is not None:
            self.write({"nodeid": report.nodeid, "duration": report.duration, "phase": data},
                       sync=False)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        """All phases of an instance were reported."""
        self.write({"finish": nodeid})


def _describe(item: pytest.Item | None) -> dict[str, Any]:
    """What a result needs to say about an instance's case, before the case has run."""
    from conformance.case import case_info

    info = case_info(item) if item is not None else None
    if info is None:
        return {}
    callspec = getattr(item, "callspec", None)
    params = {k: str(v) for k, v in callspec.params.items()} if callspec else {}
    return {"id": info.id, "params": params, "title": info.title, "level": info.level,
            "area": info.area, "citations": [c.to_json() for c in info.citations]}


class Shard:
    """A pytest plugin that keeps every ``count``-th collected instance from ``index`` on.

    Every sandbox of a run collects the same instances in the same order, so
    the shards are disjoint and together are the whole run; taking them in
    turn spreads the slow ones (each Hypothesis case's families sit side by side).
    """

    def __init__(self, index: int, count: int):
        self.index, self.count = index, count

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Not reported as deselected: the other sandboxes run them.
        items[:] = items[self.index :: self.count]


# pytest's own plugins the guest's run never uses (the debugger, unittest and
# doctest collection, JUnit XML: the CLI writes that from the report, on the
# host), and xdist (each sandbox runs its cases in this process): each costs
# an import, which in a sandbox is many times a host's.
UNUSED_PLUGINS = ("debugging", "unittest", "doctest", "junitxml", "pastebin", "xdist",
                  "xdist.looponfail")


def guest_pytest_argv(argv: list[str]) -> list[str]:
    """The job's pytest command line, with what runs differently in a sandbox."""
    # No output capturing: the cases print nothing, and capturing costs a
    # handful of dup2/seek/truncate calls per test phase, which a sandbox whose
    # system calls are slow pays a thousand times over.
    return [*argv, "--capture=no", *(a for name in UNUSED_PLUGINS for a in ("-p", f"no:{name}"))]


def run(workdir: Path, job: dict[str, Any]) -> int:
    """Run the job's pytest command line on its shard; journal its progress and ending."""
    os.environ.update(job["env"])
    os.chdir(job["cwd"])
    journal = Journal(workdir / JOURNAL, job["stack"])
    try:
        code = int(pytest.main(guest_pytest_argv(job["argv"]),
                               plugins=[journal, Shard(*job["shard"])]))
        journal.write({"exit": code})
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
    # Read once, then gone: whatever ends the run, the caller's environment does
    # not stay on disk (the UML init script holds it too).
    for name in (JOB, "init"):
        (workdir / name).unlink(missing_ok=True)
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
