"""recv() and recvfrom(): the error conditions POSIX lists, the flags (MSG_PEEK, MSG_OOB,
MSG_WAITALL, MSG_DONTWAIT), receive timeouts, zero-length requests, resets and a receiver
shut down for reading.

Where a condition belongs to both calls, the ``call`` axis runs it through each, so one
claim is checked for recv() and for recvfrom() alike.
"""

from __future__ import annotations

import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    BLOCKING,
    DEADLINE_S,
    INET,
    TYPES,
    BlockedCall,
    DeadlineExceeded,
    HarnessError,
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
    prove_blocked,
)

CALLS = ("recv", "recvfrom")
PAYLOAD = b"0123456789"


def _read(sock: Socket, call: str, n: int, flags: tuple[str, ...] = ()) -> bytes:
    """One recv() or recvfrom() call; the bytes it returned."""
    if call == "recv":
        return sock.recv(n, flags)
    return sock.recvfrom(n, flags)[0]


def _within(sock: Socket, fn: Callable[[], Any]) -> Any:
    """Run a call that must return by itself: its result, or its errno name.

    The call runs on its own thread so a stack that blocks instead of
    answering cannot hang the run: at the deadline shutdown() wakes it and
    the instance ends as a timeout.
    """
    call = BlockedCall(fn).start()
    if not call.wait(DEADLINE_S):
        Kit.outcome(sock.shutdown, "rdwr")
        call.wait(DEADLINE_S)
        raise DeadlineExceeded(f"the call did not return within {DEADLINE_S}s")
    return _result(call)


def _settle(sock: Socket, fn: Callable[[], Any]) -> Any:
    """A call that may legitimately block: its result, its errno name, or ``"blocks"``.

    Blocking is proven (the thread parked in the receive system call), then
    the call is woken by shutdown() so nothing outlives the case.
    """
    call = BlockedCall(fn).start()
    proof = prove_blocked(call, "recv", DEADLINE_S)
    if proof["blocked"]:
        Kit.outcome(sock.shutdown, "rdwr")
        if not call.wait(DEADLINE_S):
            raise DeadlineExceeded("a blocked recv() did not wake up after shutdown()")
        return "blocks"
    call.wait(DEADLINE_S)
    return _result(call)


def _result(call: BlockedCall) -> Any:
    if call.error is None:
        return call.result
    if isinstance(call.error, OSError):
        return errno_name(call.error)
    raise call.error


def _label(result: Any) -> Any:
    """Bytes as a reader says them: "data" (what was sent), 0 (end of file), or a count."""
    if not isinstance(result, bytes):
        return result
    if result == PAYLOAD:
        return "data"
    return len(result) if not result else f"{len(result)} bytes"


def _count(result: Any) -> Any:
    """A receive's byte count, or its errno name."""
    return len(result) if isinstance(result, bytes) else result


def _text(result: Any) -> Any:
    """Short ASCII bytes as text ("U"), or the errno name."""
    return result.decode("ascii", "backslashreplace") if isinstance(result, bytes) else result


def _errno(result: Any) -> str:
    return result if isinstance(result, str) else "ok"


def _stream_pair(kit: Kit, family: str) -> tuple[Socket, Socket]:
    """(reader, writer): the two ends of one loopback connection."""
    listener = kit.listener(family)
    writer = kit.socket(family, "stream")
    kit.connect_within(writer, listener.getsockname())
    reader, _ = kit.accept_within(listener)
    return reader, writer


def _pair(kit: Kit, family: str, type: str) -> tuple[Socket, Socket]:
    """(reader, writer); for datagrams the writer is bound (it has a source address)
    and connected to the reader, the reader is bound only."""
    if type == "stream":
        return _stream_pair(kit, family)
    reader = kit.bound(family, "dgram")
    writer = kit.bound(family, "dgram")
    writer.connect(reader.getsockname())
    return reader, writer


def _wait_readable(kit: Kit, sock: Socket) -> None:
    if not kit.readable(sock, DEADLINE_S):
        raise DeadlineExceeded(f"nothing readable within {DEADLINE_S}s")


def _queued(sock: Socket) -> int:
    """Bytes waiting in the receive queue (Kit.queued: FIONREAD), without receiving them."""
    queued = Kit.queued(sock)
    if queued is None:
        raise Unsupported("FIONREAD is not available here")
    return queued


