"""Supervision: processes started side by side, each in its own session, never waited
on past a deadline.

Each launch runs in a new session (its own process group), so stopping it
stops everything it started: SIGTERM first, which lets runsc and UML clean up
after themselves, then SIGKILL. Output is copied line by line as it comes,
and the last lines are kept to say what happened when a launch goes wrong.
An interrupt (Ctrl-C, or SIGTERM turned into one by the CLI) stops every
launch still running and is reported in each ``Ended``, not raised.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

GRACE_S = 5.0


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
    """How a process ended: its exit code (None if stopped at the deadline or by an
    interrupt)."""

    returncode: int | None
    timed_out: bool
    elapsed_s: float
    tail: tuple[str, ...]
    interrupted: bool = False


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
    interrupted = False
    for proc, pump, last in running:
        timed_out = stopped = False
        try:
            if not interrupted:
                proc.wait(timeout=max(0.0, deadline_s - (time.monotonic() - start)))
            elif proc.poll() is None:
                raise KeyboardInterrupt
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_group(proc)
        except KeyboardInterrupt:
            interrupted = stopped = True
            _stop_group(proc)
        # A sandbox helper that escaped the group may hold the pipe open: do not wait on it.
        pump.join(timeout=GRACE_S)
        ended.append(Ended(None if timed_out or stopped else proc.returncode, timed_out,
                           round(time.monotonic() - start, 3), tuple(last), stopped))
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
