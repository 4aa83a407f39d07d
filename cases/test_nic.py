"""A real multi-homed host: bind() to one card's address, and what a peer host sees.

The host lives in a private network namespace with two cards, A (198.51.100.1)
and B (203.0.113.1); a second namespace is the peer host at the other end of
both links (198.51.100.2 and 203.0.113.2, plus 198.51.100.3 as a "foreign"
address). See conformance/topology.py. One topology serves the whole session;
every case closes its sockets, so no case sees another's state. Where
namespaces cannot be built, each case is ``skipped`` with the reason.

Absence is shown with evidence, not a quiet window: a datagram that no socket
takes makes the receiving host answer ICMP "port unreachable", which a
connected sender sees as ECONNREFUSED. By the time that answer arrives the
host has finished with the datagram, so an empty queue then means "not
delivered".
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.api import (
    ADDRESSES,
    BACKENDS,
    DEADLINE_S,
    HOST,
    PEER,
    WILDCARD,
    DeadlineExceeded,
    Kit,
    Topology,
    case,
    errno_name,
    linux,
    name_of,
    open_or_skip,
    posix,
    seed,
)

A, B = ADDRESSES["host.a"], ADDRESSES["host.b"]


@pytest.fixture(scope="session")
def hosts() -> Iterator[Topology]:
    """The multi-homed host and its peer, built once per worker and always torn down."""
    topo = open_or_skip(peer=True, shared=True)
    try:
        yield topo
    finally:
        topo.close()


def _udp_fate(kit: Kit, receiver: Any, sender: Any, payload: bytes) -> tuple[str, str]:
    """Send ``payload`` from a connected ``sender``: (what ``receiver`` got, what the sender saw).

    Waits for whichever comes first: the datagram at the receiver, or the
    host's refusal at the sender.
    """
    sender.send(payload)
    r, _, _ = select.select([receiver.fileno(), sender.fileno()], [], [], DEADLINE_S)
    if not r:
        raise DeadlineExceeded(f"neither delivery nor refusal of {payload!r} within {DEADLINE_S}s")
    sender_saw = kit.outcome(sender.recv, 1) if sender.fileno() in r else "nothing"
    receiver.set_nonblocking(True)
    try:
        data = receiver.recv(65536)
    except OSError as exc:
        if errno_name(exc) not in ("EAGAIN", "EWOULDBLOCK"):
            raise
        return "not delivered", sender_saw
    finally:
        receiver.set_nonblocking(False)
    return ("delivered" if data == payload else f"other datagram {data!r}"), sender_saw


def _connect_within(client: Any, addr: tuple[str, int]) -> str:
    """connect() across a link, with a deadline: ``"ok"`` or the errno name."""
    client.set_nonblocking(True)
    try:
        client.connect(addr)
    except OSError as exc:
        if errno_name(exc) != "EINPROGRESS":
            return errno_name(exc)
        _, w, _ = select.select([], [client.fileno()], [], DEADLINE_S)
        if not w:
            raise DeadlineExceeded(f"connect({addr}): no answer within {DEADLINE_S}s") from None
        err = client.getsockopt("SO_ERROR")
        if err:
            return errno_name(OSError(err, ""))
    finally:
        client.set_nonblocking(False)
    return "ok"


def _tcp_fate(kit: Kit, hosts: Topology, listener: Any, addr: tuple[str, int]) -> str:
    """Connect from the peer host to ``addr``: ``"accepted"`` by ``listener``, or the errno."""
    client = hosts.socket(kit, PEER, "inet", "stream")
    outcome = _connect_within(client, addr)
    if outcome != "ok":
        return outcome
    kit.accept_within(listener)
    return "accepted"


def _reach(kit: Kit, hosts: Topology, bind_host: str) -> dict[str, Any]:
    """Bind UDP and TCP sockets on the host to ``bind_host``, then aim the peer at A and B."""
    seen: dict[str, Any] = {}
    udp = hosts.socket(kit, HOST, "inet", "dgram")
    udp.bind((bind_host, 0))
    uport = udp.getsockname()[1]
    for card, addr in (("a", A), ("b", B)):
        sender = hosts.socket(kit, PEER, "inet", "dgram")
        sender.connect((addr, uport))
        seen[f"udp_to_{card}"], saw = _udp_fate(kit, udp, sender, f"to {card}".encode())
        if saw != "nothing":
            seen[f"udp_to_{card}_refused_with"] = saw
    listener = hosts.socket(kit, HOST, "inet", "stream")
    listener.bind((bind_host, 0))
    listener.listen(4)
    tport = listener.getsockname()[1]
    for card, addr in (("a", A), ("b", B)):
        seen[f"tcp_to_{card}"] = _tcp_fate(kit, hosts, listener, (addr, tport))
    kit.note(udp_port=uport, tcp_port=tport, topology_build_s=hosts.build_s,
             user_namespace=hosts.userns, icmp_ratelimit=hosts.icmp_ratelimit)
    return seen


@case(
    "bind.nic.specific_address",
    "bound to card A's address, a socket gets datagrams and connections for A, not for B",
    cites=[
        seed("12", "a server binds to tell the system which interface and port it serves"),
        seed("14", "with cards A and B, binding A's address and a port receives only A's packets"),
        posix("bind", "DESCRIPTION: assigns a local socket address"),
        linux("ip(7)", "DESCRIPTION: bind to a local interface address; INADDR_ANY binds all"),
    ],
    params={"backend": BACKENDS},
)
def test_specific_address(backend: str, kit: Kit, hosts: Topology) -> dict[str, Any]:
    """Bound to A's address, UDP and TCP reach it via A; the same port on B refuses both."""
    return _reach(kit, hosts, A)


