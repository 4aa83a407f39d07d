"""connect() on TCP sockets: the handshake, its failures and the local address it binds."""

from __future__ import annotations

import errno
from typing import Any

from conformance.api import (
    BACKENDS,
    DEADLINE_S,
    INET,
    HarnessError,
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


@case(
    "connect.tcp.handshake",
    "a blocking TCP connect() returns only once the connection is established",
    cites=[
        seed("24", "TCP connect sends the request; after the three-way handshake both ends "
                   "can exchange data"),
        posix("connect", "DESCRIPTION: blocks until the connection is established"),
        linux("connect(2)", "DESCRIPTION"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_handshake(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """When connect() returns, the client has a peer and the server has a connection to accept."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    result = kit.outcome(kit.connect_within, client, listener.getsockname())
    if result != "ok":
        return {"connect": result}
    try:
        peer = "listener" if client.getpeername() == listener.getsockname() else "other"
    except OSError as exc:
        peer = errno_name(exc)
    return {
        "connect": result,
        "client_getpeername": peer,
        # select() on a listener reports readable when a connection waits in its queue.
        "server_connection_pending": kit.readable(listener, DEADLINE_S),
    }


@case(
    "connect.tcp.refused",
    "TCP connect() to a port that no socket holds fails with ECONNREFUSED",
    cites=[
        posix("connect", "ERRORS: ECONNREFUSED the target address was not listening"),
        linux("connect(2)", "ERRORS: ECONNREFUSED no one listening on the remote address"),
        freebsd("connect(2)", "ERRORS: ECONNREFUSED"),
        darwin("connect(2)", "ERRORS: ECONNREFUSED"),
        mslearn("connect", "WSAECONNREFUSED"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:connect:ECONNREFUSED", "linux:connect.2:ECONNREFUSED"],
)
def test_refused(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """connect() to a port that no socket holds is refused.

    The port comes from bind(0) on a placeholder that is closed just before
    the connect() (a port that is bound but not listening is
    listen.refused_before_listen's case). The client binds first, while the
    placeholder still holds the port, so it cannot self-connect to it. Another
    process may take the freed port in between: a connect() that succeeds is
    judged only once a fresh bind() to that port shows nobody holds it; if one
    does, the race is a harness fault, not the stack's behaviour.
    """
    placeholder = kit.bound(family, "stream")
    target = placeholder.getsockname()
    client = kit.bound(family, "stream")
    placeholder.close()
    result = kit.outcome(kit.connect_within, client, target)
    if result == "ok":
        probe = kit.socket(family, "stream")
        if kit.outcome(probe.bind, target) == "EADDRINUSE":
            raise HarnessError(f"port {target[1]} was taken by another socket before connect()")
    return {"errno": result}


@case(
    "connect.tcp.already_connected",
    "a second connect() on a connected TCP socket fails with EISCONN",
    cites=[
        posix("connect", "ERRORS: EISCONN the socket is already connected"),
        linux("connect(2)", "ERRORS: EISCONN"),
        freebsd("connect(2)", "ERRORS: EISCONN"),
        darwin("connect(2)", "ERRORS: EISCONN"),
        mslearn("connect", "WSAEISCONN"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:connect:EISCONN", "linux:connect.2:EISCONN"],
)
def test_already_connected(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Connecting an established TCP socket again is refused with EISCONN."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    first = kit.outcome(kit.connect_within, client, listener.getsockname())
    if first != "ok":
        return {"first_connect": first}
    return {"errno": kit.outcome(kit.connect_within, client, listener.getsockname())}


@case(
    "connect.tcp.implicit_bind",
    "connect() on an unbound TCP socket binds it to a local port, which accept() reports",
    cites=[
        seed("34", "clients usually do not bind; the kernel assigns their port"),
        posix("connect", "DESCRIPTION: an unbound socket is bound to an unused local address"),
        linux("ip(7)", "ip_local_port_range: ephemeral ports for unbound connecting sockets"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:ip.7:autobind.connect"],
)
def test_implicit_bind(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """An unbound client gets a port from connect(), and accept() sees exactly that address."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    try:
        bound_before = client.getsockname()[1] != 0
    except OSError:
        bound_before = False  # Winsock: getsockname() on an unbound socket is WSAEINVAL
    result = kit.outcome(kit.connect_within, client, listener.getsockname())
    if result != "ok":
        return {"connect": result}
    mine = client.getsockname()
    _, peer = kit.accept_within(listener)
    kit.note(client_getsockname=mine, accept_address=peer)
    return {
        "bound_before_connect": bound_before,
        "bound_after_connect": mine[1] != 0,
        "accept_reports_client_address": peer == mine,
    }


@case(
    "connect.tcp.client_bind",
    "a TCP client bound before connect() reaches the server from exactly its bound port",
    cites=[
        seed("34", "a socket that binds chooses its own address and port"),
        posix("bind", "DESCRIPTION: assigns the local address"),
        posix("accept", "DESCRIPTION: address of the connecting socket"),
        linux("connect(2)", "DESCRIPTION"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_client_bind(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """accept() reports the port the client bound (via bind(0)) before connecting."""
    listener = kit.listener(family)
    client = kit.bound(family, "stream")
    bound = client.getsockname()
    result = kit.outcome(kit.connect_within, client, listener.getsockname())
    if result != "ok":
        return {"connect": result}
    _, peer = kit.accept_within(listener)
    kit.note(client_bound=bound, accept_address=peer)
    return {
        "server_sees_bound_port": peer[1] == bound[1],
        "client_port_unchanged": client.getsockname()[1] == bound[1],
    }


@case(
    "connect.tcp.nonblocking_in_progress",
    "a non-blocking TCP connect() returns EINPROGRESS, then the socket turns writable",
    cites=[
        posix("connect", "ERRORS: EINPROGRESS; select for writing to learn completion"),
        linux("connect(2)", "ERRORS: EINPROGRESS, then SO_ERROR"),
        freebsd("connect(2)", "ERRORS: EINPROGRESS"),
        darwin("connect(2)", "ERRORS: EINPROGRESS"),
        mslearn("connect", "non-blocking sockets: WSAEWOULDBLOCK, then writable"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_nonblocking_in_progress(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Non-blocking connect() reports the attempt in progress; completion shows as writable."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    client.set_nonblocking(True)
    started = kit.outcome(client.connect, listener.getsockname())
    writable = kit.writable(client, DEADLINE_S)
    so_error = client.getsockopt("SO_ERROR")
    return {
        "connect": started,
        "writable": writable,
        "so_error": errno.errorcode.get(so_error, f"errno{so_error}") if so_error else "ok",
    }
