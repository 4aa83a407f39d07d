"""TCP (and unix stream) data transfer: send/recv without a connection, sendto/recvfrom on a
connection, end of stream, and byte order across sends."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    C_API,
    DEADLINE_S,
    INET,
    BlockedCall,
    DeadlineExceeded,
    Kit,
    Socket,
    case,
    errno_name,
    freebsd,
    linux,
    mslearn,
    posix,
    prove_blocked,
    seed,
)

# How long a call must stay unreturned to count as waiting where nothing better shows it.
WINDOW_S = 0.05

# Python sets SIGPIPE to SIG_IGN at start-up, so an EPIPE cannot kill the
# run; MSG_NOSIGNAL (where the platform has it) also keeps the libc backend
# safe inside a host program that restored the default action.
NOSIGNAL = ("MSG_NOSIGNAL",) if hasattr(socket, "MSG_NOSIGNAL") else ()


def _errno_within(sock: Socket, fn: Callable[..., Any], *args: Any) -> str:
    """Run a call that should return at once; its errno name ("ok" if it succeeds).

    Readiness cannot guard these calls: BSD poll reports an unconnected TCP
    socket neither readable nor writable, while recv()/send() on it fail at
    once. So the call runs on its own thread and the deadline is enforced
    from outside; a call that hangs is woken by shutdown() and reported as
    a timeout.
    """
    call = BlockedCall(lambda: fn(*args)).start()
    if not call.wait(DEADLINE_S):
        Kit.outcome(sock.shutdown, "rdwr")
        call.wait(DEADLINE_S)
        raise DeadlineExceeded(f"{getattr(fn, '__name__', fn)}() did not return in {DEADLINE_S}s")
    if call.error is None:
        return "ok"
    if isinstance(call.error, OSError):
        return errno_name(call.error)
    raise call.error


def _connected_pair(kit: Kit, family: str) -> tuple[Socket, Socket, Socket]:
    """(listener, client, accepted peer) of one loopback connection."""
    listener = kit.listener(family)
    client = kit.socket(family, "stream")
    kit.connect_within(client, listener.getsockname())
    peer, _ = kit.accept_within(listener)
    return listener, client, peer


def _send_all(sock: Socket, data: bytes) -> None:
    while data:
        data = data[sock.send(data):]


def _recv_exactly(kit: Kit, sock: Socket, n: int) -> bytes:
    """n bytes from a stream (fewer only if the stream ends first), each read on a deadline."""
    got = b""
    while len(got) < n:
        chunk = kit.recv_within(sock, n - len(got))
        if not chunk:
            break
        got += chunk
    return got


@case(
    "tcp.sendto_address_ignored",
    "sendto() with an address on a connected TCP socket ignores the address and sends to the peer",
    cites=[
        seed("24", "once connected, both sides may call send() or sendto()"),
        posix("sendto", "DESCRIPTION: on a connection-mode socket dest_addr is ignored"),
        linux("send(2)", "DESCRIPTION: dest_addr ignored on connection-mode sockets (or EISCONN)"),
        mslearn("sendto", "Remarks: to and tolen are ignored on connection-oriented sockets"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_sendto_address_ignored(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Bytes passed to sendto(other listener's address) on a connection reach the connected peer."""
    _, client, peer = _connected_pair(kit, family)
    other = kit.listener(family)
    payload, end = b"sent with an address", b"|end"
    result = kit.outcome(client.sendto, payload, other.getsockname())
    # The barrier: whatever arrives before it is what sendto() delivered.
    _send_all(client, end)
    got = b""
    while not got.endswith(end):
        chunk = kit.recv_within(peer)
        if not chunk:
            break
        got += chunk
    before = got.removesuffix(end)
    delivered = "peer" if before == payload else ("nowhere" if not before else "peer, altered")
    return {"sendto": result, "delivered_to": delivered}


