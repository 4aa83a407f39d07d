"""connect() on UDP sockets: recording a default peer, binding, changing and dissolving it."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    BACKENDS,
    C_API,
    DEADLINE_S,
    INET,
    LOOPBACK,
    DeadlineExceeded,
    Kit,
    Socket,
    case,
    darwin,
    errno_name,
    linux,
    posix,
    seed,
)


def _label(data: bytes) -> str:
    """A datagram as a reader sees it: our ASCII labels as text, anything else by size."""
    return data.decode() if data.isalpha() else f"{len(data)}-byte datagram"


def _peer_of(sock: Socket, candidates: dict[str, Any]) -> str:
    """Which named address getpeername() returns, or its errno name."""
    try:
        peer = sock.getpeername()
    except OSError as exc:
        return errno_name(exc)
    return next((name for name, addr in candidates.items() if addr == peer), "other")


def _arrival(kit: Kit, receivers: dict[str, Socket], payload: bytes) -> str:
    """The name of the receiver ``payload`` reached, waiting on all of them at once.

    One datagram reaches one socket, so watching every candidate with one
    select() tells where it went without any absence window.
    """
    ready, _ = kit.select(list(receivers.values()), [], DEADLINE_S)
    if not ready:
        raise DeadlineExceeded(f"the datagram reached none of {sorted(receivers)} "
                               f"within {DEADLINE_S}s")
    name = next(name for name, s in receivers.items() if s is ready[0])
    data = kit.recv_within(receivers[name])
    return name if data == payload else f"{name} ({_label(data)})"


@case(
    "connect.udp.no_datagram_sent",
    "connect() on a UDP socket sends nothing to the address it connects to",
    cites=[
        seed("35", "for UDP, connect only records the destination: there is no handshake"),
        posix("connect", "DESCRIPTION: a connectionless socket only gets its peer address set"),
        linux("connect(2)", "DESCRIPTION: SOCK_DGRAM"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_no_datagram_sent(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The first thing the connected-to socket receives is the marker sent after connect()."""
    receiver = kit.bound(family, "dgram")
    client = kit.socket(family, "dgram")
    client.connect(receiver.getsockname())
    # Barrier: the connected socket's own marker follows anything connect()
    # might have put on the wire, and loopback keeps one receiver's queue in order.
    client.send(b"marker")
    got = kit.drain(receiver, b"marker")
    return {"arrived_before_marker": [_label(d) for d in got[:-1]]}


