"""The attempts of one instance: run it again while its result fails.

Each attempt is a whole setup/call/teardown, so the kit and every socket it
made are closed and built afresh, the leak check runs per attempt, and a
failed setup is retried like a failed call (what pytest-rerunfailures does;
re-calling only the case body would reuse a kit whose sockets the failed
attempt left in an unknown state). Only the last attempt's phase reports
are logged, so the terminal and the xdist controller see one instance as
usual, and of those only the call's and any other phase's that did not pass:
a setup or teardown that passed says nothing a reader or the report needs,
and each report logged in an xdist worker is serialized, sent and read back
by the controller. The instance's settled result (``result.settle``:
``flaky`` when it failed, then passed) rides on the last one logged as
``report.conformance``.
"""

from __future__ import annotations

import pytest

from conformance.case import case_info
from conformance.plugin import judging, pytest_private, settings
from conformance.result import Instance, Result, fold, settle, should_rerun

# The report attribute the instance's result rides on (the controller and the
# sandbox journal read it back with ``Result.from_json``).
RESULT_ATTR = "conformance"


def instance_of(item: pytest.Item) -> Instance:
    info = case_info(item)
    assert info is not None
    return Instance.of_case(info, judging.params(item), item.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Run a case instance; while its result fails, run it again (up to the reruns limit)."""
    if case_info(item) is None:
        return None
    from conformance.plugin.fixtures import KIT

    reruns = settings.of(item.config).reruns
    instance = instance_of(item)
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    attempts: list[Result] = []
    reports: list[pytest.TestReport] = []
    for _ in range(reruns + 1):
        judging.new_attempt(item)
        if KIT in item.stash:
            del item.stash[KIT]
        reports = pytest_private.run_phases(item, nextitem)
        ending = fold(judging.endings(item))
        if ending is None:
            break
        kit = item.stash.get(KIT, None)
        attempts.append(Result.of(instance, ending, kit.detail if kit else {},
                                  sum(r.duration for r in reports)))
        if (not should_rerun(attempts)
                or item.session.shouldstop or item.session.shouldfail):
            break
    logged = [r for r in reports if r.when == "call" or not r.passed] or reports[-1:]
    if attempts:
        # A plain attribute travels with the report through xdist's serialization.
        setattr(logged[-1], RESULT_ATTR, settle(attempts).to_json())
    for rep in logged:
        item.ihook.pytest_runtest_logreport(report=rep)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
