"""Signals around socket calls: whether a call raised SIGPIPE, and EINTR on demand.

A send() on a stream whose writing side is gone fails with EPIPE and, unless
MSG_NOSIGNAL is given, raises SIGPIPE at the calling thread, whose default
action ends the process. To see whether it was raised, the caller's thread
blocks SIGPIPE around the call and asks sigpending(); a raised signal is then
taken with sigwait(), so it is never delivered. A handler is installed for
that window because some kernels (FreeBSD) discard a signal whose action is
SIG_IGN, as Python sets SIGPIPE at start-up, even while it is blocked. Both
are restored afterwards.

:func:`interrupt` parks a blocking call on its own thread and signals that
thread through a handler installed without SA_RESTART (as Python installs
them), so a stack that honours POSIX fails the call with EINTR.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from conformance.blocking import BlockedCall, prove_blocked
from conformance.errors import HarnessError, Unsupported
from conformance.kit import DEADLINE_S, Kit, errno_name


def sigpipe_during(call: Callable[[], Any]) -> bool:
    """Run ``call`` (its exceptions propagate) and return whether it raised SIGPIPE."""
    if not all(hasattr(signal, n) for n in ("SIGPIPE", "pthread_sigmask", "sigpending", "sigwait")):
        raise Unsupported("this platform has no SIGPIPE or no per-thread signal masks")
    if threading.current_thread() is not threading.main_thread():
        raise HarnessError("SIGPIPE can only be watched from the main thread")
    from conformance.backends import agent

    # A stack agent raises the signal in its own process and says so in its reply.
    in_agent = agent.sigpipes()
    previous = signal.signal(signal.SIGPIPE, _never_runs)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    try:
        try:
            call()
        finally:
            raised = signal.SIGPIPE in signal.sigpending()
            if raised:
                signal.sigwait({signal.SIGPIPE})
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(signal.SIGPIPE, previous)
    return raised or agent.sigpipes() > in_agent


def _never_runs(signum: int, frame: Any) -> None:
    """Stands in for SIG_IGN while SIGPIPE is blocked; sigwait() takes the signal first."""


def interrupt(
    kit: Kit, sock: Any, call: Callable[[], Any], syscall: str, full: int | None = None
) -> dict[str, Any]:
    """Park ``call`` (a blocking call on ``sock``), signal its thread; its outcome.

    Returns ``{"errno": ..., "blocked_first": ...}``. A send of ``full`` bytes
    that returns fewer was interrupted after it had transmitted some, which
    POSIX answers with the count instead of EINTR: "short count". The deadline
    comes from outside: shutdown() wakes a call that a restarting stack keeps
    blocked through every signal ("not interrupted").
    """
    if threading.current_thread() is not threading.main_thread():
        raise HarnessError("signal handlers can only be installed from the main thread")
    ident: list[int] = []

    def run() -> Any:
        ident.append(threading.get_ident())
        return call()

    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        blocked = BlockedCall(run).start()
        proof = prove_blocked(blocked, syscall, DEADLINE_S)
        if not proof["blocked"]:
            return {"errno": _outcome(blocked), "blocked_first": False}
        # A few signals, in case the first lands before the call parks (a
        # timed-window proof cannot rule that out); then the deadline, so a
        # loaded machine's late wake-up is not taken for a restarted call.
        for _ in range(10):
            signal.pthread_kill(ident[0], signal.SIGUSR1)
            if blocked.wait(0.01):
                break
        if not blocked.wait(DEADLINE_S):
            kit.outcome(sock.shutdown, "rdwr")
            blocked.wait(DEADLINE_S)
            return {"errno": "not interrupted", "blocked_first": True}
    finally:
        signal.signal(signal.SIGUSR1, previous)
    kit.note(proof=proof["method"])
    if full is not None and isinstance(blocked.result, int) and blocked.result < full:
        kit.note(returned=blocked.result)
        return {"errno": "short count", "blocked_first": True}
    return {"errno": _outcome(blocked), "blocked_first": True}


def _outcome(call: BlockedCall) -> str:
    if call.error is None:
        return "ok"
    if isinstance(call.error, OSError):
        return errno_name(call.error)
    raise call.error
