"""send() errors and flags: dead descriptors, a closed or reset peer, a full buffer, MSG_*."""

from __future__ import annotations

import time
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    DEADLINE_S,
    INET,
    DeadlineExceeded,
    HarnessError,
    Kit,
    Socket,
    case,
    darwin,
    errno_name,
    freebsd,
    interrupt,
    linux,
    mslearn,
    posix,
    sigpipe_during,
)

FLAGS = ("none", "MSG_NOSIGNAL")
CALLS = ("send", "sendto")
# Enough to fill any loopback send buffer several times over; a stack that
# takes more without EAGAIN is not bounded by a buffer at all.
FILL_LIMIT = 64 * 1024 * 1024
CHUNK = b"\0" * 65536


def fill(sock: Socket, flags: tuple[str, ...] = (), chunk: bytes = CHUNK) -> tuple[int, str]:
    """Send until the stack refuses; (bytes taken, the refusing errno)."""
    sent = 0
    while sent < FILL_LIMIT:
        try:
            sent += sock.send(chunk, flags)
        except OSError as exc:
            return sent, errno_name(exc)
    raise HarnessError(f"the send buffer took {FILL_LIMIT} bytes without refusing")


def _nosignal(flag: str) -> tuple[str, ...]:
    return () if flag == "none" else (flag,)


def _send_call(sock: Socket, call: str, data: bytes, flags: tuple[str, ...] = ()) -> Any:
    if call == "send":
        return lambda: sock.send(data, flags)
    return lambda: sock.sendto(data, sock.getpeername(), flags)


