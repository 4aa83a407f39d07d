"""Running the suite inside another socket stack: the orchestration.

Theory of operation. The host side never trusts a sandbox to finish. For
each sandbox it writes a job file into a private work directory, then starts
the sandbox (``runsc do`` or ``linux.uml``), whose only task is to run
``python -m conformance.runners.guest WORKDIR`` with this same interpreter,
so the guest sees the same virtual environment and case files.

Both tools trap every system call and page fault of the guest with ptrace
and hand it to another process; when those two processes sit on different
CPUs each hand-over is a cross-CPU wake-up, and on a virtual machine that
made a whole run about three times slower than on one CPU. So every
sandbox is pinned to one CPU and runs its cases in one process, and ``-n``
says how many sandboxes run side by side, each on its own CPU (a shard),
each claiming the next collected case instance nobody has claimed yet
(``guest.Claims``). Each is a separate instance of the same kernel or gVisor
build: the same platform, measured in parallel.

The pieces: ``supervision`` starts the sandboxes and stops them at the
deadline or on an interrupt; each guest (``guest``) writes a ``journal``;
``salvage`` turns the journals and endings into what the collector
(``conformance.collect``) needs, whatever happened; this module ties them
together and writes the one platform report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from conformance import tempdirs
from conformance.collect import Collector, exit_code
from conformance.errors import UsageError
from conformance.runners import journal, salvage
from conformance.runners.journal import JOB, JOURNAL
from conformance.runners.supervision import Ended, Launch, run_with_deadline

__all__ = ["JOB", "JOURNAL", "Runner", "Shard", "cpus_for", "finish", "guest_argv", "run"]

# pytest's exit codes that mean it could not run the session at all.
_NOT_RUN = (2, 3, 4)
_NO_TESTS = 5
# Each sandbox pays a fixed few seconds (boot, imports, collection) and about
# 120 MB; past eight, a whole suite's share per sandbox is smaller than that.
AUTO_MAX = 8


@dataclass(frozen=True)
class Runner:
    """One sandboxed platform: its tool, how to install it, how to start the guest in it."""

    stack: str
    tool: str
    what: str
    install: str
    # (tool path, guest argv, work directory) -> the host command line.
    command: Callable[[str, list[str], Path], list[str]]
    # Kernel major.minor for a report salvaged before the guest could say it.
    kernel_hint: Callable[[], str]
    # The guest is the machine's init (PID 1 of a booted kernel): it boots and powers off.
    init: bool = False

    def locate(self) -> str:
        path = shutil.which(self.tool)
        if path is None:
            raise UsageError(
                f"--platform {self.stack} needs {self.tool} ({self.what}), which is not "
                f"installed; install it with: {self.install}"
            )
        return path


def guest_argv(workdir: Path) -> list[str]:
    """The command a sandbox runs: this interpreter, so the same environment."""
    return [sys.executable, "-m", "conformance.runners.guest", str(workdir)]


def cpus_for(workers: str) -> list[int]:
    """The CPU of each sandbox for ``-n workers``: ``auto`` gives one sandbox per
    CPU this process may use (at most AUTO_MAX), N >= 1 gives N (taking those
    CPUs in turn), 0 gives one."""
    mine = sorted(os.sched_getaffinity(0))
    count = min(len(mine), AUTO_MAX) if workers == "auto" else max(1, int(workers))
    return [mine[i % len(mine)] for i in range(count)]


@dataclass
class Shard:
    """One sandbox's share of the run: its work directory, journal and ending."""

    index: int
    count: int
    workdir: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    ended: Ended | None = None

    @property
    def name(self) -> str:
        return f"{self.index + 1}/{self.count}"

    @property
    def exit(self) -> int | None:
        """pytest's exit code as the guest journaled it; None if it never got there."""
        done = next((e for e in self.entries if "exit" in e), None)
        return None if done is None else int(done["exit"])


