"""Hypothesis inside a case: profiles, and a property's outcome as an observation.

A property case does not use ``@given`` on the pytest function: the case must
return one observation. It builds an inner Hypothesis test and hands it to
:func:`check`, which runs it under the active profile and reports either
``{"holds": True}`` or ``{"holds": False, "counterexample": [...]}`` with the
shrunk example (or state-machine program) and the reproduction needed to
replay it. The verdict logic then judges ``holds`` like any observation.

Profiles (``SOCKET_CONFORMANCE_HYPOTHESIS``, set by ``run --explore``):

- ``ci`` (default): derandomized, no example database, fixed example counts,
  so the same code on the same stack gives the same observation every run,
  under xdist too, whatever HYPOTHESIS_* variables the user has set;
- ``explore``: many more examples and a random seed, for hunting.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.errors import DeadlineExceeded, UsageError

if TYPE_CHECKING:
    from hypothesis import settings

# Hypothesis is imported where a search is set up or run, not here: the
# controller of an xdist run only names the profile, and importing Hypothesis
# there cost 60 ms while the workers waited for their first instances.

PROFILE_ENV = "SOCKET_CONFORMANCE_HYPOTHESIS"


@dataclass(frozen=True)
class Profile:
    name: str
    derandomize: bool
    scale: float


PROFILES = {
    "ci": Profile("ci", derandomize=True, scale=1.0),
    "explore": Profile("explore", derandomize=False, scale=20.0),
}


def profile() -> Profile:
    name = os.environ.get(PROFILE_ENV, "ci") or "ci"
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(
            f"{PROFILE_ENV}={name!r} is not a profile; expected one of {sorted(PROFILES)}"
        ) from None


def settings_for(max_examples: int, stateful_steps: int | None = None) -> settings:
    """Explicit settings: nothing is inherited from a user's Hypothesis profile."""
    from hypothesis import HealthCheck, Phase, settings

    p = profile()
    kw: dict[str, Any] = {}
    if stateful_steps is not None:
        kw["stateful_step_count"] = stateful_steps
    return settings(
        max_examples=max(1, int(max_examples * p.scale)),
        derandomize=p.derandomize,
        database=None,
        deadline=None,
        print_blob=True,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        **kw,
    )


def _no_harness_constants() -> None:
    """Keep Hypothesis from mining the suite's own modules for constants to generate.

    Recent Hypothesis versions resolve the path of every loaded module, once per
    process, and parse the "local" ones (outside site-packages and the standard
    library) for literals to try as examples. Here those are the harness in a
    checkout or editable install (a wheel lives in site-packages and is never
    mined), not the code under test, which is the socket stack: the literals aim
    the search at nothing and make the ci profile's examples depend on how the
    suite was installed. The mining cost 0.45 s per pytest process on the host
    and 1.9 s under gVisor. Only a private hook turns it off; with a Hypothesis
    that lacks it, nothing changes. It is switched off when a property first
    runs, so merely importing this module changes nothing for other tests.
    """
    from hypothesis.internal.conjecture import providers

    empty = getattr(providers, "_local_constants", None)
    if empty is not None and callable(getattr(providers, "_get_local_constants", None)):
        providers._get_local_constants = lambda: empty


def check(test: Callable[[], None]) -> dict[str, Any]:
    """Run an inner Hypothesis test; its outcome as an observation.

    Hypothesis reports the shrunk example (or state-machine program) and the
    ``@reproduce_failure`` blob through its reporter; both are kept, so a
    deviation can be replayed from the report alone.
    """
    from hypothesis.errors import FlakyFailure, Found
    from hypothesis.reporting import with_reporter

    _no_harness_constants()  # here, not at import: only processes that run a property
    lines: list[str] = []
    chosen = None
    if not profile().derandomize:
        import random

        from hypothesis import seed as seed_decorator

        chosen = random.getrandbits(32)
        test = seed_decorator(chosen)(test)
    from conformance.deadlines import search_deadlines

    try:
        with with_reporter(lambda line: lines.append(str(line))), search_deadlines():
            test()
    except FlakyFailure as exc:
        # A stack that stopped answering part-way through a search makes the
        # replay of an earlier failure end differently: that is a timeout.
        hung = exc.subgroup(DeadlineExceeded)
        if hung is not None:
            miss = hung.exceptions[0]
            while hasattr(miss, "exceptions"):
                miss = miss.exceptions[0]
            raise DeadlineExceeded(f"the search hit a call that never returned: {miss}") from exc
        # A failure Hypothesis could not replay the same way (the stack's own
        # timing decided a later step): still a failure, reported as found.
        first = next((e for e in exc.exceptions if isinstance(e, AssertionError)), exc)
        return {
            "holds": False,
            "counterexample": [ln for ln in lines if ln.strip() and not _boilerplate(ln)],
            "failure": str(first).splitlines()[0] if str(first) else type(first).__name__,
            "reproduce": [],
            "profile": profile().name,
            "seed": chosen,
            "flaky": True,
        }
    except (AssertionError, Found) as exc:
        # Recent Hypothesis versions attach the falsifying example to the
        # exception as PEP 678 notes; older ones print it through the reporter.
        lines += [ln for note in getattr(exc, "__notes__", []) for ln in note.splitlines()]
        return {
            "holds": False,
            "counterexample": [ln for ln in lines if ln.strip() and not _boilerplate(ln)],
            "failure": str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            "reproduce": [ln.strip() for ln in lines if ln.strip().startswith("@")],
            "profile": profile().name,
            "seed": chosen,
        }
    return {"holds": True}


def _boilerplate(line: str) -> bool:
    return line.strip().startswith("@") or line.startswith(("You can reproduce", "Falsifying"))
