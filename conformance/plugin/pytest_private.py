"""The pytest internals the plugin relies on, each behind one function.

tests/test_pytest_private.py fails loudly when one of them changes shape.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pytest


def run_phases(item: pytest.Item, nextitem: pytest.Item | None) -> list[pytest.TestReport]:
    """Set up, call and tear down ``item`` once, without logging its reports.

    ``_pytest.runner.runtestprotocol`` is not public API, but it is the one
    pytest-rerunfailures relies on too; ``log=False`` keeps an attempt from
    reaching the reporters, so only the last one is logged.
    """
    from _pytest.runner import runtestprotocol

    return runtestprotocol(item, log=False, nextitem=nextitem)


def case_arguments(item: pytest.Function) -> dict[str, Any]:
    """The fixture and parameter values a case function's signature asks for.

    Public API only: the function's own signature, looked up in ``funcargs``.
    """
    return {name: item.funcargs[name] for name in _parameters(item.obj)}


@functools.cache
def _parameters(fn: Any) -> tuple[str, ...]:
    # inspect.signature costs more than many a case body; a case's never changes.
    return tuple(inspect.signature(fn).parameters)


def report_without_traceback(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """The report pytest makes for ``call``'s phase as if it had not raised.

    Building a traceback's text (reading and parsing the source of every frame)
    costs milliseconds per phase, tens in a sandbox whose system calls are slow;
    the caller replaces it with a line of its own anyway. ``CallInfo``'s
    constructor is private (``_ispytest``); ``from_item_and_call`` is public.
    """
    from _pytest.runner import CallInfo

    quiet: CallInfo[None] = CallInfo(None, None, call.start, call.stop, call.duration, call.when,
                     _ispytest=True)
    return pytest.TestReport.from_item_and_call(item, quiet)


def silence_xdist_status(config: pytest.Config) -> None:
    """Keep pytest-xdist's "bringing up nodes..." / worker status lines off the terminal.

    xdist has no option for it: its ``dsession`` plugin writes them whenever it
    holds a terminal reporter (``DSession.terminal``) and its status reporter
    (``terminaldistreporter``) is registered. Called before the session starts.
    """
    dsession = config.pluginmanager.get_plugin("dsession")
    if dsession is not None and hasattr(dsession, "terminal"):
        dsession.terminal = None
    status = config.pluginmanager.get_plugin("terminaldistreporter")
    if status is not None:
        config.pluginmanager.unregister(status)
