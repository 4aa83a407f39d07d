"""accept(): taking a connection from a listening socket's queue."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    BLOCKING,
    DEADLINE_S,
    INET,
    BlockedCall,
    DeadlineExceeded,
    HarnessError,
    Kit,
    Socket,
    case,
    darwin,
    errno_name,
    freebsd,
    linux,
    mslearn,
    posix,
    prove_blocked,
    seed,
)


@case(
    "accept.blocks",
    "a blocking accept() with nothing pending blocks until a client connects",
    cites=[
        seed("19", "accept blocks by default until a connection request arrives"),
        posix("accept", "DESCRIPTION: blocks until a connection is present"),
        linux("accept(2)", "DESCRIPTION"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_blocks(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """accept() on a blocking listener waits in the kernel, then returns the new connection."""
    listener = kit.listener(family)
    call = BlockedCall(listener.accept).start()
    proof = prove_blocked(call, "accept")
    client = kit.socket(family, "stream")
    kit.connect_within(client, listener.getsockname())
    if not call.wait(DEADLINE_S):
        listener.shutdown("rdwr")  # wake the stuck thread so no thread outlives the case
        call.wait(DEADLINE_S)
        raise DeadlineExceeded(f"accept() did not return within {DEADLINE_S}s of a connect()")
    if call.error is not None:
        return {**proof, "returned": errno_name(call.error)
                if isinstance(call.error, OSError) else repr(call.error)}
    return {**proof, "returned": "connection"}


@case(
    "accept.nonblocking.would_block",
    "accept() on a non-blocking listener with nothing pending fails with EAGAIN/EWOULDBLOCK",
    cites=[
        posix("accept", "ERRORS: EAGAIN or EWOULDBLOCK"),
        linux("accept(2)", "ERRORS: EAGAIN or EWOULDBLOCK"),
        freebsd("accept(2)", "ERRORS: EWOULDBLOCK"),
        mslearn("accept", "WSAEWOULDBLOCK"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:accept:EAGAIN", "linux:accept.2:EAGAIN"],
)
def test_nonblocking_would_block(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A non-blocking accept() with an empty queue returns at once with EWOULDBLOCK."""
    listener = kit.listener(family)
    listener.set_nonblocking(True)
    return {"errno": kit.outcome(listener.accept)}


def _finish(fn: Callable[[], Any], release: Callable[[], None]) -> str:
    """Run one call on its own thread: ``"ok"`` or its errno name.

    A call still running at the deadline is released (``release`` makes it
    return) and reported as a timeout, so a stack that blocks where it
    should fail costs one instance, not the run.
    """
    call = BlockedCall(fn).start()
    if not call.wait(DEADLINE_S):
        with contextlib.suppress(OSError):
            release()
        call.wait(DEADLINE_S)
        raise DeadlineExceeded(f"the call did not return within {DEADLINE_S}s")
    if call.error is None:
        return "ok"
    if isinstance(call.error, OSError):
        return errno_name(call.error)
    raise call.error


def _round_trip(kit: Kit, client: Socket, accepted: Socket, tag: bytes) -> bool:
    """Whether bytes cross the connection both ways: client -> accepted -> client."""
    client.send(b"ping-" + tag)
    if kit.recv_within(accepted) != b"ping-" + tag:
        return False
    accepted.send(b"pong-" + tag)
    return kit.recv_within(client) == b"pong-" + tag


