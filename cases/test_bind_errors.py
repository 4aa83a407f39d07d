"""bind(): descriptor errors, state misuse, privileged ports and wildcard conflicts."""

from __future__ import annotations

import os
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    INET,
    LOOPBACK,
    NOBODY,
    TYPES,
    WILDCARD,
    ChildSkip,
    Kit,
    as_user,
    bind_sockaddr,
    case,
    credentials_mechanism,
    darwin,
    freebsd,
    linux,
    mslearn,
    pack_sockaddr,
    posix,
)

# Below 1024 on every platform that reserves ports; bind() checks the
# privilege before the port's owner, so a holder elsewhere cannot mask it.
PRIVILEGED_PORT = 1
UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


@case(
    "bind.closed_descriptor",
    "bind() on a descriptor that is not open fails with EBADF",
    cites=[
        posix("bind", "ERRORS: EBADF the socket argument is not a valid file descriptor"),
        linux("bind(2)", "ERRORS: EBADF sockfd is not a valid file descriptor"),
        freebsd("bind(2)", "ERRORS: EBADF"),
        mslearn("bind", "WSAENOTSOCK: the descriptor is not a socket"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:bind:EBADF"],
)
def test_closed_descriptor(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A socket closed through its own API refuses bind() (the call reaches the kernel as -1)."""
    s = kit.socket(family, "stream")
    s.close()
    return {"errno": kit.outcome(s.bind, kit.address(family))}


@case(
    "bind.not_a_socket",
    "bind() on a descriptor that is not a socket fails with ENOTSOCK",
    cites=[
        posix("bind", "ERRORS: ENOTSOCK the file descriptor does not refer to a socket"),
        linux("bind(2)", "ERRORS: ENOTSOCK the file descriptor does not refer to a socket"),
        freebsd("bind(2)", "ERRORS: ENOTSOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:bind:ENOTSOCK"],
)
def test_not_a_socket(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind() on a pipe's read end with a well-formed address of the family."""
    # The socket module cannot wrap a pipe (it probes the descriptor with
    # getsockopt first), hence the libc backend only.
    sockaddr = pack_sockaddr(family, kit.address(family))
    r, w = os.pipe()
    try:
        return {"errno": kit.outcome(bind_sockaddr, r, sockaddr)}
    finally:
        os.close(r)
        os.close(w)


@case(
    "bind.shut_down",
    "bind() on an unbound AF_UNIX socket that was connected and then shut down",
    cites=[
        posix("bind", "ERRORS: EINVAL the socket has been shut down"),
        linux("unix(7)", "Address format: a socket is bound by bind() or by autobind"),
    ],
    params={"family": ("unix",), "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EINVAL.shutdown"],
)
def test_shut_down(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A client connected without bind(), shut down both ways, is then given a path."""
    server = kit.bound(family, type)
    if type == "stream":
        server.listen(1)
    client = kit.socket(family, type)
    kit.connect_within(client, server.getsockname())
    client.shutdown("rdwr")
    return {"errno": kit.outcome(client.bind, kit.address(family))}


@case(
    "bind.null_address",
    "bind() of an AF_UNIX socket with a null address",
    cites=[
        posix("bind", "ERRORS: EDESTADDRREQ or EISDIR the address argument is a null pointer"),
        linux("bind(2)", "ERRORS: EINVAL addrlen is wrong, or addr is not a valid address"),
    ],
    params={"family": ("unix",), "backend": ("libc",)},
    asserts=["posix:bind:EDESTADDRREQ"],
)
def test_null_address(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind(fd, NULL, 0) is refused; which errno names the missing address is the point."""
    s = kit.socket(family, "stream")
    return {"errno": kit.outcome(bind_sockaddr, s.fileno(), None, 0)}


@case(
    "bind.privileged_port",
    "bind() to a port below 1024 by an unprivileged user fails with EACCES",
    cites=[
        posix("bind", "ERRORS: EACCES the specified address is protected and the current "
                      "user does not have permission to bind to it"),
        linux("bind(2)", "ERRORS: EACCES the address is protected, and the user is not the "
                         "superuser"),
        linux("ip(7)", "ERRORS: EACCES; port numbers below 1024 need CAP_NET_BIND_SERVICE"),
        freebsd("bind(2)", "ERRORS: EACCES the requested address is protected"),
        darwin("bind(2)", "ERRORS: EACCES the requested address is protected"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EACCES.address", "linux:ip.7:EACCES"],
)
def test_privileged_port(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """As uid 65534 (as_user: a thread or a child drops root) bind() to loopback port 1 fails."""
    def as_nobody() -> dict[str, Any]:
        try:
            with open(UNPRIVILEGED_PORT_START) as f:
                start = int(f.read())
        except OSError:
            start = None  # no such switch: the classic 1024 boundary applies
        if start is not None and start <= PRIVILEGED_PORT:
            raise ChildSkip(f"ip_unprivileged_port_start is {start}: no port is privileged here")
        s = kit.socket(family, type)
        return {"errno": kit.outcome(s.bind, (LOOPBACK[family], PRIVILEGED_PORT)),
                "uid": os.geteuid()}

    result = as_user(as_nobody, NOBODY)
    kit.note(uid=result.pop("uid"), port=PRIVILEGED_PORT, credentials=credentials_mechanism())
    return result


@case(
    "bind.connected",
    "bind() on a socket connected without an explicit bind()",
    cites=[
        posix("bind", "ERRORS: EISCONN the socket is already connected (may fail); "
                      "EINVAL the socket is already bound"),
        linux("ip(7)", "an unbound socket is bound to an ephemeral port by connect()"),
        linux("unix(7)", "Address format: an unbound AF_UNIX socket stays unnamed when it "
                         "connects"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EISCONN"],
)
def test_connected(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """After connect() (which names an inet socket, not an AF_UNIX one) bind() is tried."""
    server = kit.bound(family, type)
    if type == "stream":
        server.listen(1)
    client = kit.socket(family, type)
    kit.connect_within(client, server.getsockname())
    return {"errno": kit.outcome(client.bind, kit.address(family))}


@case(
    "bind.wildcard_conflict",
    "the wildcard address and a specific address on one port conflict, in either order",
    cites=[
        posix("bind", "ERRORS: EADDRINUSE the specified address is already in use"),
        linux("ip(7)", "DESCRIPTION: INADDR_ANY binds to all local interfaces; only one IP "
                       "socket may be bound to any given local (address, port) pair"),
        mslearn("bind", "WSAEADDRINUSE"),
    ],
    params={"family": INET, "type": TYPES, "first": ("wildcard", "loopback"),
            "backend": BACKENDS},
    asserts=["linux:ip.7:INADDR_ANY"],
)
def test_wildcard_conflict(
    family: str, type: str, first: str, backend: str, kit: Kit
) -> dict[str, Any]:
    """A port held on the wildcard refuses loopback, and held on loopback refuses the wildcard."""
    kit.private_network()  # a wildcard binding is reachable from the network while open
    hosts = {"wildcard": WILDCARD[family], "loopback": LOOPBACK[family]}
    second = "loopback" if first == "wildcard" else "wildcard"
    holder = kit.socket(family, type)
    holder.bind((hosts[first], 0))
    port = holder.getsockname()[1]
    kit.note(port=port)
    return {"errno": kit.outcome(kit.socket(family, type).bind, (hosts[second], port))}
