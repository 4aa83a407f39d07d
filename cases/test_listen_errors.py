"""listen(): descriptor errors and listen() in the wrong state."""

from __future__ import annotations

import os
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    Kit,
    case,
    freebsd,
    linux,
    listen_fd,
    mslearn,
    posix,
)


@case(
    "listen.closed_descriptor",
    "listen() on a descriptor that is not open fails with EBADF",
    cites=[
        posix("listen", "ERRORS: EBADF the socket argument is not a valid file descriptor"),
        linux("listen(2)", "ERRORS: EBADF sockfd is not a valid file descriptor"),
        freebsd("listen(2)", "ERRORS: EBADF"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:listen:EBADF"],
)
def test_closed_descriptor(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A bound stream socket, closed through its own API, refuses listen()."""
    s = kit.bound(family, "stream")
    s.close()
    return {"errno": kit.outcome(s.listen, 1)}


@case(
    "listen.not_a_socket",
    "listen() on a descriptor that is not a socket fails with ENOTSOCK",
    cites=[
        posix("listen", "ERRORS: ENOTSOCK the file descriptor does not refer to a socket"),
        linux("listen(2)", "ERRORS: ENOTSOCK the file descriptor does not refer to a socket"),
        freebsd("listen(2)", "ERRORS: ENOTSOCK"),
    ],
    params={"backend": ("libc",)},
    asserts=["posix:listen:ENOTSOCK"],
)
def test_not_a_socket(backend: str, kit: Kit) -> dict[str, Any]:
    """listen() on a pipe's read end (the socket module cannot wrap a pipe, hence libc)."""
    r, w = os.pipe()
    try:
        return {"errno": kit.outcome(listen_fd, r, 1)}
    finally:
        os.close(r)
        os.close(w)


@case(
    "listen.connected",
    "listen() on a connected stream socket fails with EINVAL",
    cites=[
        posix("listen", "ERRORS: EINVAL the socket is already connected"),
        linux("listen(2)", "ERRORS (via the POSIX page); inet_listen() refuses a socket "
                           "that is not closed or listening"),
        linux("unix(7)", "ERRORS: EINVAL the socket was in an invalid state for the "
                         "applied operation"),
        mslearn("listen", "WSAEISCONN: the socket is already connected"),
    ],
    params={"family": ALL_FAMILIES, "end": ("client", "accepted"), "backend": BACKENDS},
    asserts=["posix:listen:EINVAL.connected", "linux:listen.2:EINVAL"],
)
def test_connected(family: str, end: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Neither end of an established connection can become a listener."""
    server = kit.listener(family)
    client = kit.socket(family, "stream")
    kit.connect_within(client, server.getsockname())
    accepted, _ = kit.accept_within(server)
    target = client if end == "client" else accepted
    return {"errno": kit.outcome(target.listen, 1)}


@case(
    "listen.shut_down",
    "listen() again on a listener that was shut down both ways",
    cites=[
        posix("listen", "ERRORS: EINVAL the socket has been shut down (may fail)"),
        posix("shutdown", "DESCRIPTION: SHUT_RDWR disables further send and receive "
                          "operations"),
        linux("shutdown(2)", "DESCRIPTION"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:listen:EINVAL.shutdown"],
)
def test_shut_down(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """shutdown(SHUT_RDWR) on a listener, then listen(): refused, or listening again."""
    server = kit.listener(family)
    shut = kit.outcome(server.shutdown, "rdwr")
    relisten = kit.outcome(server.listen, 1)
    obs: dict[str, Any] = {"shutdown": shut, "listen": relisten}
    if relisten == "ok":
        client = kit.socket(family, "stream")
        obs["client_connect"] = kit.outcome(kit.connect_within, client, server.getsockname())
    return obs


@case(
    "listen.unix_unbound",
    "listen() on an AF_UNIX stream socket that has no address",
    cites=[
        posix("listen", "ERRORS: EDESTADDRREQ the socket is not bound to a local address, "
                        "and the protocol does not support listening on an unbound socket"),
        linux("unix(7)", "ERRORS: EINVAL the socket was in an invalid state for the applied "
                         "operation"),
    ],
    params={"family": ("unix",), "backend": BACKENDS},
    asserts=["posix:listen:EDESTADDRREQ", "linux:unix.7:listen_unbound"],
)
def test_unix_unbound(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """AF_UNIX has no port to pick: an unbound socket cannot listen (or is autobound)."""
    s = kit.socket(family, "stream")
    return {"errno": kit.outcome(s.listen, 1)}
