"""sendto() errors: dead descriptors, bad destinations, stream sockets, AF_UNIX paths, ICMP."""

from __future__ import annotations

import os
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    DEADLINE_S,
    INET,
    LOOPBACK,
    NOBODY,
    WILDCARD,
    DeadlineExceeded,
    HarnessError,
    Kit,
    Socket,
    as_user,
    case,
    credentials_mechanism,
    darwin,
    errno_name,
    freebsd,
    interrupt,
    linux,
    mslearn,
    pack_sockaddr,
    posix,
    sigpipe_during,
)

FLAGS = ("none", "MSG_NOSIGNAL")
# The other family's address for each family, cut or padded to the socket's own length.
_OTHER = {"inet": ("inet6", ("::1", 9)), "inet6": ("inet", ("127.0.0.1", 9)),
          "unix": ("inet", ("127.0.0.1", 9))}
_OWN_LENGTH = {"inet": 16, "inet6": 28, "unix": 16}
# How many datagrams an AF_UNIX receiver may queue before the test gives up on a limit.
QUEUE_LIMIT = 100_000


def _nowhere(kit: Kit, family: str) -> Any:
    """A destination of the family where no socket is bound (port 9, or an unused path)."""
    return kit.address(family) if family == "unix" else (LOOPBACK[family], 9)


def _nosignal(flag: str) -> tuple[str, ...]:
    return () if flag == "none" else (flag,)


