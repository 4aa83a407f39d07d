"""Inside the sandbox: run a share of the suite with a journal the host reads.

``python -m conformance.runners.guest WORKDIR`` reads ``WORKDIR/job.json``
(written by :mod:`conformance.runners.sandbox`), runs pytest in this process
on the collected instances it claims (:class:`Claims`) and appends every step to
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


class Claims:
    """A pytest plugin that runs the collected instances this sandbox claims.

    Every sandbox of a run collects the same instances in the same order and
    goes through them claiming each: by making a directory named after its
    index in a directory they share, which succeeds for exactly one of them,
    on the host's file system whatever a sandbox caches. So a sandbox whose
    instances ran faster takes more of them, and the run ends when the last
    instance does, not when the unluckiest share does; a sandbox that dies
    leaves the instances it never claimed to the others.

    Instances are claimed a few at a time (a claim is a round trip to the
    host's file system), but a Hypothesis search alone: one costs as much as
    dozens of plain instances, and the searches come first (plugin/ordering.py).
    The next claim is made before the current instance runs: pytest decides
    which fixtures to tear down by the instance that comes next.
    """

    PLAIN_PER_CLAIM = 4

    def __init__(self, directory: Path):
        self.directory = directory

    def _claim(self, units: list[list[int]], start: int) -> int | None:
        for index in range(start, len(units)):
            try:
                os.mkdir(self.directory / str(index))
            except FileExistsError:
                continue
            return index
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        # pytest's own loop (_pytest.main), over the claimed instances only.
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted(f"{session.testsfailed} error(s) during collection")
        if session.config.option.collectonly:
            return True
        items = session.items
        units = _units(items, self.PLAIN_PER_CLAIM)
        claimed = self._claim(units, 0)
        while claimed is not None:
            following = self._claim(units, claimed + 1)
            mine = units[claimed]
            after = units[following][0] if following is not None else None
            for n, index in enumerate(mine):
                nextindex = mine[n + 1] if n + 1 < len(mine) else after
                nextitem = items[nextindex] if nextindex is not None else None
                items[index].config.hook.pytest_runtest_protocol(item=items[index],
                                                                 nextitem=nextitem)
                if session.shouldfail:
                    raise session.Failed(session.shouldfail)
                if session.shouldstop:
                    raise session.Interrupted(session.shouldstop)
            claimed = following
        return True


def _units(items: list[pytest.Item], plain_per_claim: int) -> list[list[int]]:
    """The indexes of ``items`` in the groups they are claimed in (see Claims)."""
    from conformance.case import SEARCH_AREAS, case_info

    units: list[list[int]] = []
    filling: list[int] | None = None  # the group plain instances are added to
    for index, item in enumerate(items):
        info = case_info(item)
        if info is not None and info.area in SEARCH_AREAS:
            units.append([index])
            filling = None
        elif filling is not None and len(filling) < plain_per_claim:
            filling.append(index)
        else:
            filling = [index]
            units.append(filling)
    return units


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
    """Run the job's pytest command line on the instances this sandbox claims; journal
    its progress and ending."""
    from conformance import tempdirs

    # Inside gVisor or UML the host's locks are invisible: sweeping from here
    # would take live runs' directories for dead (tempdirs.py).
    tempdirs.sandboxed()
    os.environ.update(job["env"])
    os.chdir(job["cwd"])
    journal = Journal(workdir / JOURNAL, job["stack"])
    try:
        code = int(pytest.main(guest_pytest_argv(job["argv"]),
                               plugins=[journal, Claims(Path(job["claims"]))]))
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
