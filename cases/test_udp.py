"""UDP without connect(): send, sendto, recvfrom; boundaries, truncation, empty datagrams."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    DEADLINE_S,
    INET,
    DeadlineExceeded,
    Kit,
    case,
    darwin,
    errno_name,
    freebsd,
    linux,
    mslearn,
    posix,
    seed,
)

# A datagram that arrives after the ones under test: once it is read, loopback
# has delivered (or dropped) everything sent before it on the same path.
MARKER = b"marker"


@case(
    "udp.unconnected.send",
    "send() on an unconnected UDP socket fails: there is no destination",
    cites=[
        seed("29", "without an associated peer, sendto() must name the destination"),
        posix("send", "ERRORS: EDESTADDRREQ"),
        linux("send(2)", "ERRORS: EDESTADDRREQ"),
        freebsd("udp(4)", "ERRORS: ENOTCONN"),
        darwin("send(2)", "ERRORS: EDESTADDRREQ"),
        mslearn("send", "WSAENOTCONN"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:send:EDESTADDRREQ"],
)
def test_unconnected_send(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send() without an address on a UDP socket that has no peer fails with an errno."""
    s = kit.socket(family, "dgram")
    return {"errno": kit.outcome(s.send, b"where to?")}


@case(
    "udp.unconnected.sendto_autobind",
    "sendto() on an unbound UDP socket binds it to an ephemeral port, the receiver's source port",
    cites=[
        seed("34", "a socket that is not bound gets its port from the kernel"),
        posix("sendto"),
        linux("udp(7)", "DESCRIPTION: an unbound socket is bound automatically"),
        mslearn("sendto", "Remarks: an unbound socket is bound by the system"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:ip.7:autobind.connect"],
)
def test_unconnected_sendto_autobind(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """After sendto() on a never-bound socket, getsockname() has a port and datagrams carry it."""
    kit.private_network()  # the implicit bind is to the wildcard address
    receiver = kit.bound(family, "dgram")
    sender = kit.socket(family, "dgram")
    sender.sendto(b"first datagram", receiver.getsockname())
    local = sender.getsockname()
    _, source = kit.recvfrom_within(receiver)
    kit.note(local=local, source=source)
    return {
        "autobound": local[1] != 0,
        "source_port_is_local_port": source is not None and source[1] == local[1],
    }


@case(
    "udp.unconnected.recvfrom_source",
    "recvfrom() on an unconnected UDP socket reports the sender's address and port",
    cites=[
        seed("26", "recvfrom() gives the address the data came from"),
        posix("recvfrom", "DESCRIPTION: address receives the sending address"),
        linux("recv(2)", "DESCRIPTION: src_addr"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_unconnected_recvfrom_source(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The address recvfrom() returns is the sending socket's own getsockname()."""
    receiver = kit.bound(family, "dgram")
    sender = kit.bound(family, "dgram")
    sender.sendto(b"who sent this?", receiver.getsockname())
    _, source = kit.recvfrom_within(receiver)
    sender_name = sender.getsockname()
    kit.note(source=source, sender=sender_name)
    if source is None:
        return {"source": "none"}
    return {"source": "sender" if tuple(source) == tuple(sender_name) else "other"}


@case(
    "udp.datagram_boundaries",
    "datagrams sent back to back arrive one per recv(), whole and in order (loopback)",
    cites=[
        posix("recv", "DESCRIPTION: a message-based socket reads a whole message per call"),
        linux("udp(7)", "DESCRIPTION: all receive operations return only one packet"),
        linux("unix(7)", "SOCK_DGRAM preserves message boundaries"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["linux:udp.7:datagram"],
)
def test_datagram_boundaries(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Five datagrams of sizes 1, 100, 7, 1400 and 6 come back as five recv() results."""
    receiver = kit.bound(family, "dgram")
    sender = kit.socket(family, "dgram")
    sent = [b"a", b"b" * 100, b"c" * 7, b"d" * 1400, MARKER]
    for payload in sent:
        sender.sendto(payload, receiver.getsockname())
    got = kit.drain(receiver, MARKER)
    return {"received_sizes": [len(d) for d in got], "contents_intact": got == sent}


@case(
    "udp.truncation",
    "a datagram larger than the receive buffer is cut to the buffer, flagged, and its rest lost",
    cites=[
        posix("recvmsg", "MSG_TRUNC: normal data was truncated"),
        posix("recv", "DESCRIPTION: excess bytes of a message are discarded"),
        linux("udp(7)", "DESCRIPTION: the packet is truncated and MSG_TRUNC set"),
        linux("recv(2)", "MSG_TRUNC"),
        freebsd("recv(2)", "MSG_TRUNC"),
        darwin("recv(2)", "MSG_TRUNC"),
        mslearn("recvfrom", "WSAEMSGSIZE"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_truncation(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """recvmsg() into 100 bytes returns 100 of a 1000-byte datagram, flagged MSG_TRUNC."""
    receiver = kit.bound(family, "dgram")
    sender = kit.socket(family, "dgram")
    big, following = b"x" * 1000, b"the next datagram"
    sender.sendto(big, receiver.getsockname())
    sender.sendto(following, receiver.getsockname())
    if not kit.readable(receiver, DEADLINE_S):
        raise DeadlineExceeded(f"recvmsg: nothing readable within {DEADLINE_S}s")
    try:
        data, truncated = receiver.recvmsg(100)
    except OSError as exc:
        # Winsock reports the cut as an error (WSAEMSGSIZE) rather than a flag.
        first: dict[str, Any] = {"errno": errno_name(exc)}
    else:
        first = {"returned_bytes": len(data), "msg_trunc": truncated}
    nxt = kit.recv_within(receiver)
    if nxt == following:
        rest = "next datagram"
    elif nxt and big.startswith(nxt):
        rest = "rest of the big datagram"
    else:
        rest = "other"
    return {**first, "next_recv": rest}


@case(
    "udp.zero_length",
    "a zero-length UDP datagram is delivered and recv() returns 0 bytes for it",
    cites=[
        posix("recv", "RETURN VALUE: the length of the message"),
        linux("recv(2)", "RETURN VALUE: zero-length datagrams are permitted"),
        linux("udp(7)", "FIONREAD: the next datagram may contain zero bytes"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:recv.2:zero_length_datagram"],
)
def test_zero_length(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """An empty datagram sent before a marker is read as its own 0-byte recv() result."""
    receiver = kit.bound(family, "dgram")
    sender = kit.socket(family, "dgram")
    sender.sendto(b"", receiver.getsockname())
    sender.sendto(MARKER, receiver.getsockname())
    got = kit.drain(receiver, MARKER)
    before = got[:-1]
    return {
        "delivered": len(before) == 1,
        "recv_returned_bytes": [len(d) for d in before],
    }