def _processed(kit: Kit, family: str, type: str, writer: Socket) -> None:
    """Wait until the receiving stack has taken what ``writer`` sent (queued or dropped).

    AF_UNIX puts the bytes in the receiver's queue within the send call. TCP
    shows it by acknowledging every byte (the sender's TIOCOUTQ reaches 0).
    UDP acknowledges nothing (nor can TCP show it where TIOCOUTQ is missing,
    as in gVisor), so a marker datagram sent after it, to a witness socket on
    the same loopback path, arrives only after the payload was processed.
    """
    if family == "unix":
        return
    end = time.monotonic() + DEADLINE_S
    if type == "stream":
        try:
            while _unacked(writer):
                if time.monotonic() >= end:
                    raise DeadlineExceeded("the sent bytes were never acknowledged")
                time.sleep(0.001)
            return
        except OSError:
            pass  # no TIOCOUTQ on this stack: the marker below serves
    witness = kit.bound(family, "dgram")
    kit.socket(family, "dgram").sendto(b"marker", witness.getsockname())
    _wait_readable(kit, witness)


def _unacked(sock: Socket) -> int:
    """Bytes sent on a stream but not yet acknowledged by the peer (TIOCOUTQ)."""
    try:
        import fcntl
        import termios
    except ImportError as exc:
        raise Unsupported("TIOCOUTQ is not available here") from exc
    buf = bytearray(4)
    fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
    return int.from_bytes(buf, sys.byteorder, signed=True)


def _arrives_all(sock: Socket, n: int) -> bool:
    """Whether ``n`` bytes are queued within DEADLINE_S (polled)."""
    end = time.monotonic() + DEADLINE_S
    while _queued(sock) < n:
        if time.monotonic() >= end:
            return False
        time.sleep(0.001)
    return True


# -- descriptor errors ---------------------------------------------------------------


