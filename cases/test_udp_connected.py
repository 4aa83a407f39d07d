"""A connected UDP socket: which datagrams it receives, where its sends go, what errors it sees."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    BACKENDS,
    C_API,
    DEADLINE_S,
    INET,
    Citation,
    DeadlineExceeded,
    Kit,
    Socket,
    Unsupported,
    case,
    darwin,
    errno_name,
    freebsd,
    linux,
    mslearn,
    posix,
    seed,
)

# Microsoft Learn keeps recv() under winsock.h, not winsock2.h as mslearn() assumes.
MS_RECV = Citation(
    "mslearn", "Winsock recv()", "WSAECONNRESET on a UDP socket: ICMP port unreachable",
    "https://learn.microsoft.com/en-us/windows/win32/api/winsock/nf-winsock-recv",
)


def _label(data: bytes) -> str:
    """A datagram as a reader sees it: our ASCII labels as text, anything else by size."""
    return data.decode() if data.isalpha() else f"{len(data)}-byte datagram"


def _connected_pair(kit: Kit, family: str) -> tuple[Socket, Socket]:
    """A bound UDP socket connected to a bound peer: (connected socket, peer)."""
    sock = kit.bound(family, "dgram")
    peer = kit.bound(family, "dgram")
    sock.connect(peer.getsockname())
    return sock, peer


def _delivery(sent: list[str], got: list[bytes]) -> dict[str, list[str]]:
    """Which of the labelled datagrams in ``sent`` the barrier saw arrive, in order."""
    delivered = [_label(d) for d in got]
    return {"delivered": delivered, "dropped": [s for s in sent if s not in delivered]}


@case(
    "udp.connected.filters_foreign_source",
    "a connected UDP socket receives its peer's datagrams and not those of another port",
    cites=[
        seed("31", "recv() only takes datagrams from the address associated by connect()"),
        posix("connect", "DESCRIPTION: the peer address limits the remote sender for recv()"),
        linux("connect(2)", "DESCRIPTION: the only address from which datagrams are received"),
        freebsd("connect(2)", "DESCRIPTION"),
        mslearn("connect", "Remarks: datagrams from other addresses are discarded"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_filters_foreign_source(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A datagram from a foreign port, sent before the peer's marker, never arrives."""
    sock, peer = _connected_pair(kit, family)
    foreign = kit.bound(family, "dgram")
    foreign.sendto(b"foreign", sock.getsockname())
    # Barrier: the peer's datagram goes after the foreign one, and loopback
    # keeps one receiver's queue in order, so what is not seen by then was dropped.
    peer.sendto(b"peer", sock.getsockname())
    return _delivery(["foreign", "peer"], kit.drain(sock, b"peer"))