@case(
    "connect.udp.default_destination",
    "after connect() a UDP socket's send() without an address goes to the peer, "
    "and getpeername() names it",
    cites=[
        seed("29", "once the peer is associated with the socket, send() needs no address"),
        seed("35", "UDP connect sets the destination address"),
        posix("connect", "DESCRIPTION: the peer address is where send() sends datagrams"),
        linux("connect(2)", "DESCRIPTION: SOCK_DGRAM default destination"),
        linux("udp(7)", "DESCRIPTION"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:connect.2:SOCK_DGRAM"],
)
def test_default_destination(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send() on the connected socket reaches the peer, which getpeername() reports."""
    peer = kit.bound(family, "dgram")
    client = kit.socket(family, "dgram")
    client.connect(peer.getsockname())
    named = _peer_of(client, {"peer": peer.getsockname()})
    sent = kit.outcome(client.send, b"payload")
    if sent != "ok":
        return {"send": sent, "getpeername": named}
    return {"send": sent, "peer_received": _label(kit.recv_within(peer)), "getpeername": named}


@case(
    "connect.udp.implicit_bind",
    "connect() binds an unbound UDP socket to a local port, the source the peer then sees",
    cites=[
        seed("34", "clients usually do not bind: the kernel gives them a port"),
        posix("connect", "DESCRIPTION: an unbound socket is bound to an unused local address"),
        linux("udp(7)", "DESCRIPTION: automatic local port from ip_local_port_range"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:ip.7:autobind.connect"],
)
def test_implicit_bind(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A never-bound socket has a non-zero port after connect(), and its datagrams carry it."""
    kit.private_network()  # the implicit bind holds the wildcard address for a moment
    peer = kit.bound(family, "dgram")
    client = kit.socket(family, "dgram")
    client.connect(peer.getsockname())
    local = client.getsockname()
    client.send(b"payload")
    _, source = kit.recvfrom_within(peer)
    kit.note(local=list(local), source=list(source) if source else None)
    return {
        "local_port": "assigned" if local[1] != 0 else "zero",
        "source_seen_by_peer": "local_address" if source == local else "other",
    }


@case(
    "connect.udp.reconnect",
    "connecting a connected UDP socket again moves its default destination to the new address",
    cites=[
        posix("connect", "DESCRIPTION: connect() sets the peer address of a connectionless socket"),
        linux("connect(2)", "DESCRIPTION: datagram sockets may use connect() multiple times"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:connect.2:reconnect"],
)
def test_reconnect(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """After a second connect(), getpeername() names the second peer and send() reaches it."""
    first = kit.bound(family, "dgram")
    second = kit.bound(family, "dgram")
    client = kit.socket(family, "dgram")
    client.connect(first.getsockname())
    reconnect = kit.outcome(client.connect, second.getsockname())
    if reconnect != "ok":
        return {"reconnect": reconnect}
    named = _peer_of(client, {"first": first.getsockname(), "second": second.getsockname()})
    client.send(b"payload")
    return {
        "reconnect": reconnect,
        "getpeername": named,
        "delivered_to": _arrival(kit, {"first": first, "second": second}, b"payload"),
    }


@case(
    "connect.udp.unspec_disconnect",
    "connect() with AF_UNSPEC dissolves a UDP socket's association: no peer, no source filter",
    cites=[
        posix("connect", "DESCRIPTION: AF_UNSPEC resets the peer address"),
        linux("connect(2)", "DESCRIPTION: dissolve the association with AF_UNSPEC"),
        darwin("connect(2)", "DESCRIPTION and ERRORS: EAFNOSUPPORT"),
    ],
    params={"family": INET, "backend": C_API},
    asserts=["linux:connect.2:AF_UNSPEC"],
)
def test_unspec_disconnect(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """After connect(AF_UNSPEC), getpeername() fails and a foreign sender's datagram arrives."""
    sock = kit.bound(family, "dgram")
    peer = kit.bound(family, "dgram")
    foreign = kit.bound(family, "dgram")
    sock.connect(peer.getsockname())
    # Recorded on its own: macOS documents EAFNOSUPPORT here yet still dissolves.
    dissolve = kit.outcome(sock.connect_unspec)
    named = _peer_of(sock, {"peer": peer.getsockname()})
    released = sock.getsockname()[1] == 0
    kit.note(local_port_after_dissolve="released" if released else "kept")
    if released:
        # Linux releases a port the socket did not bind explicitly by number
        # (bind(0) counts as not explicit); sending gives it one again, as for
        # any unbound socket, so that the foreign sender has somewhere to send.
        resent = kit.outcome(sock.sendto, b"rebind", peer.getsockname())
        if resent != "ok":
            return {"connect_unspec": dissolve, "getpeername": named, "sendto_after": resent}
    kit.note(local=list(sock.getsockname()))
    # The BSDs reset the local address to the wildcard on dissolving (the port
    # stays), so the datagrams go to loopback at that port, which reaches the
    # socket either way; getsockname()'s own address may be 0.0.0.0.
    here = (LOOPBACK[family], sock.getsockname()[1])
    sent = kit.outcome(foreign.sendto, b"foreign", here)
    if sent != "ok":  # the name getsockname() gave cannot be sent to (port 0 on Wine)
        return {"connect_unspec": dissolve, "getpeername": named, "foreign_sendto": sent}
    # Barrier: the old peer's marker is accepted either way, and loopback keeps
    # the queue in order, so a foreign datagram not seen by then was dropped.
    peer.sendto(b"marker", here)
    got = kit.drain(sock, b"marker")
    return {
        "connect_unspec": dissolve,
        "getpeername": named,
        "foreign_delivered": b"foreign" in got,
    }
