"""Nothing hangs the controller: the run's deadline, stopped workers, interrupts.

A thread of the controller wakes every quarter second. An instance that has
been running longer than the per-instance guard (``--timeout``) plus a grace
period can only be on a worker that no longer runs at all (stopped by
SIGSTOP, frozen): the guard would have fired inside a running one. That
worker is killed; xdist replaces it and hands its other instances out
again, and the instance ends as ``timeout``. Past the run's deadline
(``--conformance-deadline``) the run is stopped as if interrupted, and what
had not finished says so.

SIGINT and SIGTERM stop the run the same way: the instances that finished
keep their results, the report is written and marked interrupted. Workers
are told with SIGINT (a terminal's Ctrl-C reaches them already), so their
fixtures and temporary directories are cleaned up. Python can swallow a
KeyboardInterrupt raised inside a weakref callback or a destructor; the
thread raises it again until the run has stopped.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import pytest

from conformance.collect import Stop

# How long past its guard an instance may go unreported before its worker is
# taken for stopped; well above a loaded machine's scheduling delays.
GRACE_S = 5.0
TICK_S = 0.25
# How long an interrupt may take to reach pytest before it counts as swallowed.
REPEAT_S = 3.0


class Watchdog:
    """The controller's watch over its run; see the module docstring."""

    def __init__(
        self,
        stop: Callable[[Stop], None],
        lose: Callable[[str, str, str], None],
        running: Callable[[], dict[str, float]],
        who_runs: Callable[[], dict[str, int]],
        guard_s: float | None,
        deadline_s: float | None,
    ):
        self._stop, self._lose = stop, lose
        self._running, self._who_runs = running, who_runs
        self.guard_s, self.deadline_s = guard_s, deadline_s
        self.start_time = time.monotonic()
        self.interrupting = False
        self.received = False
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="conformance-watchdog",
                                        daemon=True)
        self._saved: dict[int, signal.Handlers | Callable[..., object] | int | None] = {}

    def start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._on_signal)
        self._thread.start()

    def close(self) -> None:
        """Stop watching: once this returns the thread is gone, so no interrupt it
        sends can arrive after the previous signal handlers are back."""
        self.done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        why = "interrupted" if signum == signal.SIGINT else f"interrupted by {name}"
        # The first reason stands: a SIGINT the watchdog sent itself keeps its own.
        self._stop(Stop(why, interrupted=True))
        self.interrupting = True
        self._tell_workers()
        raise KeyboardInterrupt(why)

    def interrupt(self, stop: Stop) -> None:
        """Stop the run from the watchdog's thread: the controller's main thread gets a
        SIGINT (which also cuts a blocking call short), the workers too; repeated until
        the run has stopped."""
        self._stop(stop)
        self.interrupting = True
        self._tell_workers()
        self._interrupt_main()

    def _interrupt_main(self) -> None:
        if self._saved:
            os.kill(os.getpid(), signal.SIGINT)
        else:
            _thread.interrupt_main()

    def arrived(self) -> None:
        """pytest has the interrupt; raising it again would only cut its clean-up short."""
        self.received = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """The run is ending (however): an interrupt raised again now would only cut
        short the clean-up (xdist's wait for its workers) and the report."""
        self.arrived()

    def _tell_workers(self) -> None:
        for pid in set(self._who_runs().values()):
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                continue

    def _watch(self) -> None:
        repeat_at = None
        while not self.done.wait(TICK_S):
            now = time.monotonic()
            if self.interrupting:
                if self.received:
                    continue
                # A KeyboardInterrupt swallowed by a callback: raise it again.
                repeat_at = repeat_at or now + REPEAT_S
                if now >= repeat_at:
                    self._interrupt_main()
                    repeat_at = now + REPEAT_S
                continue
            if self.deadline_s is not None and now - self.start_time > self.deadline_s:
                self.interrupt(Stop(f"the run's deadline of {self.deadline_s:g} s passed",
                                    interrupted=False, running="timeout"))
                continue
            if self.guard_s is not None:
                self._kill_stopped(now)

    def _kill_stopped(self, now: float) -> None:
        assert self.guard_s is not None
        limit = self.guard_s + GRACE_S
        overdue = [n for n, since in self._running().items() if now - since > limit]
        if not overdue:
            return
        pids = self._who_runs()
        for nodeid in overdue:
            pid = pids.get(nodeid)
            if pid is None:
                continue
            self._lose(nodeid, "timeout",
                       f"its worker gave no sign of life for {limit:g} s (the guard is "
                       f"{self.guard_s:g} s) and was killed")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
