"""A small model of the socket lifecycle, written from POSIX and the manual pages.

Theory of operation. The state machine in cases/test_state.py performs random
steps (socket, bind, listen, connect, accept, send, recv, shutdown, close) on
real sockets and, before each step, asks this model which outcomes are
allowed: ``"ok"``, ``"eof"`` or an errno name. The model is pure data and
transitions; it never looks at the stack. Where POSIX leaves a choice to the
implementation and the platform documents its own behaviour, the platform's
expectation decides (:class:`Oracle` reads the matching catalogue case from
the expectation data); otherwise the POSIX outcome stands.

All sockets are inet on loopback and non-blocking, so every step returns at
once: "nothing there" is EAGAIN, never a hang. TCP connect is the exception
(done blocking, but only towards a listener with room in its backlog or a
bound, non-listening port, both of which answer immediately on loopback).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.expectations import ExpectationSet

BACKLOG = 8
WOULD_BLOCK = frozenset({"EAGAIN", "EWOULDBLOCK"})


class Oracle:
    """POSIX outcomes, narrowed by the platform's documented errno where it has one."""

    def __init__(
        self,
        documented: ExpectationSet | None = None,
        platform: Mapping[str, Any] | None = None,
        overrides: Mapping[str, frozenset[str]] | None = None,
    ):
        self.documented = documented
        self.platform = platform or {}
        self.overrides = dict(overrides or {})

    def outcome(
        self, step: str, posix: frozenset[str], case_id: str | None = None
    ) -> frozenset[str]:
        """What ``step`` may return: an override, else the platform's errno, else POSIX's."""
        if step in self.overrides:
            return self.overrides[step]
        if case_id and self.documented is not None:
            params = {"family": "inet", "backend": "python", "type": "stream"}
            exp = self.documented.lookup(case_id, self.platform, params)
            if exp is not None:
                errnos = frozenset(a["errno"] for a in exp.accept if "errno" in a)
                if errnos:
                    return errnos
        return posix


@dataclass
class Sock:
    """What the model knows about one socket."""

    n: int
    kind: str  # "tcp" | "udp"
    bound: bool = False
    listening: bool = False
    connected: bool = False
    closed: bool = False
    shut_wr: bool = False
    peer: Sock | None = None
    inbox: list[bytes] = field(default_factory=list)  # udp: datagrams; tcp: one byte string
    pending: list[Sock] = field(default_factory=list)  # tcp listener: clients not yet accepted
    unaccepted: list[bytes] = field(default_factory=list)  # tcp client: sent before accept
    maybe_bound: bool = False  # a failed send() may or may not have bound it
    # POSIX connect(): "If connect() fails, the state of the socket is
    # unspecified"; the model predicts nothing more for it but close().
    unspecified: bool = False
    # tcp: the peer closed; udp: a datagram drew ICMP port unreachable (its
    # receiver was closed, or connected to someone else and so filtered it).
    peer_gone: bool = False
    # tcp, accepted: the listener it came from, whose address it shares.
    listener: Sock | None = None

    def __repr__(self) -> str:
        return f"s{self.n}<{self.kind}>"

    @property
    def ended(self) -> bool:
        """tcp: the connection may have ended (both directions closed, or reset)."""
        return self.kind == "tcp" and self.connected and (self.shut_wr or self.peer_gone)

    @property
    def tcp_bytes(self) -> bytes:
        return b"".join(self.inbox)


