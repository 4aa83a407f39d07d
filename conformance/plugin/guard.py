"""The per-instance guard: pytest-timeout's timer, ending in an exception of our own.

pytest-timeout (``--timeout``) arms one timer around an instance's whole
protocol, every attempt included. Its own handler fails the test with a
message; this plugin arms the same timer (pytest-timeout's
``pytest_timeout_set_timer`` hook) with a handler that raises
:class:`GuardTimeout`, so the judging tells a guard timeout apart by its
type, and the reruns know no time is left for another attempt. Where
signals cannot be used (a thread other than the main one, Windows),
pytest-timeout's own timer stays in charge.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest


class GuardTimeout(BaseException):
    """The instance's whole time budget is spent (a BaseException, like pytest's own
    outcomes, so a case's ``except Exception`` cannot swallow it)."""


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if (settings.method != "signal" or not hasattr(signal, "SIGALRM")
            or threading.current_thread() is not threading.main_thread()):
        return None
    limit = settings.timeout

    def fire(signum: int, frame: Any) -> None:
        raise GuardTimeout(f"pytest-timeout: no end within {limit:g} s (--timeout)")

    signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    item.stash[_ARMED] = True
    return True


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool | None:
    if not item.stash.get(_ARMED, False):
        return None
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    del item.stash[_ARMED]
    return True


_ARMED = pytest.StashKey[bool]()
