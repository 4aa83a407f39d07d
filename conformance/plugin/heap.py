"""The collected session is set aside from the garbage collector.

When the cases start (after collection; in an xdist controller, once the
workers are up) a process holds 80,000 to 90,000 objects that live until it
ends (modules, case functions, items, fixture definitions). CPython's cycle
collector walks all of them in every full collection while the cases run,
and twice more as pytest ends; ``gc.freeze()`` moves them to a generation it
never walks. Objects made later, every case's included, are collected as
before. Measured in an xdist worker of a whole host run: 0.15 s in the
collector, 0.06 s with the freeze.

An xdist worker's process ends with its session, and the controller waits
for it to exit: what the session made is frozen too, so the interpreter's
collections while it tears down walk nothing (0.15 to 0.3 s here).
"""

from __future__ import annotations

import gc

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        gc.freeze()
