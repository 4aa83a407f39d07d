"""Running the suite inside another socket stack, with an outer deadline.

Theory of operation. The host side (this module) never trusts a sandbox to
finish. For each sandbox it writes a job file into a private work directory,
then starts the sandbox (``runsc do`` or ``linux.uml``), whose only task is to
run ``python -m conformance.runners.guest WORKDIR`` with this same
interpreter, so the guest sees the same virtual environment and case files.

Both tools trap every system call and page fault of the guest with ptrace
and hand it to another process; when those two processes sit on different
CPUs each hand-over is a cross-CPU wake-up, and on a virtual machine that
made a whole run about three times slower than on one CPU. So every
sandbox is pinned to one CPU and runs its cases in one process, and ``-n``
says how many sandboxes run side by side, each on its own CPU, each taking
every n-th collected case instance (a shard). Each is a separate instance
of the same kernel or gVisor build: the same platform, measured in parallel.

The guest runs pytest in-process with a journal plugin that appends every
phase result to ``journal.jsonl`` and syncs it, so the journal survives the
sandbox being killed. The host alone writes the platform report, from all
the shards' journals together, whether the guests finished or not; a
sandbox that saw the platform differently from the first (a capability
probed another way) is an ``error`` result, since the report names one.

The host waits at most ``deadline`` seconds, then stops each sandbox still
running, by its whole process group (SIGTERM, a grace period, SIGKILL). A
shard whose journal records pytest's exit is complete. Any other ending (a
hang, a crash, a sandbox that never started) keeps the instances the
journal shows finished, and adds one ``error`` result saying what happened:
on the instance that was running when the sandbox died, or on
``harness.run`` when none was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from conformance.errors import UsageError

JOB = "job.json"
JOURNAL = "journal.jsonl"
GRACE_S = 5.0
# The id of the result that stands for a sandbox's run itself when no case was running.
RUN_ID = "harness.run"
# pytest's exit codes that mean it could not run the session at all.
_NOT_RUN = (2, 3, 4)
_NO_TESTS = 5
# Each sandbox pays a fixed few seconds (boot, imports, collection) and about
# 120 MB; past eight, a whole suite's share per sandbox is smaller than that.
AUTO_MAX = 8


@dataclass(frozen=True)
class Launch:
    """One process to start: its command line, its directory, the CPU it is pinned to
    (inherited by everything it starts), and the label its echoed lines carry."""

    argv: list[str]
    cwd: Path | None = None
    cpu: int | None = None
    label: str = ""


@dataclass(frozen=True)
class Ended:
    """How a process ended: its exit code (None if stopped at the deadline)."""

    returncode: int | None
    timed_out: bool
    elapsed_s: float
    tail: tuple[str, ...]


def run_with_deadline(
    launches: Sequence[Launch], deadline_s: float, echo: IO[str] | None = None, tail: int = 60,
) -> list[Ended]:
    """Run every launch side by side, each in its own session; once ``deadline_s``
    has passed, stop the whole group of each one still running.

    Output (stdout and stderr together) is copied line by line to ``echo``,
    after the launch's label; the last ``tail`` lines of each are kept to
    say what happened when it goes wrong. ``elapsed_s`` is measured to the
    moment the wait for that process returned.
    """
    start = time.monotonic()
    running = [_start(launch, echo, tail) for launch in launches]
    ended = []
    for proc, pump, last in running:
        timed_out = False
        try:
            proc.wait(timeout=max(0.0, deadline_s - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_group(proc)
        # A sandbox helper that escaped the group may hold the pipe open: do not wait on it.
        pump.join(timeout=GRACE_S)
        ended.append(Ended(None if timed_out else proc.returncode, timed_out,
                           round(time.monotonic() - start, 3), tuple(last)))
    return ended


def _start(
    launch: Launch, echo: IO[str] | None, tail: int,
) -> tuple[subprocess.Popen[bytes], threading.Thread, deque[str]]:
    saved = os.sched_getaffinity(0) if launch.cpu is not None else None
    if launch.cpu is not None:
        # A child inherits the affinity of the thread that forks it: pin this
        # thread for the fork only (no preexec_fn, which is unsafe with threads).
        os.sched_setaffinity(0, {launch.cpu})
    try:
        proc = subprocess.Popen(
            launch.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, cwd=launch.cwd,
        )
    finally:
        if saved is not None:
            os.sched_setaffinity(0, saved)
    last: deque[str] = deque(maxlen=tail)
    pump = threading.Thread(target=_pump, args=(proc.stdout, echo, last, launch.label),
                            daemon=True)
    pump.start()
    return proc, pump, last


def _pump(stream: IO[bytes], echo: IO[str] | None, last: deque[str], label: str) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        last.append(line.rstrip("\n"))
        if echo is not None:
            # A line cut short by a kill still ends its own line, not the next sandbox's.
            echo.write(label + line + ("" if line.endswith("\n") else "\n"))
            echo.flush()
    stream.close()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets runsc and UML clean up after themselves; SIGKILL if they do not."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


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
) -> int:
    """Run the suite under ``runner`` in one sandbox per CPU of ``cpus_for(workers)``;
    write the report into ``out``; return a pytest exit code."""
    from conformance.report.model import now

    tool = runner.locate()
    env = guest_env(runner.stack)
    # The guest's output reaches the user through a pipe; a UML console is a tty.
    env.setdefault("PY_COLORS", "0")
    cpus = cpus_for(workers)
    sweep_work_dirs(runner.stack)
    # mkdtemp makes the directory private (0700); the guest removes its job file
    # (which holds guest_env()) as soon as it has read it.
    root = Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{runner.stack}-{os.getpid()}-"))
    try:
        shards, launches = [], []
        for i, cpu in enumerate(cpus):
            shard = Shard(i, len(cpus), root / f"shard-{i + 1}")
            shard.workdir.mkdir()
            job = {"stack": runner.stack, "argv": pytest_argv, "cwd": os.getcwd(), "env": env,
                   "init": runner.init, "shard": [i, len(cpus)]}
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
            shard.entries = read_journal(shard.workdir / JOURNAL)
        return finish(runner, shards, out, deadline_s, started, echo)
    finally:
        shutil.rmtree(root, ignore_errors=True)


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


def sweep_work_dirs(stack: str) -> None:
    """Remove the work directories of earlier runs on ``stack`` that were killed
    before they could (their process is gone); a running one's is left alone."""
    prefix = f"{_ROOT_PREFIX}{stack}-"
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return
    for e in entries:
        pid = e.name[len(prefix):].partition("-")[0]
        if not (e.name.startswith(prefix) and pid.isdigit()):
            continue
        try:
            if not e.is_dir(follow_symlinks=False) or e.stat().st_uid != os.geteuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(e.path, ignore_errors=True)
        except OSError:
            continue


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's entries; a line cut short by a kill is dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def finish(
    runner: Runner, shards: list[Shard], out: Path, deadline_s: float, started: str,
    echo: IO[str] | None,
) -> int:
    """Write the platform report from the shards' journals; return a pytest exit code.

    When every shard's pytest ended without running a case instance (a -k
    that matched nothing, a usage error pytest has already printed), there is
    nothing to report and its exit code is returned as it is.
    """
    from conformance.report import model, summary, write
    from conformance.verdict import FAILING

    codes = [s.exit for s in shards]
    results = [r for s in shards for r in shard_results(runner, s, deadline_s)]
    if None not in codes and not results:
        return next((c for c in codes if c != _NO_TESTS), _NO_TESTS)
    results += disagreements(runner, shards)
    report = model.build(platform_of(runner, shards), results, started)
    unfinished = codes.count(None)
    # A run stopped early or never started is no match for the last complete one.
    partial = f"{unfinished} of {len(shards)} sandbox(es) did not finish" if unfinished else None
    paths = write.write_all(report, out, partial)
    if echo is not None:
        for line in summary.lines(report, paths):
            print(line, file=echo)
        if partial:
            print(write.partial_note(paths, partial), file=echo)
    refused = [c for c in codes if c in _NOT_RUN]
    if refused:
        return refused[0]
    return int(None in codes or any(r["verdict"] in FAILING for r in report["results"]))


