"""lwIP's expectations (lwip.toml, from its sources) can fail: each has a deviating row."""

from __future__ import annotations

import pytest

from conformance import expectations
from conformance.verdict import judge

LWIP = {"os": "lwip", "kernel": "2.1.3", "stack": "lwip"}
SETS = expectations.load_all()

ROWS = [
    ("socket.create.bad_family", {"errno": "EAFNOSUPPORT"}, {},
     "lwIP checks the domain after all"),
    ("connect.tcp.refused", {"errno": "ECONNREFUSED"}, {},
     "a refused connect is reported as refused, not reset"),
    ("listen.refused_before_listen", {"connect": "ECONNREFUSED"}, {},
     "a refused connect is reported as refused, not reset"),
    ("tcp.send_unconnected", {"errno": "EPIPE"}, {}, "Linux's EPIPE"),
    ("shutdown.listening", {"errno": "ok"}, {}, "a listener accepts a half shutdown"),
    ("tcp.recvfrom_address", {"address": None, "address_returned": False}, {},
     "no address for a stream, as on Linux"),
    ("bind.twice", {"errno": "EINVAL"}, {"type": "dgram"}, "a bound UDP pcb refuses a rebind"),
]


@pytest.mark.parametrize(("case_id", "observation", "params", "behaviour"), ROWS,
                         ids=[f"{r[0]}:{r[3]}" for r in ROWS])
def test_deviating_observation_is_judged_deviates_on_lwip(case_id, observation, params,
                                                          behaviour):
    j = judge(case_id, observation, LWIP, params, SETS["lwip"], SETS["posix"])
    assert j.verdict == "deviates", f"got {j.verdict} for {behaviour} [{case_id}]"


def test_every_lwip_expectation_has_a_deviation_row():
    assert set(SETS["lwip"].case_ids()) == {r[0] for r in ROWS}
