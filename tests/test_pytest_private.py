"""The pytest internals the plugin uses (conformance/plugin/pytest_private.py) still exist
with the shape it relies on; when one changes, these fail before the suite misbehaves."""

from __future__ import annotations

import inspect

from conformance.plugin import pytest_private


def test_runtestprotocol_still_takes_item_log_and_nextitem():
    from _pytest.runner import runtestprotocol

    params = list(inspect.signature(runtestprotocol).parameters)
    assert params[:3] == ["item", "log", "nextitem"], params


def test_run_phases_logs_nothing_and_returns_one_report_per_phase(pytester):
    item = pytester.getitem("def test_func():\n    pass\n")
    seen = []
    item.config.pluginmanager.register(
        type("Spy", (), {"pytest_runtest_logreport": lambda self, report: seen.append(report)})())
    reports = pytest_private.run_phases(item, None)
    assert [r.when for r in reports] == ["setup", "call", "teardown"]
    assert seen == []


def test_case_arguments_are_the_functions_own_parameters(pytester):
    (item,) = pytester.getitems("import pytest\n"
                            "@pytest.fixture\n"
                            "def other():\n    return 1\n"
                            "@pytest.fixture(autouse=True)\n"
                            "def auto():\n    return 2\n"
                            "@pytest.mark.parametrize('mode', ['a'])\n"
                            "def test_func(mode, other):\n    pass\n")
    item.ihook.pytest_runtest_setup(item=item)
    try:
        assert pytest_private.case_arguments(item) == {"mode": "a", "other": 1}
    finally:
        item.ihook.pytest_runtest_teardown(item=item, nextitem=None)


def test_xdist_still_prints_its_status_through_dsession_terminal_and_the_status_reporter():
    from xdist.dsession import DSession, TerminalDistReporter

    # DSession guards every status line with `if self.terminal`, and registers a
    # TerminalDistReporter under the name silence_xdist_status unregisters.
    source = inspect.getsource(DSession)
    assert "self.terminal = config.pluginmanager.getplugin(\"terminalreporter\")" in source
    assert '"terminaldistreporter"' in source
    assert "if self.terminal" in source and hasattr(TerminalDistReporter, "ensure_show_status")


def test_report_without_traceback_is_the_phase_as_if_it_had_not_raised(pytester):
    from _pytest.runner import CallInfo

    item = pytester.getitem("def test_func():\n    raise ValueError('boom')\n")
    call = CallInfo.from_call(item.runtest, "call")
    assert call.excinfo is not None
    report = pytest_private.report_without_traceback(item, call)
    assert (report.when, report.outcome, report.longrepr) == ("call", "passed", None)
    assert (report.start, report.stop, report.duration) == (call.start, call.stop, call.duration)