def platform_of(runner: Runner, shards: list[Shard]) -> Any:
    """The platform as the first guest to describe itself saw it (all run one build)."""
    from conformance import probe as plat

    found = next((e["platform"] for s in shards for e in s.entries if "platform" in e), None)
    return plat.Platform(**found) if found else fallback_platform(runner)


def disagreements(runner: Runner, shards: list[Shard]) -> list[dict[str, Any]]:
    """An ``error`` for each sandbox that saw the platform differently from the first
    (a capability probed one way in one and another way in the next): the report
    can name only one platform, so the results judged under the other are suspect."""
    described = [(s, e["platform"]) for s in shards for e in s.entries if "platform" in e]
    if not described:
        return []
    first, seen = described[0]
    return [
        _run_error(runner, shard, f"sandbox {shard.name} saw the platform differently from "
                   f"sandbox {first.name}: " + ", ".join(
                       f"{k} {plat.get(k)!r} against {seen.get(k)!r}"
                       for k in sorted(set(plat) | set(seen)) if plat.get(k) != seen.get(k)))
        for shard, plat in described[1:] if plat != seen
    ]


def shard_results(runner: Runner, shard: Shard, deadline_s: float) -> list[dict[str, Any]]:
    """The results a shard's journal holds: one per instance it finished; an
    ``error`` for each instance collected but never reported when pytest ended
    normally; else one ``error`` saying how the sandbox ended, on the instance
    that was running or on the run itself."""
    from conformance import results

    collected: list[str] = []
    merged: dict[str, dict[str, Any]] = {}
    # Started, not finished: node id -> what the journal says about its case.
    running: dict[str, dict[str, Any]] = {}
    for e in shard.entries:
        if "collected" in e:
            collected += [n for n in e["collected"] if n not in collected]
        elif "start" in e:
            running[e["start"]] = e["case"]
        elif "phase" in e:
            phase = SimpleNamespace(nodeid=e["nodeid"], duration=e["duration"])
            merged[e["nodeid"]] = results.merge(merged.get(e["nodeid"]), e["phase"], phase)
        elif "finish" in e:
            running.pop(e["finish"], None)
    finished = [r for n, r in merged.items() if n not in running and r["verdict"] is not None]
    unreported = [n for n in collected if n not in merged and n not in running]
    if shard.exit is not None:
        return finished + [results.missing(n) for n in unreported]
    assert shard.ended is not None
    what = (f"{what_happened(runner, shard.ended, deadline_s)} ({len(finished)} instance(s) "
            f"finished, {len(unreported)} never started)")
    broken = [_interrupted(case, n, what) for n, case in running.items()]
    return finished + (broken or [_run_error(runner, shard, what)])


