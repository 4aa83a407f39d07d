"""Running the suite inside another socket stack, with an outer deadline.

Theory of operation. The host side (this module) never trusts the sandbox to
finish. It writes a job file into a private work directory, then starts the
sandbox (``runsc do`` or ``linux.uml``), whose only task is to run
``python -m conformance.runners.guest WORKDIR`` with this same interpreter, so
the guest sees the same virtual environment and the same case files.

The guest runs pytest in-process with a journal plugin that appends every
phase result to ``journal.jsonl`` and syncs it, so the journal survives the
sandbox being killed. When pytest finishes, the plugin has written the
platform report into ``--out`` and the journal names it.

The host waits at most ``deadline`` seconds, then stops the sandbox's whole
process group (SIGTERM, a grace period, SIGKILL). A run whose journal names a
report is complete. Any other ending (a hang, a crash, a sandbox that never
started) is salvaged: the journal's finished instances become a report, and
one ``error`` result says what happened: on the instance that was running
when the sandbox died, or on ``harness.run`` when none was.
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
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from conformance.errors import UsageError

JOB = "job.json"
JOURNAL = "journal.jsonl"
GRACE_S = 5.0
# The id of the result that stands for the run itself when no case was running.
RUN_ID = "harness.run"


@dataclass(frozen=True)
class Ended:
    """How a sandbox process ended: its exit code (None if killed at the deadline)."""

    returncode: int | None
    timed_out: bool
    elapsed_s: float
    tail: tuple[str, ...]


def run_with_deadline(
    argv: Sequence[str], deadline_s: float, echo: IO[str] | None = None, tail: int = 60,
    cwd: Path | None = None,
) -> Ended:
    """Run ``argv`` in its own session; stop the whole group once ``deadline_s`` has passed.

    Output (stdout and stderr together) is copied line by line to ``echo``;
    the last ``tail`` lines are kept to say what happened when it goes wrong.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd,
    )
    last: deque[str] = deque(maxlen=tail)
    pump = threading.Thread(target=_pump, args=(proc.stdout, echo, last), daemon=True)
    pump.start()
    timed_out = False
    try:
        proc.wait(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop_group(proc)
    finally:
        # A sandbox helper that escaped the group may hold the pipe open: do not wait on it.
        pump.join(timeout=GRACE_S)
    return Ended(
        None if timed_out else proc.returncode, timed_out,
        round(time.monotonic() - start, 3), tuple(last),
    )


def _pump(stream: IO[bytes], echo: IO[str] | None, last: deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        last.append(line.rstrip("\n"))
        if echo is not None:
            echo.write(line)
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
    """The command the sandbox runs: this interpreter, so the same environment."""
    return [sys.executable, "-m", "conformance.runners.guest", str(workdir)]


def run(
    runner: Runner,
    pytest_argv: list[str],
    out: Path,
    deadline_s: float,
    echo: IO[str] | None = sys.stdout,
) -> int:
    """Run the suite under ``runner``; leave a report in ``out``; return a pytest exit code."""
    tool = runner.locate()
    # The whole environment: a booted kernel's init starts with almost none, and the
    # guest should see what a host run sees (PYTHONPATH, the suite's own settings).
    env = dict(os.environ, SOCKET_CONFORMANCE_STACK=runner.stack)
    # The guest's output reaches the user through a pipe; a UML console is a tty.
    env.setdefault("PY_COLORS", "0")
    # mkdtemp makes the directory private (0700): the job file holds the environment.
    workdir = Path(tempfile.mkdtemp(prefix=f"socket-conformance-{runner.stack}-"))
    try:
        job = {"stack": runner.stack, "argv": pytest_argv, "cwd": os.getcwd(), "env": env,
               "init": runner.init}
        (workdir / JOB).write_text(json.dumps(job), encoding="utf-8")
        # The guest starts in the work directory: `python -m` puts its start directory
        # first on sys.path, and a checkout's conformance/ there would shadow the
        # installed package. It moves to the job's directory once imports are done.
        ended = run_with_deadline(runner.command(tool, guest_argv(workdir), workdir),
                                  deadline_s, echo, cwd=workdir)
        return finish(runner, workdir / JOURNAL, out, ended, deadline_s, echo)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
    runner: Runner, journal: Path, out: Path, ended: Ended, deadline_s: float,
    echo: IO[str] | None,
) -> int:
    """Use the guest's report when it wrote one; otherwise salvage one from the journal.

    Returns a pytest exit code: the guest's own when pytest ended there, else 1.
    """
    from conformance.report import summary, write

    entries = read_journal(journal)
    done = next((e for e in entries if "exit" in e), None)
    if done is not None and (done["report"] is None or Path(done["report"]).is_file()):
        # With no report, pytest stopped before one could exist (a -k matching nothing).
        return int(done["exit"])
    report = salvage(runner, entries, what_happened(runner, ended, deadline_s))
    paths = write.write_all(report, out)
    if echo is not None:
        for line in summary.lines(report, paths):
            print(line, file=echo)
    return 1


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


def salvage(runner: Runner, entries: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """A report of what completed, plus one ``error`` result saying what happened."""
    from conformance import platform as plat
    from conformance import results
    from conformance.report import model

    plat_json = next((e["platform"] for e in entries if "platform" in e), None)
    platform = plat.Platform(**plat_json) if plat_json else fallback_platform(runner)
    collected: list[str] = []
    merged: dict[str, dict[str, Any]] = {}
    # Started, not finished: node id -> what the journal says about its case.
    running: dict[str, dict[str, Any]] = {}
    for e in entries:
        if "collected" in e:
            collected += [n for n in e["collected"] if n not in collected]
        elif "start" in e:
            running[e["start"]] = {}
        elif "running" in e:
            running[e["running"]] = e["case"]
        elif "phase" in e:
            phase = SimpleNamespace(nodeid=e["nodeid"], duration=e["duration"])
            merged[e["nodeid"]] = results.merge(merged.get(e["nodeid"]), e["phase"], phase)
        elif "finish" in e:
            running.pop(e["finish"], None)
    finished = [r for n, r in merged.items() if n not in running and r["verdict"] is not None]
    not_run = len([n for n in collected if n not in merged and n not in running])
    tail = f" ({len(finished)} instance(s) finished, {not_run} never started)"
    broken = [_interrupted(case, n, what + tail) for n, case in running.items()]
    if not broken:
        broken = [_run_error(runner, what + tail)]
    return model.build(platform, finished + broken, "")


def _interrupted(case: dict[str, Any], nodeid: str, message: str) -> dict[str, Any]:
    from conformance import results

    return dict(results.missing(nodeid), **case,
                message=f"interrupted while this case ran: {message}")


def _run_error(runner: Runner, message: str) -> dict[str, Any]:
    return {
        "id": RUN_ID, "params": {}, "nodeid": f"{runner.stack} run", "title":
        "the suite ran to completion inside the platform", "level": "must", "area": "harness",
        "citations": [], "phase": "none", "verdict": "error", "observation": None,
        "detail": {}, "expected": None, "portable": None, "sources": [],
        "message": message, "duration_s": 0.0,
    }


def fallback_platform(runner: Runner) -> Any:
    """The platform as far as the host can tell, when the guest never described itself."""
    import platform as _pl

    from conformance import platform as plat

    kernel = runner.kernel_hint() or "unknown"
    arch = _pl.machine().lower() or "unknown"
    py = f"{sys.implementation.name} {_pl.python_version()}"
    return plat.Platform(f"linux-{kernel}-{arch}-{runner.stack}", "linux", "unknown",
                         kernel, arch, "unknown", py, runner.stack, {})
