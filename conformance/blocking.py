"""Proving that a call is blocked, rather than assuming it.

On Linux a thread parked in a system call shows it in
``/proc/self/task/<tid>/syscall`` (first field: the syscall number) and its
state in ``/proc/self/task/<tid>/stat`` is ``S`` (interruptible sleep). Seeing
both for the expected call is proof. Where only the state can be read (gVisor
and User-Mode Linux have no ``syscall`` file), the evidence is that the call
has not returned a settling time after it started and the thread sleeps: a
thread that has not reached the call yet is runnable, not asleep, so a loaded
machine delays this proof rather than faking it. Elsewhere the only evidence
is a bounded window in which the call did not return. The result records
which method was used, so a reader can weigh it.

A call made by a stack agent (backends/agent.py) runs in the agent's
process: the thread here only waits on a pipe, so its system call proves
nothing and the window is the evidence (the agent backend marks such
threads with :func:`elsewhere`).
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance import limits
from conformance.deadlines import _elsewhere
from conformance.errors import DeadlineExceeded
from conformance.kit import DEADLINE_S

# Syscall numbers per machine, from the kernel's syscall tables.
SYSCALLS: dict[str, dict[str, tuple[int, ...]]] = {
    "x86_64": {"accept": (43, 288), "recv": (45, 47), "connect": (42,), "send": (44, 46)},
    "aarch64": {"accept": (202, 242), "recv": (207, 212), "connect": (203,), "send": (206, 211)},
}

WINDOW_S = 0.05
# Long enough for the calling thread to take the interpreter lock the waiting
# one gives up and make its call; a call that does not block returns in well
# under a millisecond, in a sandbox too.
SETTLE_S = 0.01



@dataclass
class BlockedCall:
    """A call running on a thread of its own (a _Caller), so the caller can watch it block."""

    fn: Callable[[], Any]
    result: Any = None
    error: BaseException | None = None
    tid: int = 0
    ident: int = 0  # threading ident, for signal.pthread_kill
    done: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)

    def start(self) -> BlockedCall:
        from conformance.child import changed_here

        if changed_here() is not None:
            # This thread runs as another user (child.as_user): a thread it starts
            # shares its credentials, an idle caller started earlier does not.
            threading.Thread(target=self._run, args=(lambda: None,), daemon=True).start()
        else:
            with _IDLE_LOCK:
                caller = _IDLE.pop() if _IDLE else None
            (caller or _Caller()).take(self)
        if not self.started.wait(DEADLINE_S):
            raise DeadlineExceeded(f"the calling thread did not start within {DEADLINE_S}s")
        return self

    def _run(self, returned: Callable[[], None]) -> None:
        self.tid = threading.get_native_id()
        self.ident = threading.get_ident()
        self.started.set()
        try:
            self.result = self.fn()
        except BaseException as exc:
            self.error = exc
        finally:
            # Before done: whoever waits for this call may start the next one at once.
            returned()
            self.done.set()

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)


class _Caller:
    """A thread that makes the calls handed to it, one at a time.

    Starting a thread is a dozen system calls and a trip through the
    scheduler: about a millisecond in a sandbox that traps each system call,
    paid by every blocking connect() of the suite. Handing a call to a thread
    that waits for one costs a single wake-up. A caller goes back to the idle
    list only when its call has returned; one whose call never returns stays
    with it, and the next call gets a new thread.
    """

    def __init__(self) -> None:
        self._call: BlockedCall | None = None
        self._given = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def take(self, call: BlockedCall) -> None:
        self._call = call
        self._given.set()

    def _loop(self) -> None:
        while True:
            self._given.wait()
            self._given.clear()
            call, self._call = self._call, None
            if call is not None:
                call._run(returned=self._idle)

    def _idle(self) -> None:
        with _IDLE_LOCK:
            _IDLE.append(self)


_IDLE: list[_Caller] = []
_IDLE_LOCK = threading.Lock()


def _forget_callers() -> None:
    # A forked child has only the thread that forked: the others' idle entries
    # would take calls nobody makes.
    global _IDLE_LOCK
    _IDLE_LOCK = threading.Lock()
    _IDLE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_callers)


def _proc_state(tid: int) -> tuple[int | None, str]:
    with open(f"/proc/self/task/{tid}/syscall") as f:
        first = f.read().split()[0]
    return (int(first) if first.lstrip("-").isdigit() else None), _task_state(tid)


def _task_state(tid: int) -> str:
    with open(f"/proc/self/task/{tid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def prove_blocked(call: BlockedCall, syscall: str, deadline: float = DEADLINE_S) -> dict[str, Any]:
    """Wait until ``call`` is provably parked in ``syscall``; return how it was shown.

    The returned dict goes into the case's observation: ``{"blocked": True,
    "method": "proc-syscall"}``, or ``{"blocked": False, ...}`` when the call
    returned instead of blocking.
    """
    numbers = SYSCALLS.get(platform.machine().lower(), {}).get(syscall)
    end = time.monotonic() + deadline
    if numbers:
        remote = False
        try:
            while time.monotonic() < end:
                if call.done.is_set():
                    return {"blocked": False, "method": "proc-syscall"}
                if call.tid in _elsewhere:
                    remote = True
                    break
                nr, state = _proc_state(call.tid)
                if nr in numbers and state == "S":
                    return {"blocked": True, "method": "proc-syscall"}
                # Yield the GIL so the thread can reach the call; this is a
                # poll on a deadline, not a wait for an event of known length.
                call.done.wait(0.0005)
        except OSError as exc:
            limits.check_errno(exc)  # out of descriptors is not "no /proc"
            # no syscall file for this task: its state, or the window below
            proof = _asleep_after_settling(call, syscall, end)
            if proof is not None:
                return proof
        else:
            if not remote:
                raise DeadlineExceeded(
                    f"{syscall}: thread never parked in the call within {deadline}s"
                )
    returned = call.wait(WINDOW_S)
    return {"blocked": not returned, "method": f"timed-window-{int(WINDOW_S * 1000)}ms"}


def _asleep_after_settling(call: BlockedCall, syscall: str, end: float) -> dict[str, Any] | None:
    """The proof from the thread's state alone (see the module docstring); None where
    that state cannot be read or the call is made in another process."""
    method = f"asleep-after-{int(SETTLE_S * 1000)}ms"
    if call.wait(SETTLE_S):
        return {"blocked": False, "method": method}
    # Asleep twice in a row, with the interpreter lock free in between: a thread
    # caught waiting for that lock on its way to the call is not asleep the second time.
    asleep = 0
    while time.monotonic() < end:
        if call.tid in _elsewhere:
            return None
        try:
            state = _task_state(call.tid)
        except OSError as exc:
            limits.check_errno(exc)
            return None
        # Read after the state: a call that returned sets done before its thread
        # goes back to sleep waiting for the next one.
        if call.done.is_set():
            return {"blocked": False, "method": method}
        asleep = asleep + 1 if state == "S" else 0
        if asleep == 2:
            return {"blocked": True, "method": method}
        call.done.wait(0.0005)  # runnable, or asleep once: wait, and read again
    raise DeadlineExceeded(f"{syscall}: thread never went to sleep in the call")
