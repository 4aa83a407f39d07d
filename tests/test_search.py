"""Hypothesis in cases: profiles, counterexamples, the lifecycle model catching a bad rule."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import expectations, search
from conformance.backends import Tracker
from conformance.errors import UsageError
from conformance.kit import Kit
from conformance.model import Oracle
from conformance.probe import fingerprint


@pytest.fixture
def kit():
    k = Kit("python", Tracker())
    yield k
    k.close()


def test_ci_profile_is_derandomized_without_a_database(monkeypatch):
    monkeypatch.delenv(search.PROFILE_ENV, raising=False)
    s = search.settings_for(10)
    assert (s.derandomize, s.database, s.max_examples) == (True, None, 10)


def test_explore_profile_searches_more_with_a_random_seed(monkeypatch):
    monkeypatch.setenv(search.PROFILE_ENV, "explore")
    s = search.settings_for(10)
    assert s.derandomize is False and s.max_examples > 10


def test_unknown_profile_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(search.PROFILE_ENV, "fast")
    with pytest.raises(UsageError, match="fast"):
        search.settings_for(10)


def test_a_failing_property_is_shrunk_into_the_observation(monkeypatch):
    monkeypatch.delenv(search.PROFILE_ENV, raising=False)

    @search.settings_for(50)
    @given(st.integers(0, 10_000))
    def prop(n: int) -> None:
        assert n < 1000, f"got {n}"

    obs = search.check(prop)
    assert obs["holds"] is False
    assert any("n=1000" in line for line in obs["counterexample"]), obs


def test_a_holding_property_observes_only_that_it_holds():
    @search.settings_for(5)
    @given(st.integers())
    def prop(n: int) -> None:
        pass

    assert search.check(prop) == {"holds": True}


def _linux_oracle(**overrides):
    plat = fingerprint()
    documented = expectations.load_family(plat.os)
    return Oracle(documented, plat.to_json(), {k: frozenset(v) for k, v in overrides.items()})


@pytest.mark.skipif(not fingerprint().os == "linux", reason="the shipped model is checked on Linux")
def test_lifecycle_holds_with_the_documented_model(kit):
    from conformance.cases.test_state import run_lifecycle

    assert run_lifecycle(kit, _linux_oracle()) == {"holds": True}


def test_wrong_model_rule_is_caught_and_shrunk_to_a_short_program(kit):
    from conformance.cases.test_state import run_lifecycle

    obs = run_lifecycle(kit, _linux_oracle(**{"listen.udp": {"ok"}}))
    assert obs["holds"] is False
    steps = [ln for ln in obs["counterexample"] if ln.startswith("state.step(")]
    assert len(steps) <= 2, f"got {steps}, expected at most a socket and a listen step"
    assert any("call='listen'" in s for s in steps)
    assert re.search(r"listen\(s\d+<udp>\)", obs["failure"]), obs["failure"]


@pytest.mark.skipif(not fingerprint().os == "linux", reason="the shipped model is checked on Linux")
def test_lifecycle_reaches_every_call_with_both_outcomes_under_the_ci_profile(kit):
    from conformance.cases.test_state import CALLS, run_lifecycle

    census: dict[str, dict[str, int]] = {}
    assert run_lifecycle(kit, _linux_oracle(), census=census) == {"holds": True}
    assert set(census) == set(CALLS), f"got {sorted(census)}, expected every call"
    # socket() and close() cannot fail on a model that only opens and closes
    # what it has; every other call must both succeed and fail.
    for call in set(CALLS) - {"socket", "close"}:
        outcomes = set(census[call])
        assert "ok" in outcomes and outcomes - {"ok", "eof"}, (
            f"{call}: got outcomes {sorted(outcomes)}, expected ok and a failure [census]"
        )
    assert census["recv"].get("ok", 0) > 0, "no step moved data"


def test_run_explore_uses_the_explore_profile(tmp_path):
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--explore", "--out", "out",
         "-k", "test_bind_addresses"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "hypothesis profile: explore" in proc.stdout
    report = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert [r["observation"] for r in report["results"]] == [{"holds": True}]


def test_the_private_hypothesis_hook_the_suite_patches_still_exists(monkeypatch):
    """search._no_harness_constants replaces a private Hypothesis function.

    Hypothesis may rename or drop it in any release; the suite would then mine
    its own modules again without a word. This test is that word: it fails
    when the hook is gone or no longer consulted, so the patch is revisited.
    """
    import inspect

    from hypothesis.internal.conjecture import providers

    assert callable(getattr(providers, "_get_local_constants", None)), \
        "hypothesis.internal.conjecture.providers._get_local_constants is gone"
    assert hasattr(providers, "_local_constants"), \
        "hypothesis.internal.conjecture.providers._local_constants is gone"
    consults = inspect.getsource(providers.HypothesisProvider)
    assert "_get_local_constants()" in consults, \
        "HypothesisProvider no longer asks _get_local_constants() for local constants"
    monkeypatch.setattr(providers, "_get_local_constants", providers._get_local_constants)
    search._no_harness_constants()
    assert providers._get_local_constants() is providers._local_constants
