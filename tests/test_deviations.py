"""Every case can fail: its deviating observations are judged `deviates` on Linux."""

from __future__ import annotations

import pytest

from conformance import expectations
from conformance.verdict import judge
from tests.deviations import DEVIATIONS

LINUX = {"os": "linux", "kernel": "6.18", "stack": "host"}
SETS = expectations.load_all()

CASES = [
    pytest.param(cid, obs, params, id=f"{cid}:{behaviour}")
    for cid, rows in DEVIATIONS.items()
    for behaviour, obs, params in rows
]


@pytest.mark.parametrize(("case_id", "observation", "params"), CASES)
def test_deviating_observation_is_judged_deviates(case_id, observation, params):
    j = judge(case_id, observation, LINUX, params, SETS["linux"], SETS["posix"])
    assert j.verdict == "deviates", (
        f"got verdict={j.verdict}, expected deviates [judge({case_id}, {observation})]"
    )
    assert case_id in j.message