@case(
    "tcp.recvfrom_address",
    "recvfrom() on a connected TCP socket returns the data but no source address",
    cites=[
        seed("26", "recvfrom() can report where data came from"),
        posix("recvfrom", "DESCRIPTION: without a source address from the protocol, "
                          "the stored address is unspecified"),
        linux("recv(2)", "DESCRIPTION: src_addr is filled only if the protocol provides it"),
        mslearn("recvfrom", "Remarks: from and fromlen are ignored on connection-oriented sockets"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["linux:recv.2:src_addr"],
)
def test_recvfrom_address(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """recvfrom() on an accepted stream gives no address (Python: None; libc: addrlen 0)."""
    _, client, peer = _connected_pair(kit, family)
    _send_all(client, b"stream bytes")
    if not kit.readable(peer, DEADLINE_S):
        raise DeadlineExceeded(f"recvfrom: nothing readable within {DEADLINE_S}s")
    obs: dict[str, Any] = {}
    if backend in C_API:
        # The C API shows the length the kernel wrote back, which Python hides.
        _, addr, addrlen = peer.recvfrom_addrlen(64)  # type: ignore[attr-defined]
        obs["addrlen"] = addrlen
    else:
        _, addr = peer.recvfrom(64)
    kit.note(address=addr)
    if addr is None:
        return {"address": None, "address_returned": False, **obs}
    same = tuple(addr) == tuple(peer.getpeername())
    return {"address": "peer" if same else "other", "address_returned": True, **obs}


@case(
    "tcp.send_unconnected",
    "send() on a TCP socket that was never connected fails",
    cites=[
        seed("24", "TCP data is exchanged only after connect() and the handshake"),
        posix("send", "ERRORS: ENOTCONN, EPIPE"),
        linux("send(2)", "ERRORS: ENOTCONN, EPIPE; BUGS: Linux may return EPIPE instead of "
                         "ENOTCONN"),
        mslearn("send", "WSAENOTCONN"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
    asserts=["posix:send:ENOTCONN", "linux:send.2:ENOTCONN",
             "linux:socket.2:connected_stream"],
)
def test_send_unconnected(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """send() on a fresh, unconnected TCP socket returns an errno at once."""
    s = kit.socket(family, "stream")
    return {"errno": _errno_within(s, s.send, b"nobody listens", NOSIGNAL)}


@case(
    "tcp.recv_unconnected",
    "recv() on a TCP socket that was never connected fails with ENOTCONN",
    cites=[
        seed("24", "TCP data is exchanged only after connect() and the handshake"),
        posix("recv", "ERRORS: ENOTCONN"),
        linux("recv(2)", "ERRORS: ENOTCONN"),
        freebsd("recv(2)", "ERRORS: ENOTCONN"),
        mslearn("recv", "WSAENOTCONN"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_recv_unconnected(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """recv() on a fresh, unconnected TCP socket returns ENOTCONN at once instead of waiting."""
    s = kit.socket(family, "stream")
    return {"errno": _errno_within(s, s.recv, 16)}


@case(
    "tcp.eof",
    "after the peer shuts down writing or closes, recv() returns 0 bytes: end of stream",
    cites=[
        posix("recv", "RETURN VALUE: 0 after the peer's orderly shutdown"),
        linux("recv(2)", "RETURN VALUE: 0 is the traditional end-of-file"),
        mslearn("recv", "Return value: zero when the connection was gracefully closed"),
    ],
    params={"family": ALL_FAMILIES, "peer": ("shutdown_wr", "close"), "backend": BACKENDS},
    asserts=["linux:recv.2:EOF"],
)
def test_eof(family: str, peer: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Data sent before the peer's shutdown(SHUT_WR) or close() is read, then recv() gives 0."""
    _, client, accepted = _connected_pair(kit, family)
    payload = b"last words"
    _send_all(accepted, payload)
    if peer == "close":
        accepted.close()
    else:
        accepted.shutdown("wr")
    data = _recv_exactly(kit, client, len(payload))
    try:
        at_end: Any = len(kit.recv_within(client))
    except OSError as exc:
        at_end = errno_name(exc)
    return {"data_complete": data == payload, "recv_at_eof": at_end}


@case(
    "tcp.stream_order",
    "bytes from several send() calls arrive complete and in order, and MSG_WAITALL waits for them",
    cites=[
        posix("recvfrom", "DESCRIPTION: stream sockets ignore message boundaries"),
        posix("recv", "MSG_WAITALL: block until the full amount of data can be returned"),
        linux("tcp(7)", "DESCRIPTION: a reliable, stream-oriented connection"),
        linux("recv(2)", "MSG_WAITALL: block until the full request is satisfied"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:recv:MSG_WAITALL", "linux:recv.2:MSG_WAITALL"],
)
def test_stream_order(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A blocked MSG_WAITALL recv() stays blocked with part of the data queued, then
    returns the five sends (1, 100, 7, 1400, 3 bytes) whole and in order in one call."""
    _, client, peer = _connected_pair(kit, family)
    chunks = [bytes([i]) * size for i, size in enumerate((1, 100, 7, 1400, 3), start=1)]
    want = b"".join(chunks)
    # The receiver is truly blocking and asks for everything before anything is sent.
    call = BlockedCall(lambda: peer.recv(len(want), ("MSG_WAITALL",))).start()
    try:
        proof = prove_blocked(call, "recv")
        _send_all(client, chunks[0])
        # With the first piece at the receiver, the call must still be parked.
        arrival = _arrived_within(peer, client, call)
        waited = arrival is not None and prove_blocked(call, "recv")["blocked"]
        for chunk in chunks[1:]:
            _send_all(client, chunk)
    except BaseException:
        # The case failed before all the data went out: wake the parked call
        # and report that failure, not a timeout of a call that could not finish.
        Kit.outcome(peer.shutdown, "rdwr")
        call.wait(DEADLINE_S)
        raise
    if not call.wait(DEADLINE_S):
        # The deadline comes from outside: shutdown() wakes the blocked call.
        Kit.outcome(peer.shutdown, "rdwr")
        call.wait(DEADLINE_S)
        raise DeadlineExceeded(f"recv(MSG_WAITALL) did not return within {DEADLINE_S}s")
    if call.error is not None:
        raise call.error
    kit.note(blocked_proof=proof["method"], arrival_proof=arrival)
    got, calls = call.result, 1
    while len(got) < len(want):  # a short return: collect the rest to judge the order
        part = kit.recv_within(peer, len(want) - len(got))
        calls += 1
        if not part:
            break
        got += part
    return {
        "received_equals_sent": got == want,
        "sends": len(chunks),
        "recv_calls": calls,
        "blocked_before_send": proof["blocked"],
        "waited_with_data_queued": waited,
    }


def _arrived_within(receiver: Socket, sender: Socket, call: BlockedCall) -> str | None:
    """How it was shown that sent bytes reached ``receiver`` while ``call`` kept waiting.

    Either the receiver's queue holds them (FIONREAD), or the sender's queue
    is empty (Linux SIOCOUTQ: every byte acknowledged, or taken by the
    reader): a receiver blocked in MSG_WAITALL may already have copied them
    into its buffer, so the first alone does not show it on every stack.
    Polled for a bounded window; where neither shows it (a stack without the
    ioctls, or one that keeps its counts elsewhere), the weaker evidence is
    that the call did not return within the window after the send. None if
    the call returned.
    """
    import fcntl
    import struct
    import termios
    import time

    probes = [("fionread", receiver, termios.FIONREAD, lambda n: n > 0)]
    if hasattr(termios, "TIOCOUTQ"):
        probes.append(("siocoutq", sender, termios.TIOCOUTQ, lambda n: n == 0))
    end = time.monotonic() + WINDOW_S
    while probes and time.monotonic() < end and not call.done.is_set():
        for probe in list(probes):
            name, sock, request, shown = probe
            fd = Kit.host_descriptor(sock)
            if fd is None:  # a stack agent's socket: no ioctl here reaches it
                probes.remove(probe)
                continue
            try:
                raw = fcntl.ioctl(fd, request, struct.pack("i", 0))
            except OSError:
                probes.remove(probe)  # not for sockets here: the other probe, or the window
                continue
            if shown(struct.unpack("i", raw)[0]):
                return name if not call.done.is_set() else None
        call.done.wait(0.0005)
    # The window runs from the send: the polling above was part of it.
    returned = call.wait(max(0.0, end - time.monotonic()))
    return None if returned else f"timed-window-{int(WINDOW_S * 1000)}ms"