def run(
    runner: Runner,
    pytest_argv: list[str],
    out: Path,
    deadline_s: float,
    workers: str = "0",
    echo: IO[str] | None = sys.stdout,
) -> tuple[int, dict[str, Any] | None]:
    """Run the suite under ``runner`` in one sandbox per CPU of ``cpus_for(workers)``;
    write the report into ``out``; return a pytest-style exit code and the report
    (None when no instance ran)."""
    from conformance.report.model import now

    tool = runner.locate()
    env = guest_env(runner.stack)
    # The guest's output reaches the user through a pipe; a UML console is a tty.
    env.setdefault("PY_COLORS", "0")
    cpus = cpus_for(workers)
    # A private work directory (0700), removed however this run ends, and by a
    # later run when this one is killed outright (tempdirs.py). The guest
    # removes its job file (which holds guest_env()) as soon as it has read it.
    work = tempdirs.make(f"{_ROOT_PREFIX}{runner.stack}-")
    root = Path(work.name)
    try:
        # Where the sandboxes claim instances (guest.Claims): shared by all of them.
        (root / "claims").mkdir()
        shards, launches = [], []
        for i, cpu in enumerate(cpus):
            shard = Shard(i, len(cpus), root / f"shard-{i + 1}")
            shard.workdir.mkdir()
            # The guest's temporary directories go inside the work directory: a
            # sandbox's locks are invisible to the host's sweep (tempdirs.py), so
            # they must not sit in a base the host sweeps.
            (shard.workdir / "tmp").mkdir()
            job = {"stack": runner.stack, "argv": pytest_argv, "cwd": os.getcwd(),
                   "env": dict(env, TMPDIR=str(shard.workdir / "tmp")),
                   "init": runner.init, "claims": str(root / "claims")}
            (shard.workdir / JOB).write_text(json.dumps(job), encoding="utf-8")
            # The guest starts in its work directory: `python -m` puts its start
            # directory first on sys.path, and a checkout's conformance/ there would
            # shadow the installed package. It moves to the job's directory later.
            label = f"[{runner.stack} {shard.name}] " if len(cpus) > 1 else ""
            launches.append(Launch(runner.command(tool, guest_argv(shard.workdir),
                                                  shard.workdir),
                                   cwd=shard.workdir, cpu=cpu, label=label))
            shards.append(shard)
        started = now()
        for shard, ended in zip(shards, run_with_deadline(launches, deadline_s, echo), strict=True):
            shard.ended = ended
            shard.entries = journal.read(shard.workdir / JOURNAL)
        return finish(runner, shards, out, deadline_s, started, echo)
    finally:
        work.cleanup()


# What the guest needs of the caller's environment (a booted kernel's init starts
# with none): where Python and the suite find their files and settings, the
# locale, the terminal and the temporary directory. Nothing else, no token or
# password a caller's shell holds, is written to disk for the guest.
_GUEST_ENV = re.compile(
    r"PATH|HOME|LANG|LANGUAGE|TZ|TMPDIR|TERM|COLUMNS|NO_COLOR|FORCE_COLOR|VIRTUAL_ENV"
    r"|PYTHON[A-Z0-9_]*|PY_COLORS|(LC|PYTEST|HYPOTHESIS|SOCKET_CONFORMANCE|COVERAGE)_[A-Z0-9_]*"
)
_ROOT_PREFIX = "socket-conformance-"


def guest_env(stack: str) -> dict[str, str]:
    """The environment the guest runs with, and all of it the job file holds."""
    env = {k: v for k, v in os.environ.items() if _GUEST_ENV.fullmatch(k)}
    return dict(env, SOCKET_CONFORMANCE_STACK=stack)


def finish(
    runner: Runner, shards: list[Shard], out: Path, deadline_s: float, started: str,
    echo: IO[str] | None,
) -> tuple[int, dict[str, Any] | None]:
    """Write the platform report from the shards' journals; return an exit code and it.

    When every shard's pytest ended without running a case instance (a -k
    that matched nothing, a usage error pytest has already printed), there is
    nothing to report and its exit code is returned as it is.
    """
    from conformance.report import summary, write

    codes = [s.exit for s in shards]
    collector = Collector()
    for shard in shards:
        salvage.feed(collector, shard)
    for shard in shards:
        salvage.ending(collector, runner, shard, deadline_s)
    for result in salvage.disagreements(runner, shards):
        collector.add(result)
    ended = [c for c in codes if c is not None]
    if len(ended) == len(codes) and not collector.got:
        return next((c for c in ended if c != _NO_TESTS), _NO_TESTS), None
    report = collector.report(salvage.platform_of(runner, shards), started)
    unfinished = codes.count(None)
    # A run stopped early or never started is no match for the last complete one.
    partial = collector.incomplete() or (
        f"{unfinished} of {len(shards)} sandbox(es) did not finish" if unfinished else None)
    paths = write.write_all(report, out, partial)
    if echo is not None:
        for line in summary.lines(report, paths):
            print(line, file=echo)
        if partial:
            print(write.partial_note(paths, partial), file=echo)
    refused = [c for c in codes if c in _NOT_RUN]
    if refused and not collector.interrupted:
        return refused[0], report
    return exit_code(report), report