class Model:
    """Predicts each step's outcome set and applies the outcome the stack gave."""

    def __init__(self, oracle: Oracle):
        self.oracle = oracle
        self.socks: list[Sock] = []

    def new(self, kind: str) -> Sock:
        s = Sock(len(self.socks), kind)
        self.socks.append(s)
        return s

    # -- predictions ---------------------------------------------------------

    def bind(self, s: Sock) -> frozenset[str] | None:
        if s.unspecified:
            return None
        if s.closed:
            return frozenset({"EBADF"})
        if s.ended:
            # Whether a connection that has ended still holds its local address
            # is not specified (Linux releases an autobound port once the
            # connection reaches CLOSE, and bind() then succeeds).
            return frozenset({"ok", "EINVAL"})
        if s.bound or s.connected or s.listening:
            # POSIX bind(): EINVAL, the socket is already bound.
            return self.oracle.outcome("bind.bound", frozenset({"EINVAL"}), "bind.twice")
        if s.maybe_bound:
            # POSIX does not say whether a send() that failed bound the socket
            # on its way (Linux does: inet_sendmsg() autobinds before checking).
            return frozenset({"ok", "EINVAL"})
        return frozenset({"ok"})

    def listen(self, s: Sock) -> frozenset[str] | None:
        if s.unspecified:
            return None
        if s.closed:
            return frozenset({"EBADF"})
        if s.kind == "udp":
            # POSIX listen(): EOPNOTSUPP, the socket protocol does not support listen().
            return self.oracle.outcome("listen.udp", frozenset({"EOPNOTSUPP"}), "listen.dgram")
        if s.connected:
            return frozenset({"EINVAL"})  # POSIX listen(): EINVAL, already connected
        if not s.bound and not s.listening:
            # POSIX listen(): EDESTADDRREQ where unbound listening is unsupported; the
            # platform documents autobinding (Linux listen(2), "listen.unbound.autobind").
            return self.oracle.outcome(
                "listen.unbound", frozenset({"ok", "EDESTADDRREQ", "EINVAL"})
            )
        return frozenset({"ok"})

    def connect(self, s: Sock, t: Sock) -> frozenset[str] | None:
        """None: this pair is outside the model (the step is not taken)."""
        if s.kind != t.kind or t.closed or not t.bound or s.listening or s is t:
            return None
        if s.unspecified or t.unspecified or t.ended:
            # t.ended: its port may have been released and taken by another socket.
            return None
        if s.closed:
            return frozenset({"EBADF"})
        if s.kind == "udp":
            return frozenset({"ok"})
        if s.connected:
            return self.oracle.outcome(
                "connect.connected", frozenset({"EISCONN"}), "connect.tcp.already_connected"
            )
        target = self.reached(t)
        if target is None:
            # POSIX connect(): ECONNREFUSED, the target address was not listening.
            return frozenset({"ECONNREFUSED"})
        if len(target.pending) >= BACKLOG:
            return None
        return frozenset({"ok"})

    @staticmethod
    def reached(t: Sock) -> Sock | None:
        """The listener a TCP connect() to ``t``'s address reaches, if any.

        An accepted socket's local address is its listener's (POSIX accept():
        the new socket has the same socket type, protocol and address family,
        and its local name is the listening address), so a connect() to it
        reaches that listener while it still listens.
        """
        target = t.listener or t
        return target if target.listening and not target.closed else None

    def accept(self, s: Sock) -> frozenset[str] | None:
        if s.unspecified:
            return None
        if s.closed:
            return frozenset({"EBADF"})
        if s.kind == "udp":
            return self.oracle.outcome("accept.udp", frozenset({"EOPNOTSUPP"}), "accept.dgram")
        if not s.listening:
            return self.oracle.outcome(
                "accept.not_listening", frozenset({"EINVAL"}), "accept.not_listening"
            )
        if not s.pending:
            return WOULD_BLOCK
        if s.pending[0].closed:
            # POSIX accept(): ECONNABORTED may be returned for a connection reset
            # before it was accepted; Linux returns the connection instead.
            return frozenset({"ok", "ECONNABORTED"})
        return frozenset({"ok"})

    def send(self, s: Sock) -> frozenset[str] | None:
        if s.unspecified:
            return None
        if s.closed:
            return frozenset({"EBADF"})
        if s.kind == "udp":
            if not s.connected:
                return self.oracle.outcome(
                    "send.udp.unconnected", frozenset({"EDESTADDRREQ"}), "udp.unconnected.send"
                )
            return frozenset({"ok", "ECONNREFUSED"}) if s.peer_gone else frozenset({"ok"})
        if s.shut_wr:
            # POSIX send(): EPIPE, shut down for writing; or ECONNRESET when the
            # peer reset the connection meanwhile (the pending error comes first).
            return frozenset({"EPIPE", "ECONNRESET"}) if s.peer_gone else frozenset({"EPIPE"})
        if not s.connected:
            return self.oracle.outcome(
                "send.tcp.unconnected", frozenset({"ENOTCONN"}), "tcp.send_unconnected"
            )
        if s.peer_gone:
            return frozenset({"ok", "EPIPE", "ECONNRESET"})
        return frozenset({"ok"})

    def recv(self, s: Sock) -> frozenset[str] | None:
        if s.unspecified:
            return None
        if s.closed:
            return frozenset({"EBADF"})
        if s.kind == "udp":
            extra = {"ECONNREFUSED"} if s.peer_gone and s.connected else set()
            return frozenset({"ok"} | extra) if s.inbox else frozenset(WOULD_BLOCK | extra)
        if not s.connected:
            return self.oracle.outcome(
                "recv.tcp.unconnected", frozenset({"ENOTCONN"}), "tcp.recv_unconnected"
            )
        if s.tcp_bytes:
            # A reset peer may discard what was still queued (POSIX recv(): ECONNRESET).
            return frozenset({"ok", "ECONNRESET"}) if s.peer_gone else frozenset({"ok"})
        if s.peer_gone:
            return frozenset({"eof", "ECONNRESET"})
        if s.peer is not None and s.peer.shut_wr:
            return frozenset({"eof"})
        return WOULD_BLOCK

    def shutdown(self, s: Sock) -> frozenset[str] | None:
        if s.unspecified:
            return None
        if s.closed:
            return frozenset({"EBADF"})
        if s.kind == "udp":
            return None
        if s.listening:
            # POSIX shutdown(): ENOTCONN, the socket is not connected; the
            # platform's own entry (case shutdown.listening) may say otherwise.
            return self.oracle.outcome(
                "shutdown.listening", frozenset({"ENOTCONN"}), "shutdown.listening"
            )
        if not s.connected:
            return frozenset({"ENOTCONN"})  # POSIX shutdown(): ENOTCONN
        if s.shut_wr or s.peer_gone or (s.peer is not None and s.peer.shut_wr):
            # Once both directions are closed, or a reset ended it, the socket is
            # no longer connected (Linux: state CLOSE, ENOTCONN); while the other
            # side has not finished, shutdown() still succeeds.
            return frozenset({"ok", "ENOTCONN"})
        return frozenset({"ok"})

    # -- transitions, given what the stack returned --------------------------

    def bound(self, s: Sock, outcome: str) -> None:
        if outcome == "ok" and s.connected:
            s.unspecified = True  # an ended connection, bound anew: beyond the model
        if outcome == "ok" or (outcome == "EINVAL" and s.maybe_bound):
            s.bound = True
        s.maybe_bound = False

    def listened(self, s: Sock, outcome: str) -> None:
        if outcome == "ok":
            s.listening = s.bound = True

    def connected(self, s: Sock, t: Sock, outcome: str) -> None:
        if outcome != "ok":
            s.unspecified = s.kind == "tcp" and outcome != "EISCONN"
            return
        s.bound = True
        if s.kind == "udp":
            # A pending ICMP error survives the new association (peer_gone stays):
            # connect() neither reports nor clears it. Datagrams already queued
            # stay queued (udp.connected.keeps_queued); only later ones are
            # filtered, which deliver() enforces.
            s.connected, s.peer = True, t
            return
        s.connected = True
        target = self.reached(t)
        assert target is not None, "connect() succeeded towards no listener"
        target.pending.append(s)

    def accepted(self, s: Sock, outcome: str, new: Sock | None) -> None:
        if not s.pending:
            return
        client = s.pending.pop(0)
        if outcome == "ok" and new is not None:
            new.bound = new.connected = True
            new.listener = s
            new.peer, client.peer = client, new
            new.inbox, client.unaccepted = client.unaccepted, []
            new.peer_gone = client.closed

    def sent(self, s: Sock, data: bytes, outcome: str) -> None:
        if outcome == "ECONNREFUSED":
            s.peer_gone = False
        if outcome != "ok" and not s.bound:
            s.maybe_bound = True
        if outcome != "ok":
            return
        if s.kind == "udp":
            self.deliver(s, s.peer, data)
        else:
            if s.peer is None:  # connected but not yet accepted: queued server-side
                s.unaccepted.append(data)
            elif not s.peer.closed:
                s.peer.inbox.append(data)

    def deliver(self, src: Sock, dst: Sock | None, data: bytes) -> None:
        if dst is None:
            return
        if dst.closed:
            src.peer_gone = True
            return
        if dst.connected and dst.peer is not src:
            # Filtered: a connected UDP socket takes only its peer's datagrams.
            # No other socket owns the port, so the receiving stack answers ICMP
            # port unreachable, which a connected sender's next call reports
            # (udp(7) ERRORS: ECONNREFUSED; udp.connected.icmp_refused).
            src.peer_gone = True
            return
        dst.inbox.append(data)

    def received(self, s: Sock, outcome: str, data: bytes) -> None:
        if outcome == "ECONNREFUSED":
            s.peer_gone = False
        if outcome == "ECONNRESET":
            s.inbox = []
        if outcome != "ok":
            return
        if s.kind == "udp":
            s.inbox.pop(0)
        else:
            rest = s.tcp_bytes[len(data):]
            s.inbox = [rest] if rest else []

    def shut(self, s: Sock, outcome: str) -> None:
        if outcome == "ok":
            s.shut_wr = True

    def close(self, s: Sock) -> None:
        s.closed = True
        if s.kind == "tcp" and s.peer is not None:
            s.peer.peer_gone = True
        for client in s.pending:
            client.peer_gone = True