@case(
    "bind.nic.wildcard",
    "bound to the wildcard address, a socket gets datagrams and connections for every card",
    cites=[
        seed("14", "the interface a server binds decides which cards' packets it receives"),
        posix("bind", "DESCRIPTION: assigns a local socket address"),
        linux("ip(7)", "DESCRIPTION: with INADDR_ANY the socket is bound to all local interfaces"),
    ],
    params={"backend": BACKENDS},
)
def test_wildcard(backend: str, kit: Kit, hosts: Topology) -> dict[str, Any]:
    """Bound to 0.0.0.0, UDP and TCP sent to A's and to B's address both arrive."""
    return _reach(kit, hosts, WILDCARD["inet"])


@case(
    "connect.tcp.source_address",
    "accept() reports the client's address on the link the connection came over",
    cites=[
        seed("19", "accept() fills in the address of the client that connected"),
        seed("34", "clients usually do not bind; the kernel picks their address and port"),
        posix("accept", "DESCRIPTION: address receives the address of the connecting socket"),
        linux("accept(2)", "DESCRIPTION: addr is filled in with the address of the peer socket"),
    ],
    params={"backend": BACKENDS},
)
def test_source_address(backend: str, kit: Kit, hosts: Topology) -> dict[str, Any]:
    """An unbound client on the peer host is seen as peer.a via link A and as peer.b via B."""
    listener = hosts.socket(kit, HOST, "inet", "stream")
    listener.bind((WILDCARD["inet"], 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    seen: dict[str, Any] = {}
    ports_match = True
    for card, addr in (("a", A), ("b", B)):
        client = hosts.socket(kit, PEER, "inet", "stream")
        outcome = _connect_within(client, (addr, port))
        if outcome != "ok":
            seen[f"seen_via_{card}"] = f"connect failed: {outcome}"
            continue
        _, peer = kit.accept_within(listener)
        seen[f"seen_via_{card}"] = name_of(peer[0])
        ports_match = ports_match and peer[1] == client.getsockname()[1]
        kit.note(**{f"client_via_{card}": list(client.getsockname())})
    return {**seen, "port_is_clients": ports_match}


@case(
    "udp.unconnected.recvfrom_remote",
    "recvfrom() on an unconnected UDP socket reports the remote host's address and port",
    cites=[
        seed("26", "recvfrom hands back the address a datagram came from"),
        posix("recvfrom", "DESCRIPTION: address receives the source address of the message"),
        linux("recv(2)", "recvfrom(): src_addr is filled in with the source address"),
    ],
    params={"backend": BACKENDS},
)
def test_recvfrom_remote(backend: str, kit: Kit, hosts: Topology) -> dict[str, Any]:
    """Datagrams from the peer host's two addresses are reported with each sender's address."""
    receiver = hosts.socket(kit, HOST, "inet", "dgram")
    receiver.bind((WILDCARD["inet"], 0))
    port = receiver.getsockname()[1]
    seen: dict[str, Any] = {}
    ports_match = True
    for card, src, dst in (("a", ADDRESSES["peer.a"], A), ("b", ADDRESSES["peer.b"], B)):
        sender = hosts.socket(kit, PEER, "inet", "dgram")
        sender.bind((src, 0))
        sender.sendto(card.encode(), (dst, port))
        _, addr = kit.recvfrom_within(receiver)
        seen[f"from_via_{card}"] = name_of(addr[0]) if addr else None
        ports_match = ports_match and bool(addr) and addr[1] == sender.getsockname()[1]
    return {**seen, "port_is_senders": ports_match}


@case(
    "udp.connected.filters_foreign_host",
    "a connected UDP socket drops a datagram from another host that uses the peer's port",
    cites=[
        seed("31", "recv() only takes data from the associated address"),
        seed("35", "UDP connect records the peer"),
        posix("connect", "DESCRIPTION: for datagram sockets, limits the remote sender for recv()"),
        linux("connect(2)", "DESCRIPTION: the only address from which datagrams are received"),
    ],
    params={"backend": BACKENDS},
)
def test_filters_foreign_host(backend: str, kit: Kit, hosts: Topology) -> dict[str, Any]:
    """Connected to peer.a:p, the socket refuses peer.a2:p and still receives from peer.a:p."""
    local = hosts.socket(kit, HOST, "inet", "dgram")
    local.bind((A, 0))
    peer = hosts.socket(kit, PEER, "inet", "dgram")
    peer.bind((ADDRESSES["peer.a"], 0))
    pport = peer.getsockname()[1]
    foreign = hosts.socket(kit, PEER, "inet", "dgram")
    foreign.bind((ADDRESSES["peer.a2"], pport))
    local.connect(peer.getsockname())
    for s in (peer, foreign):
        s.connect(local.getsockname())
    from_foreign, foreign_saw = _udp_fate(kit, local, foreign, b"foreign")
    from_peer, _ = _udp_fate(kit, local, peer, b"peer")
    kit.note(local=list(local.getsockname()), peer_port=pport)
    return {"from_peer": from_peer, "from_foreign_host": from_foreign,
            "foreign_refused_with": foreign_saw}