@case(
    "udp.connected.keeps_queued",
    "datagrams from another source already queued when connect() is called are still delivered",
    cites=[
        posix("connect", "DESCRIPTION: silent on datagrams queued before the peer is set"),
        linux("connect(2)", "DESCRIPTION"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_keeps_queued(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A foreign datagram queued before connect() is read after it, ahead of the peer's."""
    sock = kit.bound(family, "dgram")
    peer = kit.bound(family, "dgram")
    foreign = kit.bound(family, "dgram")
    foreign.sendto(b"foreign", sock.getsockname())
    # Readable means the foreign datagram sits in the queue before connect().
    if not kit.readable(sock, DEADLINE_S):
        raise DeadlineExceeded(f"the foreign datagram was not queued within {DEADLINE_S}s")
    sock.connect(peer.getsockname())
    peer.sendto(b"peer", sock.getsockname())
    return _delivery(["foreign", "peer"], kit.drain(sock, b"peer"))


@case(
    "udp.connected.send",
    "send() on a connected UDP socket delivers the datagram to the peer",
    cites=[
        seed("29", "with the peer associated, send() is used without an address"),
        posix("send", "DESCRIPTION: send() works on a connected socket"),
        linux("send(2)", "DESCRIPTION"),
        linux("udp(7)", "DESCRIPTION"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_send(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send() returns the whole length and the peer reads the same bytes."""
    sock, peer = _connected_pair(kit, family)
    try:
        n = sock.send(b"payload")
    except OSError as exc:
        return {"send": errno_name(exc)}
    return {"send": "ok" if n == len(b"payload") else f"short ({n})",
            "peer_received": _label(kit.recv_within(peer))}


@case(
    "udp.connected.sendto_null",
    "sendto() with a NULL address and zero length on a connected UDP socket goes to the peer",
    cites=[
        seed("35", "after UDP connect, sendto() may pass a NULL address"),
        posix("sendto", "ERRORS: EDESTADDRREQ only without a peer address"),
        linux("send(2)", "DESCRIPTION: send() equals sendto() with NULL and 0"),
    ],
    params={"family": INET, "backend": C_API},
    asserts=["linux:send.2:sendto_null"],
)
def test_sendto_null(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto(fd, buf, len, 0, NULL, 0) after connect() reaches the peer."""
    sock, peer = _connected_pair(kit, family)
    sent = kit.outcome(sock.sendto, b"payload", None)
    if sent != "ok":
        return {"sendto_null": sent}
    return {"sendto_null": sent, "peer_received": _label(kit.recv_within(peer))}


@case(
    "udp.connected.sendto_same_address",
    "sendto() naming the connected peer's own address is accepted and delivered",
    cites=[
        posix("sendto", "DESCRIPTION: with a peer set, send to dest_addr or fail with EISCONN"),
        linux("udp(7)", "DESCRIPTION: sendto() with an address still works after connect()"),
        freebsd("udp(4)", "ERRORS: EISCONN when a destination is given on a connected socket"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_sendto_same_address(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto(peer's address) on the connected socket sends to the peer."""
    sock, peer = _connected_pair(kit, family)
    sent = kit.outcome(sock.sendto, b"payload", peer.getsockname())
    if sent != "ok":
        return {"sendto": sent}
    return {"sendto": sent, "peer_received": _label(kit.recv_within(peer))}


@case(
    "udp.connected.sendto_other_address",
    "sendto() naming another address on a connected UDP socket: sent there, or EISCONN",
    cites=[
        posix("sendto", "DESCRIPTION: either sent to dest_addr or EISCONN"),
        linux("udp(7)", "DESCRIPTION: other destinations via sendto()"),
        freebsd("send(2)", "ERRORS: EISCONN"),
        darwin("send(2)", "ERRORS: EISCONN"),
        mslearn("sendto", "Remarks"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:udp.7:sendto_connected"],
)
def test_sendto_other_address(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto(other) after connect(peer): where the datagram went, or the errno."""
    sock, peer = _connected_pair(kit, family)
    other = kit.bound(family, "dgram")
    sent = kit.outcome(sock.sendto, b"payload", other.getsockname())
    if sent != "ok":
        return {"sendto": sent}
    # One datagram reaches one socket: watching both at once tells where it
    # went without an absence window.
    ready, _ = kit.select([peer, other], [], DEADLINE_S)
    if not ready:
        raise DeadlineExceeded(f"the datagram reached neither peer nor other within {DEADLINE_S}s")
    receiver = ready[0]
    name = "peer" if receiver is peer else "other"
    data = kit.recv_within(receiver)
    return {"sendto": sent, "delivered_to": name if data == b"payload" else _label(data)}


@case(
    "udp.connected.recvfrom_peer",
    "recvfrom() on a connected UDP socket reports the peer's address; a NULL address pointer works",
    cites=[
        seed("26", "recvfrom() gives the sender's address"),
        seed("35", "after UDP connect, recvfrom() may pass a NULL address"),
        posix("recvfrom", "DESCRIPTION: address may be a null pointer"),
        linux("recv(2)", "DESCRIPTION: src_addr may be NULL"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_recvfrom_peer(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The address recvfrom() fills in is the peer's; with NULL the data still arrives."""
    sock, peer = _connected_pair(kit, family)
    peer.sendto(b"first", sock.getsockname())
    _, source = kit.recvfrom_within(sock)
    kit.note(source=list(source) if source else None, peer=list(peer.getsockname()))
    observation: dict[str, Any] = {
        "address": "peer" if source == peer.getsockname() else "other"
    }
    peer.sendto(b"second", sock.getsockname())
    if not kit.readable(sock, DEADLINE_S):
        raise DeadlineExceeded(f"the second datagram did not arrive within {DEADLINE_S}s")
    try:
        data, _ = sock.recvfrom(65536, want_address=False)
    except Unsupported:
        # The socket module always passes an address buffer: only libc
        # instances record the NULL half, and their expectation asks for it.
        return observation
    except OSError as exc:
        return {**observation, "null_address": errno_name(exc)}
    return {**observation, "null_address": _label(data)}


@case(
    "udp.connected.icmp_refused",
    "after a datagram to a port nobody receives on, the connected socket's next recv() "
    "reports the refusal",
    cites=[
        linux("udp(7)", "ERRORS: ECONNREFUSED, possibly for an earlier packet"),
        Citation("freebsd", "FreeBSD sys/netinet/udp_usrreq.c",
                 "udp_notify(): an ICMP error is stored in so_error of a connected socket "
                 "(udp(4) ERRORS does not list ECONNREFUSED)",
                 "https://github.com/freebsd/freebsd-src/blob/main/sys/netinet/udp_usrreq.c"),
        MS_RECV,
    ],
    level="should",
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:recv.2:ECONNREFUSED"],
)
def test_icmp_refused(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The ICMP port unreachable for a sent datagram surfaces as an error on the next recv()."""
    # A port with no receiver, without a race: closing a bound socket and
    # sending to its number would let another worker's bind(0) take the port
    # in between (and receive our datagram). Instead ``holder`` keeps the port
    # but is connected elsewhere: a connected UDP socket matches only its
    # peer's datagrams, so for ``sock`` nothing listens there and the stack
    # answers with port unreachable, while no other socket can be given it.
    holder = kit.bound(family, "dgram")
    holder.connect(kit.bound(family, "dgram").getsockname())
    sock = kit.bound(family, "dgram")
    sock.connect(holder.getsockname())
    sock.send(b"probe")
    # A pending socket error makes the descriptor readable (POLLERR); a stack
    # that reports nothing is shown by this bounded window, named in the result.
    if not kit.readable(sock, DEADLINE_S):
        return {"recv": f"no error within {DEADLINE_S}s"}
    return {"recv": kit.outcome(sock.recv, 64)}
