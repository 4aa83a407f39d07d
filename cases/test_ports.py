"""Ephemeral ports: the range the kernel picks from, running out of it, holding a pick.

``net.ipv4.ip_local_port_range`` is per network namespace on Linux, so the
range cases narrow it inside a fresh private namespace (its own loopback, see
conformance/topology.py) and never touch the host's. Each of those cases gets
its own namespace: ports a case used (a TIME_WAIT, a full range) cannot leak
into the next. The worker's one namespace helper makes it on request, so a
fresh namespace costs about a millisecond, not a process. Where the range is
not private to a namespace (gVisor: a write inside one changes it for the
whole sandbox), the helper undoes the write and the range cases are skipped
with that reason. ``ports.connect_reserved`` needs no namespace and runs on
the host's loopback everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.api import (
    BACKENDS,
    HOST,
    INET,
    LOOPBACK,
    WILDCARD,
    Kit,
    Topology,
    TopologyUnavailable,
    case,
    linux,
    open_or_skip,
    posix,
    seed,
)

RANGE_KEY = "net.ipv4.ip_local_port_range"


# Why this process cannot narrow the range, once it has found out: the answer
# is a property of the stack, so later cases skip without building a namespace.
_refused: list[str] = []


@pytest.fixture
def netns() -> Iterator[Topology]:
    """A fresh private namespace with only loopback, torn down after the case."""
    if _refused:
        pytest.skip(_refused[0])
    topo = open_or_skip(peer=False, shared=True)
    try:
        yield topo
    finally:
        topo.close()


def _narrow(kit: Kit, netns: Topology, first: int, last: int) -> tuple[int, int]:
    """Set the namespace's ephemeral range; skip with the reason if it may not be set."""
    try:
        got = netns.sysctl(HOST, RANGE_KEY, f"{first} {last}")
    except (OSError, TopologyUnavailable) as exc:
        _refused.append(f"cannot set {RANGE_KEY} in the namespace: {exc}")
        pytest.skip(_refused[0])
    lo, hi = (int(x) for x in got.split())
    kit.note(range=[lo, hi], namespace_build_s=netns.build_s, user_namespace=netns.userns)
    return lo, hi


@case(
    "ports.range",
    "ports the kernel assigns on bind(0), connect() and listen() all come from the set range",
    cites=[
        seed("34", "without bind the kernel assigns a port itself"),
        posix("connect", "DESCRIPTION: an unbound socket is bound to an unused local address"),
        linux("ip(7)", "ip_local_port_range; automatic binding on connect() and listen()"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_range(family: str, backend: str, kit: Kit, netns: Topology) -> dict[str, Any]:
    """With ip_local_port_range narrowed to 40000-40009, every automatic port falls inside."""
    lo, hi = _narrow(kit, netns, 40000, 40009)
    host = LOOPBACK[family]
    ports: dict[str, int] = {}
    tcp = netns.socket(kit, HOST, family, "stream")
    tcp.bind((host, 0))
    ports["tcp_bind"] = tcp.getsockname()[1]
    udp = netns.socket(kit, HOST, family, "dgram")
    udp.bind((host, 0))
    ports["udp_bind"] = udp.getsockname()[1]
    listener = netns.socket(kit, HOST, family, "stream")
    listener.listen(4)  # never bound: listen() picks the port
    ports["tcp_listen"] = listener.getsockname()[1]
    client = netns.socket(kit, HOST, family, "stream")
    client.connect((host, ports["tcp_listen"]))  # loopback: completes within the call
    ports["tcp_connect"] = client.getsockname()[1]
    dgram = netns.socket(kit, HOST, family, "dgram")
    dgram.connect((host, ports["udp_bind"]))
    ports["udp_connect"] = dgram.getsockname()[1]
    kit.note(ports=ports)
    return {f"{how}_in_range": lo <= port <= hi for how, port in ports.items()}


@case(
    "ports.exhaustion",
    "with every ephemeral port taken, TCP bind(0), connect() and listen() fail with their errno",
    cites=[
        seed("34", "when the program does not choose, the kernel assigns the port"),
        posix("bind", "ERRORS: EADDRINUSE"),
        linux("bind(2)", "ERRORS: EADDRINUSE, all ports in the ephemeral range are in use"),
        linux("connect(2)", "ERRORS: EADDRNOTAVAIL, all ports in the ephemeral range are in use"),
        linux("listen(2)", "ERRORS: EADDRINUSE, autobinding to an ephemeral port found all "
                           "ports in use"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:connect.2:EADDRNOTAVAIL", "posix:connect:EADDRNOTAVAIL",
             "linux:bind.2:EADDRINUSE.ephemeral", "linux:listen.2:EADDRINUSE.ephemeral"],
)
def test_exhaustion(family: str, backend: str, kit: Kit, netns: Topology) -> dict[str, Any]:
    """In a 4-port range filled by a listener and 3 bind(0)s, bind(0), connect(), listen() fail."""
    lo, hi = _narrow(kit, netns, 40000, 40003)
    size = hi - lo + 1
    host = LOOPBACK[family]
    listener = netns.socket(kit, HOST, family, "stream")
    listener.bind((host, 0))
    listener.listen(4)
    taken = 1
    bind_failed = "no failure"
    # One attempt more than the range holds: a stack that hands out a port
    # twice, or from outside the range, shows up as "no failure".
    for _ in range(size):
        s = netns.socket(kit, HOST, family, "stream")
        outcome = kit.outcome(s.bind, (host, 0))
        if outcome != "ok":
            bind_failed = outcome
            break
        taken += 1
    client = netns.socket(kit, HOST, family, "stream")
    connect_failed = kit.outcome(client.connect, listener.getsockname())
    # listen() on an unbound socket autobinds from the same full range.
    unbound = netns.socket(kit, HOST, family, "stream")
    listen_failed = kit.outcome(unbound.listen, 1)
    kit.note(ports_taken=taken)
    return {"bind_past_range": bind_failed, "connect_past_range": connect_failed,
            "listen_past_range": listen_failed, "failed_once_range_full": taken == size}


@case(
    "ports.connect_reserved",
    "the port connect() picked for a TCP client cannot be bound by another socket",
    cites=[
        seed("34", "clients usually do not bind; the kernel assigns their port"),
        posix("connect", "DESCRIPTION: binds an unbound socket to an unused local address"),
        posix("bind", "ERRORS: EADDRINUSE, the specified address is already in use"),
        linux("bind(2)", "ERRORS: EADDRINUSE"),
        linux("ip(7)", "only one IP socket may be bound to a local (address, port) pair"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_connect_reserved(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind() to the (address, port) a connect() chose, or to the wildcard and that port, fails."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    client.connect(listener.getsockname())  # loopback: completes within the call
    host, port = client.getsockname()
    same = kit.socket(family, "stream")
    wildcard = kit.socket(family, "stream")
    kit.note(port=port)
    return {"bind_same_address": kit.outcome(same.bind, (host, port)),
            "bind_wildcard": kit.outcome(wildcard.bind, (WILDCARD[family], port))}
