"""listen(): turning a socket into one that accepts connections."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    INET,
    LOOPBACK,
    DeadlineExceeded,
    Kit,
    case,
    linux,
    mslearn,
    port_range,
    posix,
    seed,
)


@case(
    "listen.unbound.autobind",
    "listen() on an unbound TCP socket binds it to an ephemeral port clients can reach",
    cites=[
        seed("34", "without bind the kernel assigns the port; the server can still listen, "
                   "but clients are not told the port"),
        posix("listen", "ERRORS: EDESTADDRREQ where the protocol cannot listen unbound"),
        linux("ip(7)", "DESCRIPTION: listen() on an unbound socket picks a free port"),
        mslearn("listen", "WSAEINVAL: the socket has not been bound"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:ip.7:autobind.listen"],
)
def test_unbound_autobind(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """listen() without bind() gets an ephemeral port; a client told it connects and is accepted."""
    kit.private_network()  # listening unbound binds the wildcard address
    lo, hi, where = port_range()
    server = kit.socket(family, "stream")
    listened = kit.outcome(server.listen, 16)
    if listened != "ok":
        return {"listen": listened}
    port = server.getsockname()[1]
    kit.note(port=port, range=[lo, hi], range_source=where)
    client = kit.socket(family, "stream")
    connected = kit.outcome(kit.connect_within, client, (LOOPBACK[family], port))
    accepted = False
    if connected == "ok":
        kit.accept_within(server)
        accepted = True
    return {
        "listen": "ok",
        "in_ephemeral_range": lo <= port <= hi,
        "connect": connected,
        "accepted": accepted,
    }


@case(
    "listen.refused_before_listen",
    "connect() to a TCP socket that is bound but not listening fails with ECONNREFUSED",
    cites=[
        seed("15", "bind alone only records the address; the kernel takes connection "
                   "requests once listen() is called"),
        posix("connect", "ERRORS: ECONNREFUSED the target address was not listening"),
        linux("connect(2)", "ERRORS: ECONNREFUSED"),
        mslearn("connect", "WSAECONNREFUSED"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_refused_before_listen(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A connection request to a bound socket that never called listen() is refused."""
    server = kit.bound(family, "stream")
    client = kit.socket(family, "stream")
    return {"connect": kit.outcome(kit.connect_within, client, server.getsockname())}


@case(
    "listen.handshake_before_accept",
    "a client's connect() completes and its data is queued before the server calls accept()",
    cites=[
        seed("15", "after listen() the kernel takes connection requests and hands them to "
                   "accept()"),
        seed("24", "the tutorial ties the end of the handshake to the server's accept(); "
                   "this case checks that the kernel finishes it earlier"),
        posix("listen", "DESCRIPTION: the listen queue"),
        linux("listen(2)", "NOTES: backlog counts completely established sockets"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:listen.2:backlog"],
)
def test_handshake_before_accept(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """connect() and send() succeed with accept() not yet called; accept() then reads the data."""
    server = kit.listener(family)
    client = kit.socket(family, "stream")
    try:
        connected = kit.outcome(kit.connect_within, client, server.getsockname())
    except DeadlineExceeded:
        # Here a connect() that waits is the deviation itself, not a hung stack:
        # no accept() is coming, so it would wait for ever.
        connected = "still_waiting_without_accept"
    if connected != "ok":
        return {"connect": connected}
    sent = kit.outcome(client.send, b"early")
    conn, _ = kit.accept_within(server)
    data = kit.recv_within(conn) if sent == "ok" else b""
    return {
        "connect": connected,
        "send_before_accept": sent,
        "accepted_reads": data.decode("ascii", "replace"),
    }


@case(
    "listen.dgram",
    "listen() on a datagram socket fails with EOPNOTSUPP",
    cites=[
        posix("listen", "ERRORS: EOPNOTSUPP the protocol does not support listen()"),
        linux("listen(2)", "ERRORS: EOPNOTSUPP"),
        mslearn("listen", "WSAEOPNOTSUPP"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:listen:EOPNOTSUPP"],
)
def test_dgram(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A bound datagram socket refuses listen(): only connection-mode sockets can listen."""
    s = kit.bound(family, "dgram")
    return {"errno": kit.outcome(s.listen, 16)}
