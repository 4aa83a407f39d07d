"""From a case body to a phase's ending.

A case body returns an observation; ``pytest_pyfunc_call`` checks it and
judges it against the platform's expectation (``conformance.verdict``). Any
phase that raised instead ends by the exception's type: ``Unsupported``
(the platform lacks the feature), a pytest skip, ``DeadlineExceeded`` or the
per-instance guard (timeout), anything else (error). ``pytest_runtest_makereport``
keeps each phase's ending for the reruns and maps it onto pytest's outcome,
so the terminal says what the report will.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from conformance.case import case_info
from conformance.plugin import guard, pytest_private, settings
from conformance.result import Ending

# This attempt's (phase, ending) pairs, in order; the reruns fold them.
ENDINGS = pytest.StashKey[list[tuple[str, Ending]]]()
_JUDGED = pytest.StashKey[Ending]()


class Deviation(AssertionError):
    """Raised by the plugin (never by a case) when an observation deviates."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse an instance whose platform capability is missing, before its fixtures."""
    if case_info(item) is None:
        return
    caps = settings.of(item.config).platform.capabilities
    for mark in item.iter_markers("conformance_requires"):
        cap = mark.args[0]
        if not caps.get(cap, False):
            from conformance.errors import Unsupported

            raise Unsupported(f"capability {cap!r} is not available on this platform")


def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a case body, keep its observation, and judge it against the expectation."""
    from conformance.errors import HarnessError
    from conformance.verdict import judge

    info = case_info(pyfuncitem)
    if info is None:
        return None
    observation = pyfuncitem.obj(**pytest_private.case_arguments(pyfuncitem))
    _check_observation(info.id, observation)
    st = settings.of(pyfuncitem.config)
    j = judge(info.id, observation, st.platform_json, params(pyfuncitem), st.family,
              st.baseline)
    pyfuncitem.stash[_JUDGED] = Ending(j.verdict, j.message, observation, j.expected,
                                       j.portable, j.sources)
    if j.verdict == "deviates":
        raise Deviation(j.message)
    if j.verdict not in ("conforms", "undocumented"):
        raise HarnessError(f"judge returned {j.verdict!r} for an observation")
    return True


def _check_observation(case_id: str, observation: Any) -> None:
    from conformance.errors import HarnessError

    if not isinstance(observation, dict) or not observation:
        raise HarnessError(f"{case_id} returned {observation!r}; a case returns a non-empty dict")
    try:
        if json.loads(json.dumps(observation)) != observation:
            raise ValueError("does not round-trip")
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"{case_id} returned a non-JSON-safe observation: {exc}") from None


def params(item: pytest.Item) -> dict[str, str]:
    callspec = getattr(item, "callspec", None)
    return {k: str(v) for k, v in callspec.params.items()} if callspec else {}


def ending_of(exc: BaseException) -> Ending:
    """The ending of a phase that raised ``exc``: by the exception's type, never its text."""
    from conformance.errors import DeadlineExceeded, Unsupported

    if isinstance(exc, Unsupported):
        return Ending("unsupported", str(exc))
    if isinstance(exc, pytest.skip.Exception):
        return Ending("skipped", exc.msg or "")
    if isinstance(exc, DeadlineExceeded):
        return Ending("timeout", str(exc))
    if isinstance(exc, guard.GuardTimeout):
        return Ending("timeout", str(exc), final=True)
    return Ending("error", f"{type(exc).__name__}: {exc}")


def _phase_ending(item: pytest.Item, call: pytest.CallInfo[None]) -> Ending:
    judged = item.stash.get(_JUDGED, None) if call.when == "call" else None
    if judged is not None:
        return judged
    if call.excinfo is None:
        return Ending(None)
    ending = ending_of(call.excinfo.value)
    if call.when != "call":
        return Ending(ending.verdict, f"{call.when}: {ending.message}", final=ending.final)
    return ending


@pytest.hookimpl(specname="pytest_runtest_makereport", tryfirst=True)
def pytest_runtest_makereport_without_traceback(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> pytest.TestReport | None:
    """A phase that deviated or met a missing feature: the wrapper below gives its
    report one line, so pytest's traceback text for it would only be thrown away."""
    from conformance.errors import Unsupported

    if call.excinfo is None or case_info(item) is None:
        return None
    if not isinstance(call.excinfo.value, (Deviation, Unsupported)):
        return None
    return pytest_private.report_without_traceback(item, call)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the phase's ending and map it onto pytest's outcome."""
    report = yield
    if case_info(item) is None:
        return report
    ending = _phase_ending(item, call)
    item.stash.setdefault(ENDINGS, []).append((call.when, ending))
    if ending.verdict in ("unsupported", "skipped") and report.outcome != "skipped":
        report.outcome = "skipped"
        lineno = (item.location[1] or 0) + 1
        report.longrepr = (str(item.path), lineno, f"{ending.verdict}: {ending.message}")
    elif ending.verdict == "deviates":
        # The stack, not the code, deviated: the plugin's own frames would only
        # bury the got/expected line a reader needs.
        report.outcome = "failed"
        report.longrepr = f"deviates: {ending.message}"
    return report


def endings(item: pytest.Item) -> list[tuple[str, Ending]]:
    """This attempt's phases so far, in order."""
    return item.stash.get(ENDINGS, [])


def new_attempt(item: pytest.Item) -> None:
    """Forget the previous attempt's phases and judgement (a setup that fails before
    the call would otherwise report stale data)."""
    if ENDINGS in item.stash:
        del item.stash[ENDINGS]
    if _JUDGED in item.stash:
        del item.stash[_JUDGED]