@case(
    "sendto.bad_descriptor",
    "sendto() on a descriptor that is not open fails with EBADF",
    cites=[
        posix("sendto", "ERRORS: EBADF the socket argument is not a valid file descriptor"),
        linux("send(2)", "ERRORS: EBADF sockfd is not a valid open file descriptor"),
        freebsd("send(2)", "ERRORS: EBADF"),
        darwin("send(2)", "ERRORS: EBADF"),
        mslearn("sendto", "WSAENOTSOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:sendto:EBADF"],
)
def test_bad_descriptor(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto() on a datagram socket after it was closed."""
    s = kit.socket(family, "dgram")
    s.close()
    return {"errno": kit.outcome(s.sendto, b"x", _nowhere(kit, family))}


@case(
    "sendto.not_a_socket",
    "sendto() on a descriptor that is not a socket fails with ENOTSOCK",
    cites=[
        posix("sendto", "ERRORS: ENOTSOCK the socket argument does not refer to a socket"),
        linux("send(2)", "ERRORS: ENOTSOCK"),
        freebsd("send(2)", "ERRORS: ENOTSOCK"),
        darwin("send(2)", "ERRORS: ENOTSOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:sendto:ENOTSOCK"],
)
def test_not_a_socket(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto() on a pipe's read end (the socket module cannot wrap one, hence libc only)."""
    pipe = kit.pipe_socket(family, "dgram")
    return {"errno": kit.outcome(pipe.sendto, b"x", _nowhere(kit, family))}


@case(
    "sendto.wrong_family",
    "sendto() to an address of another family fails (EAFNOSUPPORT)",
    cites=[
        posix("sendto", "ERRORS: EAFNOSUPPORT addresses in the specified address family "
                        "cannot be used with this socket"),
        linux("unix(7)", "ERRORS: EINVAL AF_UNIX was not specified in the sun_family field"),
        freebsd("send(2)", "ERRORS: EAFNOSUPPORT"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:sendto:EAFNOSUPPORT"],
)
def test_wrong_family(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The other family's loopback address at this family's length: only the family is wrong."""
    other, addr = _OTHER[family]
    raw = (pack_sockaddr(other, addr) + bytes(_OWN_LENGTH[family]))[: _OWN_LENGTH[family]]
    s = kit.socket(family, "dgram")
    return {"errno": kit.outcome(s.sendto_raw, b"x", raw)}


@case(
    "sendto.bad_address_length",
    "sendto() with a destination length too short for any address fails with EINVAL",
    cites=[
        posix("sendto", "ERRORS (may fail): EINVAL the dest_len argument is not a valid length "
                        "for the address family"),
        linux("send(2)", "ERRORS: EINVAL invalid argument passed"),
        freebsd("send(2)", "ERRORS: EINVAL"),
        mslearn("sendto", "WSAEFAULT the tolen parameter is too small"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:sendto:EINVAL"],
)
def test_bad_address_length(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The first byte of a loopback address, with dest_len 1."""
    raw = pack_sockaddr(family, _nowhere(kit, family))[:1]
    s = kit.socket(family, "dgram")
    return {"errno": kit.outcome(s.sendto_raw, b"x", raw)}


@case(
    "sendto.udp.unconnected_null",
    "sendto() without a destination on an unconnected UDP socket fails with EDESTADDRREQ",
    cites=[
        posix("sendto", "ERRORS (may fail): EDESTADDRREQ the socket is not connection-mode "
                        "and does not have its peer address set, and no destination address "
                        "was specified"),
        linux("send(2)", "ERRORS: EDESTADDRREQ the socket is not connection-mode, and no peer "
                         "address is set"),
        freebsd("send(2)", "ERRORS: EDESTADDRREQ"),
    ],
    params={"family": INET, "backend": ("libc",)},
    asserts=["posix:sendto:EDESTADDRREQ"],
)
def test_unconnected_null(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto(fd, buf, len, 0, NULL, 0) on a fresh UDP socket (the C API only)."""
    s = kit.socket(family, "dgram")
    return {"errno": kit.outcome(s.sendto, b"x", None)}


@case(
    "sendto.udp.port_zero",
    "sendto() to port 0 of loopback",
    cites=[
        posix("sendto", "ERRORS (may fail): EINVAL; port 0 as a destination is not defined"),
        linux("udp(7)", "ERRORS: see ip(7); kernel: udp_sendmsg() refuses a zero port"),
        mslearn("sendto", "WSAEADDRNOTAVAIL the remote address is not valid (remote port 0)"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_port_zero(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A datagram to (loopback, 0)."""
    s = kit.socket(family, "dgram")
    return {"errno": kit.outcome(s.sendto, b"x", (LOOPBACK[family], 0))}


@case(
    "sendto.udp.wildcard_destination",
    "sendto() to the unspecified address: delivered to this host, or refused",
    cites=[
        posix("sendto", "DESCRIPTION: the message is sent to the address specified by "
                        "dest_addr; what the unspecified address means there is not defined"),
        linux("ip(7)", "INADDR_ANY (0.0.0.0) means any address for binding"),
        mslearn("sendto", "WSAEADDRNOTAVAIL the remote address is not valid (such as "
                          "ADDR_ANY)"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_wildcard_destination(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A datagram to (wildcard, the receiver's port), then a marker to the receiver itself."""
    receiver = kit.bound(family, "dgram")
    sender = kit.socket(family, "dgram")
    port = receiver.getsockname()[1]
    result = kit.outcome(sender.sendto, b"wild", (WILDCARD[family], port))
    sender.sendto(b"marker", receiver.getsockname())
    got = kit.drain(receiver, b"marker")
    return {"sendto": result, "delivered": b"wild" in got}


@case(
    "sendto.stream.unconnected",
    "sendto() with an address on a stream socket that never connected fails",
    cites=[
        posix("sendto", "ERRORS: ENOTCONN the socket is connection-mode but is not connected"),
        linux("send(2)", "ERRORS: ENOTCONN; BUGS: Linux may return EPIPE instead of ENOTCONN"),
        linux("unix(7)", "ERRORS: EOPNOTSUPP stream operation called on a non-stream "
                         "oriented socket, or an unsupported option"),
        mslearn("sendto", "WSAENOTCONN"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:sendto:ENOTCONN"],
)
def test_stream_unconnected(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto() to a listener's address from a fresh stream socket: no connection is made."""
    listener = kit.listener(family)
    s = kit.socket(family, "stream")
    result = kit.outcome(s.sendto, b"x", listener.getsockname(), ("MSG_NOSIGNAL",))
    return {"errno": result, "connection_made": kit.readable(listener, 0)}


@case(
    "sendto.unix.stream_connected_address",
    "sendto() with an address on a connected AF_UNIX stream socket fails with EISCONN",
    cites=[
        posix("sendto", "ERRORS (may fail): EISCONN a destination address was specified and "
                        "the socket is already connected"),
        linux("send(2)", "ERRORS: EISCONN the connection-mode socket was connected already "
                         "but a recipient was specified"),
        freebsd("send(2)", "ERRORS: EISCONN"),
    ],
    params={"family": ("unix",), "backend": BACKENDS},
    asserts=["posix:sendto:EISCONN", "linux:send.2:EISCONN"],
)
def test_unix_stream_connected_address(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The connected client names its own peer's path."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    kit.connect_within(client, listener.getsockname())
    return {"errno": kit.outcome(client.sendto, b"x", listener.getsockname(), ())}


@case(
    "sendto.udp.shutdown_wr",
    "sendto() on a UDP socket shut down for writing fails with EPIPE",
    cites=[
        posix("sendto", "ERRORS: EPIPE the socket is shut down for writing"),
        posix("shutdown", "SHUT_WR: disables further send operations"),
        linux("send(2)", "ERRORS: EPIPE the local end has been shut down"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:sendto:EPIPE"],
)
def test_udp_shutdown_wr(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A connected UDP socket after shutdown(SHUT_WR) names its peer in sendto()."""
    sender, receiver = kit.connected(family, "dgram")
    # A stack may refuse shutdown() on a datagram socket (lwIP: EOPNOTSUPP);
    # that refusal is the observation, not a harness fault.
    shut = kit.outcome(sender.shutdown, "wr")
    if shut != "ok":
        return {"shutdown": shut}
    return {"errno": kit.outcome(sender.sendto, b"x", receiver.getsockname(), ())}


@case(
    "sendto.stream.shutdown_wr",
    "sendto() without an address after SHUT_WR: EPIPE, and SIGPIPE unless MSG_NOSIGNAL",
    cites=[
        posix("sendto", "ERRORS: EPIPE; SIGPIPE is generated for SOCK_STREAM unless "
                        "MSG_NOSIGNAL is set"),
        posix("sendto", "MSG_NOSIGNAL"),
        linux("send(2)", "MSG_NOSIGNAL; ERRORS: EPIPE"),
        freebsd("send(2)", "MSG_NOSIGNAL"),
    ],
    # sendto() with a NULL address: the C API only.
    params={"family": ALL_FAMILIES, "flags": FLAGS, "backend": ("libc",)},
    asserts=["posix:sendto:MSG_NOSIGNAL", "posix:sendto:EPIPE"],
)
def test_stream_shutdown_wr(family: str, flags: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The signal is watched with SIGPIPE blocked, so it is seen but never acts."""
    client, _ = kit.connected(family)
    client.shutdown("wr")
    outcome: list[str] = []
    raised = sigpipe_during(
        lambda: outcome.append(kit.outcome(client.sendto, b"x", None, _nosignal(flags))))
    return {"errno": outcome[0], "sigpipe": raised}


@case(
    "sendto.reset",
    "sendto() on a TCP connection the peer reset fails with ECONNRESET",
    cites=[
        posix("sendto", "ERRORS: ECONNRESET a connection was forcibly closed by a peer"),
        linux("send(2)", "ERRORS: ECONNRESET connection reset by peer"),
        mslearn("sendto", "WSAECONNRESET"),
    ],
    # sendto() with a NULL address: the C API only.
    params={"family": INET, "backend": ("libc",)},
    asserts=["posix:sendto:ECONNRESET"],
)
def test_reset(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The peer closes with SO_LINGER {1, 0}; sendto(NULL) reports the reset."""
    import select

    client, peer = kit.connected(family)
    peer.setsockopt("SO_LINGER", (1, 0))
    peer.close()
    p = select.poll()
    p.register(client.fileno(), select.POLLHUP)
    if not p.poll(DEADLINE_S * 1000):
        raise DeadlineExceeded(f"the reset did not arrive within {DEADLINE_S}s")
    return {"errno": kit.outcome(client.sendto, b"x", None, ("MSG_NOSIGNAL",))}


PATHS = ("missing", "not_directory", "symlink_loop")


def _bad_path(kit: Kit, kind: str) -> str:
    """An AF_UNIX destination path that fails in the named way."""
    base = kit.address("unix")  # a fresh, unused name in the case's private directory
    if kind == "missing":
        return base
    if kind == "not_directory":
        with open(base, "w"):
            pass
        return os.path.join(base, "s")
    os.symlink(base + "b", base + "a")
    os.symlink(base + "a", base + "b")
    return base + "a"


@case(
    "sendto.unix.bad_path",
    "an AF_UNIX datagram to a path that cannot name a socket fails with the path's errno",
    cites=[
        posix("sendto", "ERRORS (AF_UNIX): ENOENT a component of the pathname does not name "
                        "an existing file; ENOTDIR a component of the path prefix is not a "
                        "directory; ELOOP a loop exists in symbolic links"),
        linux("unix(7)", "ERRORS: ENOENT the pathname in remote address does not exist; "
                         "ENOTDIR; ELOOP"),
        freebsd("send(2)", "ERRORS"),
    ],
    params={"path": PATHS, "backend": BACKENDS},
    asserts=["posix:sendto:ENOENT", "posix:sendto:ENOTDIR", "posix:sendto:ELOOP"],
)
def test_unix_bad_path(path: str, backend: str, kit: Kit) -> dict[str, Any]:
    """An unbound AF_UNIX datagram socket sends to the bad path."""
    s = kit.socket("unix", "dgram")
    return {"errno": kit.outcome(s.sendto, b"x", _bad_path(kit, path), ())}


def _fill_receiver(sender: Socket, dest: Any) -> tuple[int, str]:
    """Send small datagrams until the stack refuses; (datagrams taken, refusing errno)."""
    for n in range(QUEUE_LIMIT):
        try:
            sender.sendto(b"d" * 64, dest, ())
        except OSError as exc:
            return n, errno_name(exc)
    raise HarnessError(f"the receiver queued {QUEUE_LIMIT} datagrams without refusing")


@case(
    "sendto.unix.queue_full",
    "a non-blocking AF_UNIX datagram sender to a receiver that does not read gets EAGAIN",
    cites=[
        posix("sendto", "ERRORS: EAGAIN or EWOULDBLOCK the socket's file descriptor is marked "
                        "O_NONBLOCK and the requested operation would block"),
        linux("unix(7)", "/proc/sys/net/unix/max_dgram_qlen: the datagram queue length limit"),
        linux("send(2)", "ERRORS: EAGAIN"),
    ],
    params={"backend": BACKENDS},
    asserts=["posix:sendto:EAGAIN"],
)
def test_unix_queue_full(backend: str, kit: Kit) -> dict[str, Any]:
    """Datagrams to a bound receiver that never reads, until the sender is refused."""
    receiver = kit.bound("unix", "dgram")
    sender = kit.socket("unix", "dgram")
    sender.set_nonblocking(True)
    taken, refused = _fill_receiver(sender, receiver.getsockname())
    kit.note(datagrams_before_refusal=taken)
    return {"errno": refused, "took_some": taken > 0}


@case(
    "sendto.eintr",
    "a sendto() blocked on a full AF_UNIX receiver and interrupted by a caught signal: EINTR",
    cites=[
        posix("sendto", "ERRORS: EINTR a signal interrupted sendto() before any data was "
                        "transmitted"),
        linux("send(2)", "ERRORS: EINTR"),
        linux("signal(7)", "Interruption of system calls: sendto() fails with EINTR when the "
                           "handler has no SA_RESTART"),
    ],
    # Python's socket module retries a call a signal interrupted (PEP 475).
    params={"backend": ("libc",)},
    asserts=["posix:sendto:EINTR"],
)
def test_eintr(backend: str, kit: Kit) -> dict[str, Any]:
    """The receiver's queue is filled without blocking; then a blocking sendto() parks."""
    receiver = kit.bound("unix", "dgram")
    sender = kit.socket("unix", "dgram")
    dest = receiver.getsockname()
    sender.set_nonblocking(True)
    _fill_receiver(sender, dest)
    sender.set_nonblocking(False)
    return interrupt(kit, sender, lambda: sender.sendto(b"d" * 64, dest, ()), "send")


@case(
    "sendto.udp.icmp_unconnected",
    "an unconnected UDP socket is told nothing when its datagram meets a closed port",
    cites=[
        linux("udp(7)", "ERROR HANDLING: without IP_RECVERR, errors are reported only on "
                        "connected sockets"),
        posix("sendto", "DESCRIPTION: successful completion does not guarantee delivery"),
        mslearn("recvfrom", "WSAECONNRESET on a UDP socket: a previous send operation "
                            "resulted in an ICMP Port Unreachable message"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:udp.7:IP_RECVERR"],
)
def test_icmp_unconnected(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """sendto() a port no socket holds, then a marker to itself: the next reads see no error.

    The marker is the barrier: once it arrived, the ICMP answer to the first
    datagram (sent earlier on the same loopback path) was processed too.
    """
    s = kit.bound(family, "dgram")
    closed = kit.bound(family, "dgram")
    target = closed.getsockname()
    closed.close()
    first = kit.outcome(s.sendto, b"lost", target, ())
    s.sendto(b"marker", s.getsockname(), ())
    got = kit.outcome(lambda: kit.drain(s, b"marker"))
    s.set_nonblocking(True)
    return {"sendto": first, "next_recv": got, "after": kit.outcome(s.recv, 64),
            "so_error": s.getsockopt("SO_ERROR") == 0}


@case(
    "sendto.udp.icmp_connected_once",
    "a connected UDP socket's next call of any kind reports ECONNREFUSED, once",
    cites=[
        linux("socket(2)", "DESCRIPTION: a pending network error is returned by the next "
                           "operation on the socket"),
        linux("udp(7)", "ERRORS: ECONNREFUSED no receiver was associated with the destination "
                        "address, possibly caused by a previous packet"),
        posix("getsockopt", "SO_ERROR: reports and clears the pending error"),
    ],
    level="should",
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:socket.2:pending_error"],
)
def test_icmp_connected_once(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send() to a closed port; after the error arrives, a send() reports it and a recv() not."""
    s = kit.bound(family, "dgram")
    closed = kit.bound(family, "dgram")
    target = closed.getsockname()
    closed.close()
    s.connect(target)
    first = kit.outcome(s.send, b"lost", ())
    # A pending error makes the socket readable; the deadline covers a stack
    # that never reports one.
    pending = kit.readable(s, DEADLINE_S)
    s.set_nonblocking(True)
    return {"send": first, "error_pending": pending, "next_send": kit.outcome(s.send, b"x", ()),
            "then_recv": kit.outcome(s.recv, 64)}


@case(
    "send.udp.more",
    "MSG_MORE holds UDP data back until a send without it: one datagram of all the pieces",
    cites=[
        linux("send(2)", "MSG_MORE: the caller has more data to send; with UDP the data of all "
                         "calls with this flag goes out as one datagram with the next call "
                         "without it"),
        linux("udp(7)", "UDP_CORK"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:send.2:MSG_MORE"],
)
def test_udp_more(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """b"ab", b"cd" with MSG_MORE, then b"ef" without: the receiver's datagrams."""
    sender, receiver = kit.connected(family, "dgram")
    for piece in (b"ab", b"cd"):
        flagged = kit.outcome(sender.send, piece, ("MSG_MORE",))
        if flagged != "ok":
            return {"send_more": flagged}
    sender.send(b"ef")
    sender.send(b"marker")
    return {"datagrams": [d.decode() for d in kit.drain(receiver, b"marker")[:-1]]}


@case(
    "sendto.unix.no_permission",
    "an AF_UNIX datagram to a socket file the sender may not write fails with EACCES",
    cites=[
        posix("sendto", "ERRORS (AF_UNIX, may fail): EACCES search permission is denied for a "
                        "component of the path prefix, or write access to the named socket is "
                        "denied"),
        linux("unix(7)", "ERRORS: EACCES; sending to a socket file requires write permission "
                         "on it"),
    ],
    params={"backend": BACKENDS},
    asserts=["posix:sendto:EACCES"],
)
def test_unix_no_permission(backend: str, kit: Kit) -> dict[str, Any]:
    """As uid 65534 (on a thread or in a child: as_user) sendto() a receiver whose file is 0555."""
    receiver = kit.bound("unix", "dgram")
    target = receiver.getsockname()
    os.chmod(os.path.dirname(target), 0o755)  # uid 65534 may reach the file, not write it
    os.chmod(target, 0o555)

    def as_nobody() -> dict[str, Any]:
        s = kit.socket("unix", "dgram")
        return {"errno": Kit.outcome(s.sendto, b"x", target, ()), "uid": os.geteuid()}

    result = as_user(as_nobody, NOBODY)
    kit.note(uid=result.pop("uid"), credentials=credentials_mechanism())
    return result