def what_happened(runner: Runner, ended: Ended, deadline_s: float) -> str:
    if ended.timed_out:
        head = f"the {runner.stack} run did not finish within its {deadline_s:g} s deadline " \
               "and was stopped"
    elif ended.returncode is not None and ended.returncode < 0:
        head = f"{runner.tool} was killed by signal {-ended.returncode}"
    else:
        head = f"{runner.tool} exited with code {ended.returncode} before the suite finished"
    clue = _clue(ended.tail)
    return f"{head}; last output: {clue!r}" if clue else head


# A kernel's stack dump (UML prints one when it panics) says nothing to a reader.
_DUMP = re.compile(r"\s*(\[<[0-9a-f]+>\]|([0-9a-f]{8,16}\s*)+$|Stack:|Call Trace:|CPU: \d)")


def _clue(tail: Sequence[str]) -> str:
    """The most telling line of the sandbox's last output: a panic, else the last line."""
    lines = [ln.strip() for ln in tail if ln.strip() and not _DUMP.match(ln)]
    return next((ln for ln in reversed(lines) if "panic" in ln.lower()),
                lines[-1] if lines else "")


def _interrupted(case: dict[str, Any], nodeid: str, message: str) -> dict[str, Any]:
    from conformance import results

    return dict(results.missing(nodeid), **case,
                message=f"interrupted while this case ran: {message}")


def _run_error(runner: Runner, shard: Shard, message: str) -> dict[str, Any]:
    # With several sandboxes, each can fail on its own: the shard tells them apart.
    params = {"shard": shard.name} if shard.count > 1 else {}
    nodeid = f"{runner.stack} run" + (f" {shard.name}" if params else "")
    return {
        "id": RUN_ID, "params": params, "nodeid": nodeid, "title":
        "the suite ran to completion inside the platform", "level": "must", "area": "harness",
        "citations": [], "phase": "none", "verdict": "error", "observation": None,
        "detail": {}, "expected": None, "portable": None, "sources": [],
        "message": message, "duration_s": 0.0,
    }


def fallback_platform(runner: Runner) -> Any:
    """The platform as far as the host can tell, when the guest never described itself."""
    import platform as _pl

    from conformance import probe as plat

    kernel = runner.kernel_hint() or "unknown"
    arch = _pl.machine().lower() or "unknown"
    py = f"{sys.implementation.name} {_pl.python_version()}"
    return plat.Platform(f"linux-{kernel}-{arch}-{runner.stack}", "linux", "unknown",
                         kernel, arch, "unknown", py, runner.stack, {})
