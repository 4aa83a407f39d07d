"""Whether a call raised SIGPIPE, seen without letting the signal act.

A send() on a stream whose writing side is gone fails with EPIPE and, unless
MSG_NOSIGNAL is given, raises SIGPIPE at the calling thread, whose default
action ends the process. To see whether it was raised, the caller's thread
blocks SIGPIPE around the call and asks sigpending(); a raised signal is then
taken with sigwait(), so it is never delivered. A handler is installed for
that window because some kernels (FreeBSD) discard a signal whose action is
SIG_IGN, as Python sets SIGPIPE at start-up, even while it is blocked. Both
are restored afterwards.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from conformance.errors import HarnessError, Unsupported


def sigpipe_during(call: Callable[[], Any]) -> bool:
    """Run ``call`` (its exceptions propagate) and return whether it raised SIGPIPE."""
    if not all(hasattr(signal, n) for n in ("SIGPIPE", "pthread_sigmask", "sigpending", "sigwait")):
        raise Unsupported("this platform has no SIGPIPE or no per-thread signal masks")
    if threading.current_thread() is not threading.main_thread():
        raise HarnessError("SIGPIPE can only be watched from the main thread")
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
    return raised


def _never_runs(signum: int, frame: Any) -> None:
    """Stands in for SIG_IGN while SIGPIPE is blocked; sigwait() takes the signal first."""
