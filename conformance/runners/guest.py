"""Inside the sandbox: run one shard of the suite with a journal the host reads.

``python -m conformance.runners.guest WORKDIR`` reads ``WORKDIR/job.json``
(written by :mod:`conformance.runners.sandbox`), runs pytest in this process
on the job's shard of the collected instances and appends every step to
``WORKDIR/journal.jsonl`` (:mod:`conformance.runners.journal`); the host
writes the report from the journals.
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

from conformance.runners.journal import JOB, JOURNAL, Journal


class EveryNth:
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
    from conformance import tempdirs

    # Inside gVisor or UML the host's locks are invisible: sweeping from here
    # would take live runs' directories for dead (tempdirs.py).
    tempdirs.sandboxed()
    os.environ.update(job["env"])
    os.chdir(job["cwd"])
    journal = Journal(workdir / JOURNAL, job["stack"])
    try:
        code = int(pytest.main(guest_pytest_argv(job["argv"]),
                               plugins=[journal, EveryNth(*job["shard"])]))
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
    from conformance.runners import umlinit

    code = 1
    try:
        umlinit.boot()
        code = run(workdir, job)
    finally:
        umlinit.power_off()
    return code


if __name__ == "__main__":
    sys.exit(main())
