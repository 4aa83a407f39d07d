"""connect(): the descriptor and address errors, state misuse, and failures of a pending connect."""

from __future__ import annotations

import errno
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    DEADLINE_S,
    INET,
    LOOPBACK,
    WILDCARD,
    Kit,
    Socket,
    case,
    darwin,
    freebsd,
    interrupt,
    linux,
    mslearn,
    pack_sockaddr,
    posix,
)

# The other family's address for each family, packed for the socket's own length.
_OTHER = {"inet": ("inet6", ("::1", 9)), "inet6": ("inet", ("127.0.0.1", 9)),
          "unix": ("inet", ("127.0.0.1", 9))}
_OWN_LENGTH = {"inet": 16, "inet6": 28, "unix": 16}


def _some_address(kit: Kit, family: str) -> Any:
    """A destination of the right family; nothing needs to listen there."""
    return kit.address(family) if family == "unix" else (LOOPBACK[family], 9)


def _errno_text(value: int) -> str:
    return errno.errorcode.get(value, f"errno{value}") if value else "ok"


@case(
    "connect.bad_descriptor",
    "connect() on a descriptor that is not open fails with EBADF",
    cites=[
        posix("connect", "ERRORS: EBADF the socket argument is not a valid file descriptor"),
        linux("connect(2)", "ERRORS: EBADF sockfd is not a valid open file descriptor"),
        freebsd("connect(2)", "ERRORS: EBADF"),
        darwin("connect(2)", "ERRORS: EBADF"),
        mslearn("connect", "WSAENOTSOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:connect:EBADF"],
)
def test_bad_descriptor(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """connect() on a socket that was closed reaches the kernel with a dead descriptor."""
    s = kit.socket(family, "stream")
    s.close()
    return {"errno": kit.outcome(s.connect, _some_address(kit, family))}


@case(
    "connect.not_a_socket",
    "connect() on a descriptor that is not a socket fails with ENOTSOCK",
    cites=[
        posix("connect", "ERRORS: ENOTSOCK the socket argument does not refer to a socket"),
        linux("connect(2)", "ERRORS: ENOTSOCK the file descriptor sockfd does not refer to "
                            "a socket"),
        freebsd("connect(2)", "ERRORS: ENOTSOCK"),
        darwin("connect(2)", "ERRORS: ENOTSOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:connect:ENOTSOCK"],
)
def test_not_a_socket(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """connect() on a pipe's descriptor (the socket module cannot wrap one, hence libc only)."""
    pipe = kit.pipe_socket(family, "stream")
    return {"errno": kit.outcome(pipe.connect, _some_address(kit, family))}


@case(
    "connect.wrong_family",
    "connect() with an address of another family fails (EAFNOSUPPORT)",
    cites=[
        posix("connect", "ERRORS: EAFNOSUPPORT the specified address is not a valid address "
                         "for the address family of the specified socket"),
        linux("connect(2)", "ERRORS: EAFNOSUPPORT the passed address didn't have the correct "
                            "address family in its sa_family field"),
        linux("unix(7)", "ERRORS: EINVAL AF_UNIX was not specified in the sun_family field"),
        freebsd("connect(2)", "ERRORS: EAFNOSUPPORT"),
        darwin("connect(2)", "ERRORS: EAFNOSUPPORT"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:connect:EAFNOSUPPORT", "linux:connect.2:EAFNOSUPPORT"],
)
def test_wrong_family(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The other family's loopback address, cut or padded to this family's address length.

    The length is right for the socket, so only the family field is wrong.
    """
    other, addr = _OTHER[family]
    raw = pack_sockaddr(other, addr)
    raw = (raw + bytes(_OWN_LENGTH[family]))[: _OWN_LENGTH[family]]
    s = kit.socket(family, "stream")
    return {"errno": kit.outcome(s.connect_raw, raw)}


@case(
    "connect.bad_address_length",
    "connect() with an address length too short for any address fails with EINVAL",
    cites=[
        posix("connect", "ERRORS: EINVAL the address_len argument is not a valid length for "
                         "the address family"),
        linux("connect(2)", "ERRORS: EINVAL (via the address family's own checks)"),
        freebsd("connect(2)", "ERRORS: EINVAL the namelen parameter is not valid"),
        darwin("connect(2)", "ERRORS: EINVAL"),
        mslearn("connect", "WSAEFAULT the namelen parameter is not valid"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:connect:EINVAL"],
)
def test_bad_address_length(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The first byte of a valid loopback address, with address_len 1."""
    raw = pack_sockaddr(family, _some_address(kit, family))[:1]
    s = kit.socket(family, "stream")
    return {"errno": kit.outcome(s.connect_raw, raw)}


@case(
    "connect.listening",
    "connect() on a listening socket fails; POSIX names EOPNOTSUPP, the stacks differ",
    cites=[
        posix("connect", "ERRORS (may fail): EOPNOTSUPP the socket is listening and cannot "
                         "be connected"),
        linux("connect(2)", "ERRORS: EISCONN the socket is already connected (a listener "
                            "counts); unix(7) stream: EINVAL"),
        freebsd("connect(2)", "ERRORS: EOPNOTSUPP"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:connect:EOPNOTSUPP", "linux:connect.2:listening"],
)
def test_listening(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A listener connect()s to another listener of its family."""
    listener, other = kit.listener(family), kit.listener(family)
    return {"errno": kit.outcome(kit.connect_within, listener, other.getsockname())}


def _free_port(kit: Kit, family: str) -> Any:
    """An address whose port no socket holds: bound by a placeholder, which is then closed.

    Racy by nature (another process may take the port); callers that see a
    connection treat that as a harness fault, as connect.tcp.refused does.
    """
    placeholder = kit.bound(family, "stream")
    addr = placeholder.getsockname()
    placeholder.close()
    return addr


@case(
    "connect.tcp.nonblocking_refused",
    "a refused non-blocking TCP connect() reports EINPROGRESS, then SO_ERROR = ECONNREFUSED",
    cites=[
        posix("connect", "ERRORS: EINPROGRESS; the outcome is learned with select() and "
                         "getsockopt(SO_ERROR)"),
        linux("connect(2)", "ERRORS: EINPROGRESS, select for writing, then SO_ERROR is one of "
                            "the usual error codes"),
        freebsd("connect(2)", "ERRORS: EINPROGRESS"),
        darwin("connect(2)", "ERRORS: EINPROGRESS"),
        mslearn("connect", "non-blocking sockets: WSAEWOULDBLOCK; a failure shows in the "
                           "exception set and SO_ERROR"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:connect:EINPROGRESS", "linux:connect.2:EINPROGRESS"],
)
def test_nonblocking_refused(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The refusal arrives after connect() returned: writable, SO_ERROR says why, once."""
    client = kit.bound(family, "stream")
    target = _free_port(kit, family)
    client.set_nonblocking(True)
    started = kit.outcome(client.connect, target)
    writable = kit.writable(client, DEADLINE_S)
    first = client.getsockopt("SO_ERROR")
    again = client.getsockopt("SO_ERROR")
    return {
        "connect": started,
        "writable": writable,
        "so_error": _errno_text(first),
        "so_error_again": _errno_text(again),
    }


@case(
    "connect.tcp.retry_after_refused",
    "after a refused connect(), the same socket connect()s to a listener",
    cites=[
        posix("connect", "DESCRIPTION: if connect() fails, the state of the socket is "
                         "unspecified; conforming applications close it"),
        linux("connect(2)", "NOTES: if connect() fails, consider the state of the socket as "
                            "unspecified"),
        freebsd("connect(2)", "DESCRIPTION"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:connect.2:failed_retry"],
)
def test_retry_after_refused(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A blocking connect() to a free port is refused; the socket then tries a listener."""
    client = kit.socket(family, "stream")
    first = kit.outcome(kit.connect_within, client, _free_port(kit, family))
    listener = kit.listener(family)
    return {"first": first, "retry": kit.outcome(kit.connect_within, client,
                                                 listener.getsockname())}


def _pending(kit: Kit, family: str, tries: int = 8) -> tuple[Socket | None, str, Socket]:
    """A non-blocking client whose connect() stays pending, towards a listener with a full queue.

    listen(0) leaves room for at most a few connections; once the accept queue
    is full the stack ignores further SYNs (listen(2)), so a client stays in
    SYN-SENT: EINPROGRESS and not writable right after. Returns (client, the
    last connect() outcome, listener); client is None if none stayed pending.
    """
    listener = kit.bound(family, "stream")
    listener.listen(0)
    last = "none"
    for _ in range(tries):
        c = kit.socket(family, "stream")
        c.set_nonblocking(True)
        last = kit.outcome(c.connect, listener.getsockname())
        if last == "EINPROGRESS" and not kit.writable(c, 0):
            return c, last, listener
    return None, last, listener


@case(
    "connect.tcp.already_pending",
    "a second connect() while a non-blocking connect() is pending fails with EALREADY",
    cites=[
        posix("connect", "ERRORS: EALREADY a connection request is already in progress for "
                         "the specified socket"),
        linux("connect(2)", "ERRORS: EALREADY the socket is nonblocking and a previous "
                            "connection attempt has not yet been completed"),
        linux("listen(2)", "DESCRIPTION: with the queue full, a request may be ignored so "
                           "that a later retry succeeds"),
        freebsd("connect(2)", "ERRORS: EALREADY"),
        darwin("connect(2)", "ERRORS: EALREADY"),
        mslearn("connect", "WSAEALREADY"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:connect:EALREADY", "linux:connect.2:EALREADY"],
)
def test_already_pending(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A client held in SYN-SENT by a full listen queue connect()s again."""
    client, last, listener = _pending(kit, family)
    if client is None:
        return {"pending": False, "queue_full_connect": last}
    return {"pending": True, "second": kit.outcome(client.connect, listener.getsockname())}


@case(
    "connect.tcp.wildcard_destination",
    "TCP connect() to the wildcard address, and to port 0",
    cites=[
        posix("connect", "ERRORS: EADDRNOTAVAIL the specified address is not available from "
                         "the local machine; ECONNREFUSED"),
        linux("ip(7)", "INADDR_ANY (0.0.0.0) means any address for binding"),
        mslearn("connect", "WSAEADDRNOTAVAIL the remote address is not valid (such as "
                           "INADDR_ANY or in6addr_any); remote port 0"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_wildcard_destination(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Where connect() to the unspecified address and to port 0 of loopback leads."""
    listener = kit.listener(family)
    to_wildcard = kit.socket(family, "stream")
    wildcard = kit.outcome(kit.connect_within, to_wildcard,
                           (WILDCARD[family], listener.getsockname()[1]))
    reached = None
    if wildcard == "ok":
        reached = "listener" if kit.readable(listener, DEADLINE_S) else "nothing"
    to_zero = kit.socket(family, "stream")
    return {
        "wildcard": wildcard,
        "wildcard_reached": reached,
        "port_zero": kit.outcome(kit.connect_within, to_zero, (LOOPBACK[family], 0)),
    }


@case(
    "connect.eintr",
    "a blocking connect() interrupted by a caught signal fails with EINTR",
    cites=[
        posix("connect", "ERRORS: EINTR the attempt to establish a connection was interrupted "
                         "by delivery of a signal that was caught; the connection shall be "
                         "established asynchronously"),
        linux("connect(2)", "ERRORS: EINTR the system call was interrupted by a signal that "
                            "was caught"),
        freebsd("connect(2)", "ERRORS: EINTR"),
        darwin("connect(2)", "ERRORS: EINTR"),
    ],
    # Python's socket module waits out an interrupted connect (PEP 475).
    params={"family": INET, "backend": ("libc",)},
    asserts=["posix:connect:EINTR"],
)
def test_eintr(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A blocking connect() held in SYN-SENT by a full listen queue gets a signal."""
    held, _, listener = _pending(kit, family)
    if held is None:
        return {"pending": False}
    client = kit.socket(family, "stream")
    return {"pending": True,
            **interrupt(kit, client, lambda: client.connect(listener.getsockname()), "connect")}


@case(
    "connect.tcp.duplicate_tuple",
    "connect() that would repeat an existing connection's address pair fails",
    cites=[
        posix("connect", "ERRORS (may fail): EADDRINUSE attempt to establish a connection that "
                         "uses addresses that are already in use"),
        linux("connect(2)", "ERRORS: EADDRNOTAVAIL; EADDRINUSE local address is already in use"),
        linux("socket(7)", "SO_REUSEADDR: lets two sockets bind the same local address"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:connect:EADDRINUSE"],
)
def test_duplicate_tuple(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Two SO_REUSEADDR sockets on one local address connect() to the same listener."""
    listener = kit.listener(family)
    first = kit.socket(family, "stream")
    first.setsockopt("SO_REUSEADDR", 1)
    first.bind(kit.address(family))
    local = first.getsockname()
    second = kit.socket(family, "stream")
    second.setsockopt("SO_REUSEADDR", 1)
    shared = kit.outcome(second.bind, local)
    if shared != "ok":
        return {"second_bind": shared}
    kit.connect_within(first, listener.getsockname())
    return {"second_bind": shared,
            "errno": kit.outcome(kit.connect_within, second, listener.getsockname())}