@case(
    "recv.bad_descriptor",
    "recv() and recvfrom() on a descriptor that is not open fail with EBADF",
    cites=[
        posix("recv", "ERRORS: EBADF, the socket argument is not a valid file descriptor"),
        posix("recvfrom", "ERRORS: EBADF"),
        linux("recv(2)", "ERRORS: EBADF"),
        freebsd("recv(2)", "ERRORS: EBADF"),
        darwin("recv(2)", "ERRORS: EBADF"),
    ],
    params={"call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:EBADF", "posix:recvfrom:EBADF"],
)
def test_bad_descriptor(call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A receive on a socket the process has closed reports EBADF."""
    s = kit.socket("inet", "dgram")
    s.close()
    return {"errno": _errno(_within(s, lambda: _read(s, call, 16)))}


@case(
    "recv.not_a_socket",
    "recv() and recvfrom() on a descriptor that is not a socket fail with ENOTSOCK",
    cites=[
        posix("recv", "ERRORS: ENOTSOCK, the socket argument does not refer to a socket"),
        posix("recvfrom", "ERRORS: ENOTSOCK"),
        linux("recv(2)", "ERRORS: ENOTSOCK"),
        freebsd("recv(2)", "ERRORS: ENOTSOCK"),
        darwin("recv(2)", "ERRORS: ENOTSOCK"),
    ],
    # Python's socket module refuses a non-socket descriptor before any receive.
    params={"call": CALLS, "backend": ("libc",)},
    asserts=["posix:recv:ENOTSOCK", "posix:recvfrom:ENOTSOCK"],
)
def test_not_a_socket(call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A receive on a pipe's read end (its write end closed) reports ENOTSOCK, not end of file."""
    s = kit.pipe_socket("inet", "dgram")
    return {"errno": _errno(_within(s, lambda: _read(s, call, 16)))}


# -- nothing to receive --------------------------------------------------------------


@case(
    "recv.nonblocking.empty",
    "recv() and recvfrom() on a non-blocking socket with nothing queued fail with EAGAIN",
    cites=[
        posix("recv", "ERRORS: EAGAIN or EWOULDBLOCK, O_NONBLOCK set and no data waiting"),
        posix("recvfrom", "ERRORS: EAGAIN or EWOULDBLOCK"),
        linux("recv(2)", "ERRORS: EAGAIN or EWOULDBLOCK"),
        freebsd("recv(2)", "ERRORS: EAGAIN"),
        darwin("recv(2)", "ERRORS: EAGAIN"),
        mslearn("recv", "WSAEWOULDBLOCK"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:EAGAIN", "posix:recvfrom:EAGAIN"],
)
def test_nonblocking_empty(
    family: str, type: str, call: str, backend: str, kit: Kit
) -> dict[str, Any]:
    """A non-blocking receive on an idle connection or bound datagram socket returns EAGAIN."""
    reader, _ = _pair(kit, family, type)
    reader.set_nonblocking(True)
    return {"errno": _errno(_within(reader, lambda: _read(reader, call, 16)))}


@case(
    "recv.dontwait",
    "MSG_DONTWAIT makes one receive on a blocking socket fail with EAGAIN instead of waiting",
    cites=[
        linux("recv(2)", "MSG_DONTWAIT: non-blocking for this call only; EAGAIN or EWOULDBLOCK"),
        freebsd("recv(2)", "MSG_DONTWAIT: do not block if no messages are available"),
        posix("recv", "flags: MSG_PEEK, MSG_OOB, MSG_WAITALL (MSG_DONTWAIT is not among them)"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "call": CALLS, "backend": BACKENDS},
    asserts=["linux:send.2:MSG_DONTWAIT"],
)
def test_dontwait(family: str, type: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """recv(MSG_DONTWAIT) with nothing queued returns EAGAIN; the socket stays blocking."""
    reader, _ = _pair(kit, family, type)
    result = _within(reader, lambda: _read(reader, call, 16, ("MSG_DONTWAIT",)))
    return {"errno": _errno(result), "still_blocking": not reader.is_nonblocking()}


@case(
    "recv.rcvtimeo",
    "a blocking receive with SO_RCVTIMEO set fails with EAGAIN when the timeout expires",
    cites=[
        linux("recv(2)", "ERRORS: EAGAIN, a receive timeout had been set and expired"),
        linux("socket(7)", "SO_RCVTIMEO: the call returns EAGAIN or EWOULDBLOCK after the timeout"),
        freebsd("recv(2)", "ERRORS: EAGAIN, a receive timeout had been set and expired"),
        posix("setsockopt", "SO_RCVTIMEO: the call returns with EAGAIN or EWOULDBLOCK"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES},
    asserts=["linux:recv.2:SO_RCVTIMEO"],
)
def test_rcvtimeo(family: str, type: str, kit: Kit) -> dict[str, Any]:
    """recv() with SO_RCVTIMEO = 5 ms and nothing arriving returns EAGAIN after the timeout."""
    reader, _ = _pair(kit, family, type)
    # The claim holds for any timeout but zero (which means none): the
    # smallest round figure keeps the wait short (a stack rounds it up to its
    # clock tick, 10 ms under User-Mode Linux's 100 Hz).
    reader.setsockopt("SO_RCVTIMEO", (0, 5_000))
    return {"errno": _errno(_within(reader, lambda: reader.recv(16)))}


@case(
    "recv.unconnected",
    "recv() and recvfrom() on a stream socket that was never connected fail with ENOTCONN",
    cites=[
        posix("recv", "ERRORS: ENOTCONN, a receive on a connection-mode socket not connected"),
        posix("recvfrom", "ERRORS: ENOTCONN"),
        linux("recv(2)", "ERRORS: ENOTCONN"),
        linux("socket(2)", "DESCRIPTION: a stream socket must be connected before data is "
                           "sent or received on it"),
        linux("unix(7)", "ERRORS: EINVAL, the socket was in an invalid state for the operation"),
        freebsd("recv(2)", "ERRORS: ENOTCONN"),
        darwin("recv(2)", "ERRORS: ENOTCONN"),
        mslearn("recv", "WSAENOTCONN"),
    ],
    params={"family": ALL_FAMILIES, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:ENOTCONN", "posix:recvfrom:ENOTCONN", "linux:recv.2:ENOTCONN",
             "linux:socket.2:connected_stream"],
)
def test_unconnected(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A receive on a fresh stream socket fails at once instead of waiting for a peer."""
    s = kit.socket(family, "stream")
    return {"errno": _errno(_within(s, lambda: _read(s, call, 16)))}


@case(
    "recv.eintr",
    "a blocking receive interrupted by a caught signal fails with EINTR",
    cites=[
        posix("recv", "ERRORS: EINTR, a signal was caught before any data was available"),
        posix("recvfrom", "ERRORS: EINTR"),
        linux("recv(2)", "ERRORS: EINTR"),
        linux("signal(7)", "Interruption of system calls: recv() fails with EINTR "
                           "when the handler has no SA_RESTART"),
        freebsd("recv(2)", "ERRORS: EINTR"),
        darwin("recv(2)", "ERRORS: EINTR"),
    ],
    # Python's socket module retries a receive a signal interrupted (PEP 475),
    # so only the C API shows what the stack returned.
    params={"family": ALL_FAMILIES, "type": TYPES, "call": CALLS, "backend": ("libc",)},
    asserts=["posix:recv:EINTR", "posix:recvfrom:EINTR"],
)
def test_eintr(family: str, type: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A signal whose handler was installed without SA_RESTART interrupts a parked receive."""
    if threading.current_thread() is not threading.main_thread():
        raise HarnessError("signal handlers can only be installed from the main thread")
    reader, _ = _pair(kit, family, type)
    ident: list[int] = []

    def receive() -> bytes:
        ident.append(threading.get_ident())
        return _read(reader, call, 16)

    # Python installs its handlers without SA_RESTART; this one does nothing.
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        blocked = BlockedCall(receive).start()
        proof = prove_blocked(blocked, "recv", DEADLINE_S)
        if not proof["blocked"]:
            return {"errno": _errno(_result(blocked)), "blocked_first": False}
        # Signals until the call returns: one may land before the call parks (a
        # timed-window proof cannot rule that out), and on a loaded machine the
        # interrupted thread can wait long for a CPU (issue 17 item 9); a stack
        # that restarts the call stays blocked through all of them until the deadline.
        end = time.monotonic() + DEADLINE_S
        while True:
            signal.pthread_kill(ident[0], signal.SIGUSR1)
            if blocked.wait(0.01):
                break
            if time.monotonic() >= end:
                Kit.outcome(reader.shutdown, "rdwr")
                blocked.wait(DEADLINE_S)
                return {"errno": "not interrupted", "blocked_first": True}
    finally:
        signal.signal(signal.SIGUSR1, previous)
    kit.note(proof=proof["method"])
    return {"errno": _errno(_result(blocked)), "blocked_first": True}


# -- MSG_PEEK, MSG_WAITALL -----------------------------------------------------------


@case(
    "recv.peek",
    "MSG_PEEK returns queued data without removing it: the next receive returns it again",
    cites=[
        posix("recv", "MSG_PEEK: the data is treated as unread"),
        posix("recvfrom", "MSG_PEEK: the next recvfrom() shall still return this data"),
        linux("recv(2)", "MSG_PEEK: a subsequent receive call will return the same data"),
        freebsd("recv(2)", "MSG_PEEK"),
        darwin("recv(2)", "MSG_PEEK"),
        mslearn("recv", "MSG_PEEK: the data is copied into the buffer but not removed"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:MSG_PEEK", "posix:recvfrom:MSG_PEEK", "linux:recv.2:MSG_PEEK"],
)
def test_peek(family: str, type: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A peek and the read after it return the same bytes (and, for recvfrom() on datagrams,
    the same source address)."""
    reader, writer = _pair(kit, family, type)
    writer.send(PAYLOAD)
    _wait_readable(kit, reader)
    if call == "recv":
        peeked = reader.recv(64, ("MSG_PEEK",))
        return {"peeked": _label(peeked), "then_read": _label(reader.recv(64))}
    peeked, peek_from = reader.recvfrom(64, ("MSG_PEEK",))
    data, read_from = reader.recvfrom(64)
    obs: dict[str, Any] = {"peeked": _label(peeked), "then_read": _label(data)}
    if type == "dgram":
        sender = writer.getsockname()
        kit.note(peek_from=peek_from, read_from=read_from)
        obs["source_kept"] = peek_from == read_from == sender
    return obs


@case(
    "recv.waitall.waits",
    "MSG_WAITALL on a stream waits for the full request when only part has arrived",
    cites=[
        posix("recv", "MSG_WAITALL: on SOCK_STREAM, block until the full amount can be returned"),
        posix("recvfrom", "MSG_WAITALL"),
        linux("recv(2)", "MSG_WAITALL: block until the full request is satisfied"),
        freebsd("recv(2)", "MSG_WAITALL: block until the full request is satisfied"),
        darwin("recv(2)", "MSG_WAITALL"),
        mslearn("recv", "MSG_WAITALL: returns only when the buffer is full, the connection "
                        "is closed, or the request is canceled"),
    ],
    params={"family": ALL_FAMILIES, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:MSG_WAITALL", "posix:recvfrom:MSG_WAITALL", "linux:recv.2:MSG_WAITALL"],
)
def test_waitall_waits(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """With 5 of 10 bytes queued, recv(10, MSG_WAITALL) stays blocked until the other 5 come."""
    reader, writer = _stream_pair(kit, family)
    writer.send(PAYLOAD[:5])
    _wait_readable(kit, reader)
    blocked = BlockedCall(lambda: _read(reader, call, len(PAYLOAD), ("MSG_WAITALL",))).start()
    proof = prove_blocked(blocked, "recv", DEADLINE_S)
    kit.note(proof=proof["method"])
    writer.send(PAYLOAD[5:])
    if not blocked.wait(DEADLINE_S):
        Kit.outcome(reader.shutdown, "rdwr")
        blocked.wait(DEADLINE_S)
        raise DeadlineExceeded("recv(MSG_WAITALL) did not return after the rest arrived")
    return {"waited_for_rest": proof["blocked"], "returned_bytes": _count(_result(blocked))}


@case(
    "recv.waitall.eof",
    "MSG_WAITALL returns the bytes it has when the peer ends the stream before the full request",
    cites=[
        posix("recv", "MSG_WAITALL: may return less if the connection is terminated"),
        linux("recv(2)", "MSG_WAITALL: may return less if ... the connection is terminated"),
        freebsd("recv(2)", "MSG_WAITALL: may still return less data than requested if ... "
                           "the connection is closed"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:recv:MSG_WAITALL", "linux:recv.2:MSG_WAITALL"],
)
def test_waitall_eof(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A parked recv(10, MSG_WAITALL) holding 5 bytes returns those 5 at the peer's shutdown."""
    reader, writer = _stream_pair(kit, family)
    writer.send(PAYLOAD[:5])
    _wait_readable(kit, reader)
    blocked = BlockedCall(lambda: reader.recv(len(PAYLOAD), ("MSG_WAITALL",))).start()
    proof = prove_blocked(blocked, "recv", DEADLINE_S)
    kit.note(proof=proof["method"])
    writer.shutdown("wr")
    if not blocked.wait(DEADLINE_S):
        Kit.outcome(reader.shutdown, "rdwr")
        blocked.wait(DEADLINE_S)
        raise DeadlineExceeded("recv(MSG_WAITALL) did not return at end of stream")
    return {"waited": proof["blocked"], "returned_bytes": _count(_result(blocked))}


@case(
    "recv.waitall.timeout",
    "MSG_WAITALL returns the bytes it has when SO_RCVTIMEO expires before the full request",
    cites=[
        linux("recv(2)", "MSG_WAITALL: may return less if a signal is caught or an error occurs"),
        linux("socket(7)", "SO_RCVTIMEO: if data has been transferred, the amount is returned"),
        posix("recv", "MSG_WAITALL: may return the smaller amount"),
    ],
    level="should",
    params={"family": ALL_FAMILIES},
    asserts=["linux:recv.2:MSG_WAITALL"],
)
def test_waitall_timeout(family: str, kit: Kit) -> dict[str, Any]:
    """5 of 10 bytes queued and SO_RCVTIMEO = 5 ms: recv(10, MSG_WAITALL) returns the 5."""
    reader, writer = _stream_pair(kit, family)
    reader.setsockopt("SO_RCVTIMEO", (0, 5_000))  # any but zero will do: see recv.rcvtimeo
    writer.send(PAYLOAD[:5])
    _wait_readable(kit, reader)
    result = _within(reader, lambda: reader.recv(len(PAYLOAD), ("MSG_WAITALL",)))
    return {"returned_bytes": _count(result)}


@case(
    "recv.waitall.dgram",
    "MSG_WAITALL has no effect on a datagram socket: one queued datagram is returned at once",
    cites=[
        posix("recv", "MSG_WAITALL: may return less if the socket is message-based"),
        linux("udp(7)", "MSG_WAITALL is not supported"),
        linux("recv(2)", "MSG_WAITALL: no effect for datagram sockets"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["linux:recv.2:MSG_WAITALL"],
)
def test_waitall_dgram(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """recv(100, MSG_WAITALL) with one 10-byte datagram queued returns its 10 bytes."""
    reader, writer = _pair(kit, family, "dgram")
    writer.send(PAYLOAD)
    _wait_readable(kit, reader)
    return {"returned_bytes": _count(_within(reader, lambda: reader.recv(100, ("MSG_WAITALL",))))}


# -- out-of-band data ----------------------------------------------------------------


@case(
    "recv.oob",
    "MSG_OOB receives urgent (out-of-band) data on a stream apart from the normal bytes",
    cites=[
        posix("recv", "MSG_OOB: requests out-of-band data; semantics are protocol-specific"),
        posix("recvfrom", "MSG_OOB"),
        linux("recv(2)", "MSG_OOB: receipt of out-of-band data"),
        linux("tcp(7)", "Sockets API: urgent data, one byte, read with MSG_OOB"),
        linux("unix(7)", "ERRORS: EOPNOTSUPP for the out-of-band data option (AF_UNIX "
                         "streams carry one out-of-band byte since Linux 5.15)"),
        freebsd("recv(2)", "MSG_OOB"),
        mslearn("recv", "MSG_OOB: processes out-of-band data"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:MSG_OOB", "posix:recvfrom:MSG_OOB", "linux:recv.2:MSG_OOB",
             "linux:unix.7:MSG_OOB"],
)
def test_oob(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """After "ab", an urgent "U" and "c", recv(MSG_OOB) gives "U"; normal reads give "abc".
    A stack that refuses to send out-of-band data on the family says so instead."""
    reader, writer = _stream_pair(kit, family)
    writer.send(b"ab")
    sent = Kit.outcome(writer.send, b"U", ("MSG_OOB",))
    if sent != "ok":
        return {"send_oob": sent}
    writer.send(b"c")
    # Either barrier shows the urgent byte has arrived: select()'s exceptional
    # condition, or (loopback keeps segments in order) "c" queued behind it;
    # Linux counts queued bytes only up to the urgent mark, gVisor signals no
    # exceptional condition, so neither alone serves every stack.
    end = time.monotonic() + DEADLINE_S
    while not (select.select([], [], [reader.fileno()], 0)[2] or _queued(reader) >= 3):
        if time.monotonic() >= end:
            raise DeadlineExceeded("neither the urgent byte nor the bytes after it arrived")
        time.sleep(0.001)
    oob = _within(reader, lambda: _read(reader, call, 1, ("MSG_OOB",)))
    inline = b""
    while not inline.endswith(b"c"):
        _wait_readable(kit, reader)
        chunk = _read(reader, call, 16)
        if not chunk:
            break
        inline += chunk
    return {"send_oob": sent, "oob": _text(oob), "then_read": _text(inline)}


@case(
    "recv.oob.none",
    "recv(MSG_OOB) on a TCP connection with no urgent data fails with EINVAL",
    cites=[
        posix("recv", "ERRORS: EINVAL, MSG_OOB set and no out-of-band data available"),
        posix("recvfrom", "ERRORS: EINVAL"),
        linux("recv(2)", "ERRORS: EINVAL, invalid argument passed"),
    ],
    params={"family": INET, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:EINVAL", "posix:recvfrom:EINVAL"],
)
def test_oob_none(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """With normal data queued but nothing urgent, a blocking recv(MSG_OOB) fails at once."""
    reader, writer = _stream_pair(kit, family)
    writer.send(PAYLOAD)
    _wait_readable(kit, reader)
    return {"errno": _errno(_within(reader, lambda: _read(reader, call, 1, ("MSG_OOB",))))}


@case(
    "recv.oob.dgram",
    "recv(MSG_OOB) on a datagram socket fails with EOPNOTSUPP",
    cites=[
        posix("recv", "ERRORS: EOPNOTSUPP, the flags are not supported for this socket type"),
        posix("recvfrom", "ERRORS: EOPNOTSUPP"),
        linux("unix(7)", "ERRORS: EOPNOTSUPP, tried to use the out-of-band data option"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:EOPNOTSUPP", "posix:recvfrom:EOPNOTSUPP"],
)
def test_oob_dgram(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """With a datagram queued, recv(MSG_OOB) is refused rather than reading the datagram."""
    reader, writer = _pair(kit, family, "dgram")
    writer.send(PAYLOAD)
    _wait_readable(kit, reader)
    result = _within(reader, lambda: _read(reader, call, 64, ("MSG_OOB",)))
    return {"errno": _errno(result), "returned": _label(result) if _errno(result) == "ok" else None}


# -- zero-length requests, resets, shutdown(SHUT_RD) ---------------------------------


@case(
    "recv.zero_length.stream",
    "recv() of 0 bytes on a stream: 0 with data queued (the data stays), else the usual wait",
    cites=[
        linux("recv(2)", "RETURN VALUE: 0 may be returned when 0 bytes were requested "
                         "from a stream socket"),
        posix("recv", "RETURN VALUE: the length of the message in bytes"),
    ],
    level="platform-defined",
    # Python's recv(0) returns b"" without calling the system (CPython sock_recv).
    params={"family": ALL_FAMILIES, "queued": ("data", "empty"), "blocking": BLOCKING,
            "backend": ("libc",)},
    asserts=["linux:recv.2:zero_length_request"],
)
def test_zero_length_stream(
    family: str, queued: str, blocking: str, backend: str, kit: Kit
) -> dict[str, Any]:
    """recv(fd, buf, 0, 0) with and without bytes queued, blocking and not."""
    reader, writer = _stream_pair(kit, family)
    reader.set_nonblocking(blocking == "nonblocking")
    if queued == "data":
        writer.send(PAYLOAD)
        _wait_readable(kit, reader)
    result = _settle(reader, lambda: reader.recv(0))
    obs: dict[str, Any] = {"recv": _label(result)}
    if queued == "data":
        reader.set_nonblocking(False)
        obs["data_kept"] = kit.recv_within(reader, 64) == PAYLOAD
    return obs


@case(
    "recv.reset.linger",
    "recv() after the peer aborted the connection (SO_LINGER 0 close: RST) fails with ECONNRESET",
    cites=[
        posix("recv", "ERRORS: ECONNRESET, a connection was forcibly closed by a peer"),
        posix("recvfrom", "ERRORS: ECONNRESET"),
        linux("socket(7)", "SO_LINGER: a close with a zero timeout resets the connection"),
        freebsd("recv(2)", "ERRORS: ECONNRESET"),
        mslearn("recv", "WSAECONNRESET: the virtual circuit was reset by the remote side"),
    ],
    params={"family": INET, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:ECONNRESET", "posix:recvfrom:ECONNRESET"],
)
def test_reset_linger(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The peer sets SO_LINGER {1, 0} and closes; the next receive reports the reset."""
    reader, writer = _stream_pair(kit, family)
    writer.setsockopt("SO_LINGER", (1, 0))
    writer.close()
    _wait_readable(kit, reader)
    return {"errno": _errno(_within(reader, lambda: _read(reader, call, 16)))}


@case(
    "recv.reset.unread",
    "recv() after the peer closed with data it never read fails with ECONNRESET",
    cites=[
        posix("recv", "ERRORS: ECONNRESET, a connection was forcibly closed by a peer"),
        posix("recvfrom", "ERRORS: ECONNRESET"),
        linux("unix(7)", "ERRORS: ECONNRESET, the remote socket was closed unexpectedly"),
        linux("tcp(7)", "RFC 2525: a close with unread data sends a reset"),
        mslearn("recv", "WSAECONNRESET"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "call": CALLS, "backend": BACKENDS},
    asserts=["posix:recv:ECONNRESET", "posix:recvfrom:ECONNRESET", "linux:unix.7:ECONNRESET"],
)
def test_reset_unread(family: str, call: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The reader sends bytes; the peer closes without reading them; the reader's recv()."""
    reader, writer = _stream_pair(kit, family)
    reader.send(PAYLOAD)
    _wait_readable(kit, writer)  # the bytes sit unread in the peer's queue
    writer.close()
    _wait_readable(kit, reader)
    return {"errno": _errno(_within(reader, lambda: _read(reader, call, 16)))}


@case(
    "recv.shutdown_rd",
    "receiving after the socket's own shutdown(SHUT_RD): queued data, later data, and the end",
    cites=[
        posix("shutdown", "SHUT_RD: disables further receive operations"),
        posix("recv", "RETURN VALUE"),
        linux("shutdown(2)", "SHUT_RD: further receptions will be disallowed"),
        freebsd("shutdown(2)", "SHUT_RD: further receives will be disallowed"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "type": TYPES, "blocking": BLOCKING,
            "data": ("before", "after")},
    asserts=["linux:shutdown.2:SHUT_RD"],
)
def test_shutdown_rd(
    family: str, type: str, blocking: str, data: str, kit: Kit
) -> dict[str, Any]:
    """Data queued before (or sent after) SHUT_RD, then receives until the queue is empty."""
    reader, writer = _pair(kit, family, type)
    if type == "dgram":
        reader.connect(writer.getsockname())  # shutdown() applies to a connected socket
    reader.set_nonblocking(blocking == "nonblocking")
    obs: dict[str, Any] = {}
    if data == "before":
        writer.send(PAYLOAD)
        if not _arrives_all(reader, len(PAYLOAD)):
            raise DeadlineExceeded("the data never reached the receive queue")
    obs["shutdown"] = Kit.outcome(reader.shutdown, "rd")
    if data == "after":
        obs["send_after"] = Kit.outcome(writer.send, PAYLOAD)
        if obs["send_after"] == "ok":
            _processed(kit, family, type, writer)
        obs["queued"] = obs["send_after"] == "ok" and _queued(reader) > 0
    obs["recv"] = _label(_settle(reader, lambda: reader.recv(64)))
    if obs["recv"] == "data":
        obs["then"] = _label(_settle(reader, lambda: reader.recv(64)))
    return obs


def _shrink(sock: Socket, option: str) -> None:
    """A 4 KiB buffer, so a few sends fill it; a stack without the option (lwIP builds
    without SO_SNDBUF answer ENOPROTOOPT) cannot be driven into the timeout here."""
    refused = Kit.outcome(sock.setsockopt, option, 4096)
    if refused != "ok":
        raise Unsupported(f"setsockopt({option}) failed: {refused}")


@case(
    "recv.timedout",
    "recv() and recvfrom() on a connection aborted by a transmission timeout fail with ETIMEDOUT",
    cites=[
        posix("recv", "ERRORS: ETIMEDOUT, a transmission timeout on an active connection"),
        posix("recvfrom", "ERRORS: ETIMEDOUT"),
        linux("tcp(7)", "TCP_USER_TIMEOUT: unacknowledged data (also zero-window probes) "
                        "past the timeout closes the connection with ETIMEDOUT"),
        linux("tcp(7)", "ERRORS: ETIMEDOUT"),
    ],
    # The instance waits out the stack's probe timer (about 0.3 s on Linux), so
    # it runs once: the backend and the IP version change nothing in that timer.
    # The first zero-window probe comes after one retransmission timeout (at
    # least 200 ms on Linux) whatever the user timeout; the smallest user
    # timeout (1 ms) makes the next probe the abort (50 ms took 40 ms longer).
    params={"family": ("inet",)},
    asserts=["posix:recv:ETIMEDOUT", "posix:recvfrom:ETIMEDOUT"],
)
def test_timedout(family: str, kit: Kit) -> dict[str, Any]:
    """Two connections whose peers never read: with small buffers filled and TCP_USER_TIMEOUT
    = 1 ms, the stack gives up probing the zero window; recv() reports it on one connection,
    recvfrom() on the other (one wait serves both calls)."""
    listener = kit.socket(family, "stream")
    # The peer's buffer must be small before the handshake fixes the window.
    _shrink(listener, "SO_RCVBUF")
    listener.bind(kit.address(family))
    listener.listen(2)
    senders = []
    for _ in CALLS:
        s = kit.socket(family, "stream")
        _shrink(s, "SO_SNDBUF")
        kit.connect_within(s, listener.getsockname())
        kit.accept_within(listener)
        refused = Kit.outcome(s.setsockopt, "TCP_USER_TIMEOUT", 1)
        if refused != "ok":
            # The claim rides on a transmission timeout the case can shorten;
            # a stack without the option (lwIP: ENOPROTOOPT) cannot show it here.
            raise Unsupported(f"setsockopt(TCP_USER_TIMEOUT) failed: {refused}")
        s.set_nonblocking(True)
        while Kit.outcome(s.send, bytes(4096)) == "ok":
            pass
        s.set_nonblocking(False)
        senders.append(s)
    obs: dict[str, Any] = {}
    for call, s in zip(CALLS, senders, strict=True):
        _wait_readable(kit, s)  # the abort makes the socket readable
        obs[call] = _errno(_within(s, lambda s=s, call=call: _read(s, call, 16)))
    return obs


@case(
    "recv.trunc.dgram",
    "recv() with MSG_TRUNC on a datagram socket returns the datagram's real length",
    cites=[
        linux("recv(2)", "MSG_TRUNC: for datagram sockets, return the real length of the "
                         "datagram even when it was longer than the buffer (AF_UNIX since 3.4)"),
        linux("udp(7)", "MSG_TRUNC"),
    ],
    level="platform-defined",
    # Python's recv() reports the bytes copied, not the kernel's return value.
    params={"family": ALL_FAMILIES, "backend": ("libc",)},
    asserts=["linux:recv.2:MSG_TRUNC"],
)
def test_trunc_dgram(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """recv(4, MSG_TRUNC) of a 10-byte datagram copies 4 bytes and returns 10."""
    reader, writer = _pair(kit, family, "dgram")
    writer.send(PAYLOAD)
    _wait_readable(kit, reader)
    copied, returned = reader.recv_count(4, ("MSG_TRUNC",))  # type: ignore[attr-defined]
    return {"returned": returned, "copied": _text(copied)}


@case(
    "recv.trunc.stream",
    "recv() with MSG_TRUNC on a TCP connection discards the bytes instead of copying them",
    cites=[
        linux("tcp(7)", "MSG_TRUNC: the received data is discarded rather than passed back"),
        linux("recv(2)", "MSG_TRUNC"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": ("libc",)},
    asserts=["linux:recv.2:MSG_TRUNC"],
)
def test_trunc_stream(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """recv(4, MSG_TRUNC) with 10 bytes queued consumes 4 without copying them; the next read
    returns the other 6."""
    reader, writer = _stream_pair(kit, family)
    writer.send(PAYLOAD)
    _wait_readable(kit, reader)
    if not _arrives_all(reader, len(PAYLOAD)):
        raise DeadlineExceeded("the 10 bytes never reached the receive queue together")
    copied, returned = reader.recv_count(4, ("MSG_TRUNC",))  # type: ignore[attr-defined]
    rest = kit.recv_within(reader, 64)
    # The buffer starts zeroed: discarded bytes leave it so, copied ones do not.
    return {"returned": returned, "buffer_written": copied != bytes(4),
            "then_read": _text(rest)}


@case(
    "recv.udp.unconnected_icmp",
    "an unconnected UDP socket is not told of the ICMP port-unreachable its datagram caused",
    cites=[
        linux("udp(7)", "ERROR HANDLING: without IP_RECVERR, errors are reported only on "
                        "connected sockets"),
        linux("ip(7)", "IP_RECVERR"),
        mslearn("recvfrom", "WSAECONNRESET: on a UDP socket, a previous send caused an ICMP "
                            "Port Unreachable message"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:udp.7:IP_RECVERR"],
)
def test_udp_unconnected_icmp(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A datagram to a port no socket holds, then one to itself: recv() gets the second,
    and nothing else is pending."""
    gone = kit.bound(family, "dgram")
    closed_port = gone.getsockname()
    gone.close()
    s = kit.bound(family, "dgram")
    s.sendto(b"to nobody", closed_port)
    # The marker follows the refused datagram through loopback, so the ICMP
    # error, if the stack reports it, is there before the marker is.
    s.sendto(PAYLOAD, s.getsockname())
    _wait_readable(kit, s)
    first = _within(s, lambda: s.recv(64))
    s.set_nonblocking(True)
    return {"first": _label(first), "then": _errno(_within(s, lambda: s.recv(64)))}