@case(
    "accept.new_socket",
    "accept() returns a new connected socket; the listener keeps listening for more clients",
    cites=[
        seed("19", "accept returns a new socket for talking to the peer; the original one "
                   "goes on listening"),
        posix("accept", "DESCRIPTION: creates a new socket and allocates a new descriptor"),
        linux("accept(2)", "DESCRIPTION: the original socket sockfd is unaffected"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
)
def test_new_socket(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Each accept() yields a fresh descriptor for its own client; the listener accepts again."""
    listener = kit.listener(family)
    first = kit.socket(family, "stream")
    kit.connect_within(first, listener.getsockname())
    first_conn, _ = kit.accept_within(listener)
    second = kit.socket(family, "stream")
    connected = kit.outcome(kit.connect_within, second, listener.getsockname())
    obs: dict[str, Any] = {
        "new_descriptor": kit.descriptor(first_conn) != kit.descriptor(listener),
        "listener_accepts_again": connected,
    }
    flowed = ["first"] if _round_trip(kit, first, first_conn, b"1") else []
    if connected == "ok":
        second_conn, _ = kit.accept_within(listener)
        obs["listener_accepts_again"] = "connection"
        if _round_trip(kit, second, second_conn, b"2"):
            flowed.append("second")
    obs["round_trip"] = flowed
    return obs


@case(
    "accept.peer_address",
    "the address accept() returns is the connecting client's own local address",
    cites=[
        seed("19", "accept stores the peer's address information in addr"),
        posix("accept", "DESCRIPTION: address of the connecting socket"),
        linux("accept(2)", "DESCRIPTION: addr is filled in with the address of the peer socket"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_peer_address(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """accept()'s address equals getsockname() of the client that connected."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    kit.connect_within(client, listener.getsockname())
    _, peer = kit.accept_within(listener)
    mine = client.getsockname()
    kit.note(accept_address=peer, client_getsockname=mine)
    return {"equals_client_getsockname": peer == mine}


@case(
    "accept.not_listening",
    "accept() on a bound socket that never called listen() fails with EINVAL",
    cites=[
        seed("15", "only listen() makes the kernel take connections on a socket"),
        posix("accept", "ERRORS: EINVAL the socket is not accepting connections"),
        linux("accept(2)", "ERRORS: EINVAL socket is not listening for connections"),
        freebsd("accept(2)", "ERRORS: EINVAL listen(2) has not been called"),
        mslearn("accept", "WSAEINVAL: listen was not invoked prior to accept"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS, "blocking": BLOCKING},
    asserts=["posix:accept:EINVAL", "linux:accept.2:EINVAL"],
)
def test_not_listening(family: str, backend: str, blocking: str, kit: Kit) -> dict[str, Any]:
    """accept() on a bound, non-listening stream socket fails at once with EINVAL."""
    sock = kit.bound(family, "stream")
    if blocking == "nonblocking":
        sock.set_nonblocking(True)
        return {"errno": kit.outcome(sock.accept)}

    def release() -> None:
        # A stack that waits instead of failing is woken by a real connection.
        sock.listen(1)
        kit.connect_within(kit.socket(family, "stream"), sock.getsockname())

    return {"errno": _finish(sock.accept, release)}


@case(
    "accept.inherits_nonblocking",
    "whether the socket accept() returns inherits O_NONBLOCK from the listener",
    cites=[
        posix("accept", "DESCRIPTION: silent on file status flags of the new socket"),
        linux("accept(2)", "on Linux the new socket does not inherit O_NONBLOCK"),
        freebsd("accept(2)", "DESCRIPTION: the new descriptor inherits O_NONBLOCK"),
        darwin("accept(2)", "DESCRIPTION: new socket with the same properties as s"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["linux:accept.2:O_NONBLOCK"],
)
def test_inherits_nonblocking(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A socket accepted from an O_NONBLOCK listener reports its own O_NONBLOCK flag (fcntl)."""
    listener = kit.listener(family)
    # O_NONBLOCK set on the listener itself, not through a Python timeout:
    # CPython forces accepted sockets to blocking only when the listener had one.
    listener.set_nonblocking(True)
    if not listener.is_nonblocking():
        raise HarnessError("set_nonblocking(True) left O_NONBLOCK clear on the listener")
    client = kit.socket(family, "stream")
    kit.connect_within(client, listener.getsockname())
    conn, _ = kit.accept_within(listener)
    return {"accepted_nonblocking": conn.is_nonblocking()}


@case(
    "accept.dgram",
    "accept() on a datagram socket fails with EOPNOTSUPP",
    cites=[
        posix("accept", "ERRORS: EOPNOTSUPP the socket type does not support accepting"),
        linux("accept(2)", "ERRORS: EOPNOTSUPP the socket is not of type SOCK_STREAM"),
        darwin("accept(2)", "ERRORS: EOPNOTSUPP"),
        mslearn("accept", "WSAEOPNOTSUPP"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:accept:EOPNOTSUPP", "linux:accept.2:EOPNOTSUPP"],
)
def test_dgram(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """accept() on a bound datagram socket is refused with EOPNOTSUPP."""
    sock = kit.bound(family, "dgram")
    # Non-blocking so a stack that waits for a "connection" answers at once;
    # the documented error does not depend on O_NONBLOCK.
    sock.set_nonblocking(True)
    return {"errno": kit.outcome(sock.accept)}