@case(
    "send.bad_descriptor",
    "send() on a descriptor that is not open fails with EBADF",
    cites=[
        posix("send", "ERRORS: EBADF the socket argument is not a valid file descriptor"),
        linux("send(2)", "ERRORS: EBADF sockfd is not a valid open file descriptor"),
        freebsd("send(2)", "ERRORS: EBADF"),
        darwin("send(2)", "ERRORS: EBADF"),
        mslearn("send", "WSAENOTSOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:send:EBADF"],
)
def test_bad_descriptor(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send() on a connected stream socket after it was closed."""
    client, _ = kit.connected(family)
    client.close()
    return {"errno": kit.outcome(client.send, b"x", ("MSG_NOSIGNAL",))}


@case(
    "send.not_a_socket",
    "send() on a descriptor that is not a socket fails with ENOTSOCK",
    cites=[
        posix("send", "ERRORS: ENOTSOCK the socket argument does not refer to a socket"),
        linux("send(2)", "ERRORS: ENOTSOCK the file descriptor sockfd does not refer to a "
                         "socket"),
        freebsd("send(2)", "ERRORS: ENOTSOCK"),
        darwin("send(2)", "ERRORS: ENOTSOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:send:ENOTSOCK"],
)
def test_not_a_socket(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send() on a pipe's read end (the socket module cannot wrap one, hence libc only)."""
    pipe = kit.pipe_socket(family, "stream")
    return {"errno": kit.outcome(pipe.send, b"x", ())}


@case(
    "send.shutdown_wr",
    "send() after shutdown(SHUT_WR) fails with EPIPE and raises SIGPIPE unless MSG_NOSIGNAL",
    cites=[
        posix("send", "ERRORS: EPIPE the socket is shut down for writing; SIGPIPE is "
                      "generated unless MSG_NOSIGNAL is set"),
        posix("send", "MSG_NOSIGNAL: requests not to send SIGPIPE on stream sockets"),
        linux("send(2)", "ERRORS: EPIPE the local end has been shut down; the process also "
                         "receives SIGPIPE unless MSG_NOSIGNAL is set"),
        linux("send(2)", "MSG_NOSIGNAL: the EPIPE error is still returned"),
        freebsd("send(2)", "MSG_NOSIGNAL; ERRORS: EPIPE"),
        mslearn("send", "WSAESHUTDOWN; no signals"),
    ],
    params={"family": ALL_FAMILIES, "flags": FLAGS, "backend": BACKENDS},
    asserts=["posix:send:EPIPE", "posix:send:MSG_NOSIGNAL", "linux:send.2:EPIPE",
             "linux:send.2:MSG_NOSIGNAL"],
)
def test_shutdown_wr(family: str, flags: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The signal is watched with SIGPIPE blocked, so it is seen but never acts."""
    client, _ = kit.connected(family)
    client.shutdown("wr")
    outcome: list[str] = []
    raised = sigpipe_during(
        lambda: outcome.append(kit.outcome(client.send, b"x", _nosignal(flags))))
    return {"errno": outcome[0], "sigpipe": raised}


@case(
    "send.peer_closed",
    "send() after the peer closed: TCP takes the first, then fails with EPIPE",
    cites=[
        posix("send", "ERRORS: EPIPE the socket is connection-mode and is no longer "
                      "connected"),
        posix("send", "ERRORS: ECONNRESET a connection was forcibly closed by a peer"),
        linux("send(2)", "ERRORS: EPIPE"),
        linux("tcp(7)", "a peer's close ends its receiving side; data sent to it draws a reset"),
        mslearn("send", "WSAECONNRESET; WSAECONNABORTED"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["linux:send.2:EPIPE"],
)
def test_peer_closed(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Two sends after the peer's close(); TCP learns of the close from the reset the first draws.

    The second send waits, with a deadline, for the reset to be processed:
    poll() reports POLLHUP once both directions are closed.
    """
    client, peer = kit.connected(family)
    peer.close()
    kit.readable(client, DEADLINE_S)  # the peer's FIN (or, for AF_UNIX, its close)
    first = kit.outcome(client.send, b"first", ("MSG_NOSIGNAL",))
    reset = _hung_up_within(client) if first == "ok" else None
    kit.note(hung_up_before_second=reset)
    second = kit.outcome(client.send, b"second", ("MSG_NOSIGNAL",))
    return {"first": first, "second": second}


def _hung_up_within(sock: Socket, timeout: float = DEADLINE_S) -> bool:
    """Whether poll() reports POLLHUP (both directions closed) within ``timeout`` seconds."""
    import select

    p = select.poll()
    p.register(sock.fileno(), select.POLLHUP)
    return any(ev & select.POLLHUP for _, ev in p.poll(timeout * 1000))


@case(
    "send.reset",
    "send() on a connection the peer reset fails with ECONNRESET",
    cites=[
        posix("send", "ERRORS: ECONNRESET a connection was forcibly closed by a peer"),
        linux("send(2)", "ERRORS: ECONNRESET connection reset by peer"),
        linux("socket(7)", "SO_LINGER: a zero linger time closes with a reset"),
        freebsd("send(2)", "ERRORS: ECONNRESET"),
        mslearn("send", "WSAECONNRESET the virtual circuit was reset by the remote side"),
    ],
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:send:ECONNRESET", "linux:send.2:ECONNRESET"],
)
def test_reset(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The peer closes with SO_LINGER {1, 0} (a reset); the next send reports it, once."""
    client, peer = kit.connected(family)
    peer.setsockopt("SO_LINGER", (1, 0))
    peer.close()
    if not _hung_up_within(client):
        raise DeadlineExceeded(f"the reset did not arrive within {DEADLINE_S}s")
    first = kit.outcome(client.send, b"x", ("MSG_NOSIGNAL",))
    return {"errno": first, "next": kit.outcome(client.send, b"x", ("MSG_NOSIGNAL",))}


@case(
    "send.nonblocking_full",
    "a non-blocking send() on a full send buffer fails with EAGAIN or EWOULDBLOCK",
    cites=[
        posix("send", "ERRORS: EAGAIN or EWOULDBLOCK the socket's file descriptor is marked "
                      "O_NONBLOCK and the requested operation would block"),
        linux("send(2)", "ERRORS: EAGAIN or EWOULDBLOCK the socket is nonblocking and the "
                         "requested operation would block"),
        freebsd("send(2)", "ERRORS: EAGAIN"),
        darwin("send(2)", "ERRORS: EAGAIN"),
        mslearn("send", "WSAEWOULDBLOCK"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:send:EAGAIN", "linux:send.2:EAGAIN"],
)
def test_nonblocking_full(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """With nobody reading, a non-blocking sender is refused once the buffers are full."""
    client, _ = kit.connected(family)
    # Fewer bytes to fill; the kernel may round it up, and a stack without the
    # option (lwIP) just has more to fill.
    kit.note(so_sndbuf=kit.outcome(client.setsockopt, "SO_SNDBUF", 4096))
    client.set_nonblocking(True)
    sent, refused = fill(client)
    kit.note(bytes_before_refusal=sent)
    return {"errno": refused, "took_some": sent > 0}


@case(
    "send.dontwait",
    "MSG_DONTWAIT makes one send() on a blocking socket fail with EAGAIN instead of blocking",
    cites=[
        linux("send(2)", "MSG_DONTWAIT: enables nonblocking operation; if the operation "
                         "would block, EAGAIN or EWOULDBLOCK is returned"),
        freebsd("send(2)", "MSG_DONTWAIT"),
        mslearn("send", "flags: no MSG_DONTWAIT"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["linux:send.2:MSG_DONTWAIT"],
)
def test_dontwait(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The buffer is filled with MSG_DONTWAIT sends; the descriptor stays blocking throughout."""
    client, _ = kit.connected(family)
    kit.note(so_sndbuf=kit.outcome(client.setsockopt, "SO_SNDBUF", 4096))
    _, refused = fill(client, ("MSG_DONTWAIT",))
    return {"errno": refused, "still_blocking": not client.is_nonblocking()}


@case(
    "send.eintr",
    "a send() blocked on a full buffer and interrupted by a caught signal fails with EINTR",
    cites=[
        posix("send", "ERRORS: EINTR a signal interrupted send() before any data was "
                      "transmitted"),
        linux("send(2)", "ERRORS: EINTR a signal occurred before any data was transmitted"),
        linux("signal(7)", "Interruption of system calls: send() fails with EINTR when the "
                           "handler has no SA_RESTART"),
        freebsd("send(2)", "ERRORS: EINTR"),
        darwin("send(2)", "ERRORS: EINTR"),
    ],
    # Python's socket module retries a send a signal interrupted (PEP 475),
    # so only the C API shows what the stack returned.
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["posix:send:EINTR"],
)
def test_eintr(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A blocking send() parked on a saturated buffer gets a signal whose handler does nothing.

    A stack whose acknowledgements trail (a slow sandbox) may free room and take
    part of the send before the signal: POSIX then returns that count, recorded
    as "short count", which conforms but does not show EINTR.
    """
    # A small receive buffer (inherited from the listener) closes the window
    # after one round of acknowledgements, so saturating waits out one delayed
    # acknowledgement instead of two.
    listener = kit.listener(family)
    listener.setsockopt("SO_RCVBUF", 4096)
    client = kit.socket(family, "stream")
    kit.connect_within(client, listener.getsockname())
    kit.accept_within(listener)
    client.setsockopt("SO_SNDBUF", 4096)
    saturate(kit, client)
    return interrupt(kit, client, lambda: client.send(CHUNK, ("MSG_NOSIGNAL",)), "send",
                     full=len(CHUNK))


# Where the stack cannot say what is in flight: how long a filled sender must
# stay unwritable to count as saturated (acknowledgements free room for a while
# after the first EAGAIN).
SETTLE_S = 0.02


def saturate(kit: Kit, sock: Socket) -> int:
    """Fill until no room can come back; the bytes taken.

    Room comes back when the peer acknowledges what is in flight: on Linux
    loopback the delayed acknowledgement frees tens of kilobytes about 40 ms
    after the first EAGAIN, and a blocking send() then takes them instead of
    parking (on a loaded machine, before the signal arrives: "short count").
    So the sender is refilled once all it sent is acknowledged, until a fill
    takes nothing with nothing in flight: then only the peer reading (it never
    does) could make room. Where the stack cannot say what is in flight
    (AF_UNIX needs no acknowledgement; gVisor has no TIOCOUTQ), the socket must
    stay unwritable for SETTLE_S instead.
    """
    total = 0
    end = time.monotonic() + DEADLINE_S
    while total < FILL_LIMIT:
        sent = _fill_to_the_byte(sock)
        total += sent
        flight = Kit.in_flight(sock)
        if flight is None:
            if not kit.writable(sock, SETTLE_S):
                return total + _fill_to_the_byte(sock)
            continue
        if flight == 0 and sent == 0:
            return total
        while Kit.in_flight(sock):
            if time.monotonic() >= end:
                raise DeadlineExceeded(f"the peer did not acknowledge the {flight} bytes in "
                                       f"flight within {DEADLINE_S}s")
            time.sleep(0.001)
    raise HarnessError(f"the sender took {FILL_LIMIT} bytes and still had room")


def _fill_to_the_byte(sock: Socket) -> int:
    """Fill until not even one byte is taken; the bytes taken.

    "Not writable" can still leave room, which a blocking send() would take
    before it waits: a stream socket appends small sends to the last segment
    it queued, up to a whole segment (64 KiB on loopback). Each smaller size
    takes what the one before left, so the last byte goes in a handful of
    calls, not one call per byte.
    """
    return sum(fill(sock, ("MSG_DONTWAIT",), b"\0" * size)[0]
               for size in (len(CHUNK), 4096, 256, 16, 1))


@case(
    "send.udp.too_large",
    "a datagram larger than UDP can carry is refused whole with EMSGSIZE",
    cites=[
        posix("send", "ERRORS: EMSGSIZE the message is too large to be sent all at once, as "
                      "the socket requires"),
        posix("sendto", "ERRORS: EMSGSIZE"),
        linux("send(2)", "ERRORS: EMSGSIZE the socket type requires that message be sent "
                         "atomically, and the size of the message made this impossible"),
        freebsd("send(2)", "ERRORS: EMSGSIZE"),
        darwin("send(2)", "ERRORS: EMSGSIZE"),
        mslearn("send", "WSAEMSGSIZE"),
    ],
    params={"family": INET, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:send:EMSGSIZE", "posix:sendto:EMSGSIZE", "linux:send.2:EMSGSIZE"],
)
def test_udp_too_large(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """70000 bytes exceed the 65535-byte UDP length field; nothing of them arrives."""
    sender, receiver = kit.connected(family, "dgram")
    refused = kit.outcome(_send_call(sender, call, b"x" * 70000))
    sender.send(b"marker")
    return {"errno": refused, "next_received": kit.drain(receiver, b"marker") == [b"marker"]}


@case(
    "send.udp.oob",
    "MSG_OOB on a UDP socket is refused with EOPNOTSUPP",
    cites=[
        posix("send", "ERRORS: EOPNOTSUPP the socket argument is associated with a socket "
                      "that does not support one or more of the values set in flags"),
        posix("sendto", "ERRORS: EOPNOTSUPP"),
        linux("send(2)", "ERRORS: EOPNOTSUPP some bit in the flags argument is inappropriate "
                         "for the socket type"),
        freebsd("send(2)", "ERRORS: EOPNOTSUPP"),
        mslearn("send", "WSAEOPNOTSUPP MSG_OOB was specified, but the socket is not stream "
                        "style"),
    ],
    params={"family": INET, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:send:EOPNOTSUPP", "posix:sendto:EOPNOTSUPP", "linux:send.2:EOPNOTSUPP"],
)
def test_udp_oob(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send()/sendto() with MSG_OOB on a connected UDP socket."""
    sender, _ = kit.connected(family, "dgram")
    return {"errno": kit.outcome(_send_call(sender, call, b"x", ("MSG_OOB",)))}


@case(
    "send.tcp.oob",
    "send(MSG_OOB) on TCP sends the byte as urgent data, which the peer reads out of band",
    cites=[
        posix("send", "MSG_OOB: sends out-of-band data on sockets that support it"),
        linux("send(2)", "MSG_OOB: sends out-of-band data on sockets that support this notion"),
        linux("tcp(7)", "urgent data: one byte, read with MSG_OOB unless SO_OOBINLINE"),
        freebsd("send(2)", "MSG_OOB"),
        mslearn("send", "MSG_OOB: stream-style sockets only"),
    ],
    params={"family": INET, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:send:MSG_OOB", "posix:sendto:MSG_OOB", "linux:send.2:MSG_OOB"],
)
def test_tcp_oob(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """b"ab" then b"U" with MSG_OOB: the peer's recv(MSG_OOB) gets b"U", its stream b"ab".

    sendto() names the peer's own address, which a connected TCP socket ignores.
    """
    client, peer = kit.connected(family)
    client.send(b"ab")
    sent = kit.outcome(_send_call(client, call, b"U", ("MSG_OOB",)))
    if sent != "ok":
        return {"send": sent}
    urgent: list[bytes] = []
    got = "none"
    import select
    import time

    # Either barrier shows the urgent byte has arrived: select()'s exceptional
    # condition (Linux, which counts queued bytes only up to the urgent mark),
    # or all three bytes queued (a stack that keeps the byte inline and signals
    # nothing exceptional, as gVisor does); neither alone serves every stack.
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if select.select([], [], [peer.fileno()], 0)[2]:
            got = kit.outcome(lambda: urgent.append(peer.recv(1, ("MSG_OOB",))))
            break
        if (kit.queued(peer) or 0) >= 3:
            break
        kit.readable(peer, 0.001)
    inline = kit.recv_within(peer, 16)
    return {"send": sent, "urgent": urgent[0].decode() if urgent else got,
            "stream": inline.decode()}


@case(
    "send.eor",
    "MSG_EOR on a TCP or UDP socket, which have no records",
    cites=[
        posix("send", "MSG_EOR: terminates a record (if supported by the protocol)"),
        linux("send(2)", "MSG_EOR: terminates a record (when this notion is supported, as for "
                         "sockets of type SOCK_SEQPACKET)"),
    ],
    level="platform-defined",
    params={"family": INET, "type": ("stream", "dgram"), "call": CALLS, "backend": BACKENDS},
    asserts=["posix:send:MSG_EOR", "posix:sendto:MSG_EOR", "linux:send.2:MSG_EOR"],
)
def test_eor(family: str, type: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send()/sendto() with MSG_EOR of b"rec": is it refused, or delivered as ordinary data?"""
    if type == "stream":
        client, peer = kit.connected(family)
    else:
        client, peer = kit.connected(family, "dgram")
    sent = kit.outcome(_send_call(client, call, b"rec", ("MSG_EOR",)))
    if sent != "ok":
        return {"send": sent}
    return {"send": sent, "received": kit.recv_within(peer, 16).decode()}


@case(
    "send.unix.oob",
    "send(MSG_OOB) on an AF_UNIX stream socket: refused, or one urgent byte (Linux 5.15 on)",
    cites=[
        linux("unix(7)", "BUGS/ERRORS: EOPNOTSUPP for MSG_OOB (man-pages 6.03); SOCK_STREAM "
                         "supports MSG_OOB since Linux 5.15"),
        posix("send", "MSG_OOB: sends out-of-band data on sockets that support out-of-band "
                      "communications"),
    ],
    level="platform-defined",
    params={"backend": BACKENDS},
    asserts=["linux:unix.7:MSG_OOB"],
)
def test_unix_oob(backend: str, kit: Kit) -> dict[str, Any]:
    """b"ab" then b"U" with MSG_OOB on a connected AF_UNIX stream; what the peer reads."""
    client, peer = kit.connected("unix")
    client.send(b"ab")
    sent = kit.outcome(client.send, b"U", ("MSG_OOB",))
    if sent != "ok":
        return {"send": sent}
    urgent: list[bytes] = []
    got = kit.outcome(lambda: urgent.append(peer.recv(1, ("MSG_OOB",))))
    return {"send": sent, "urgent": urgent[0].decode() if urgent else got,
            "stream": kit.recv_within(peer, 16).decode()}
