"""The toolkit a case body gets as the ``kit`` fixture.

It opens sockets with the instance's backend (and closes them at teardown),
names loopback addresses per family, turns calls into errno names, and waits
for readiness with deadlines: nothing here sleeps.
"""

from __future__ import annotations

import errno as _errno
import os
import sys
from collections.abc import Callable
from typing import Any

from conformance import deadlines, errnos, limits, tempdirs
from conformance.backends import Address, Socket, Tracker, open_socket, wait
from conformance.errors import Unsupported

# How long a call that should complete at once may take before it counts as
# hung; generous, because only a broken stack ever reaches it, and because on a
# machine whose CPUs are saturated by other processes a thread of a nice-19 run
# can wait seconds for the CPU it needs to make or answer the call (issue 17
# item 9). No conforming instance on Linux waits it out.
DEADLINE_S = 10.0
# A refused connect() may take longer: Windows answers a refused SYN on
# loopback by retrying it and reports WSAECONNREFUSED only after about 2 s
# (measured 2.0 s on GitHub's Windows runners; libuv#2896 works around it).
CONNECT_DEADLINE_S = 10.0
# linux/sockios.h; Python's termios does not name it.
_SIOCOUTQNSD = 0x894B
# What an ioctl() the platform does not offer for this socket fails with.
_NO_SUCH_IOCTL = (_errno.ENOTTY, _errno.EINVAL, _errno.EOPNOTSUPP)

LOOPBACK = {"inet": "127.0.0.1", "inet6": "::1"}
WILDCARD = {"inet": "0.0.0.0", "inet6": "::"}


def errno_name(exc: OSError) -> str:
    """The symbolic errno of an OSError (``EAGAIN``), never the number or the text.

    The name is normalised (errnos.py: WSAEINVAL is EINVAL, EWOULDBLOCK is
    EAGAIN); a stack agent's error carries the stack's own spelling. An errno
    that says the machine ran out (EMFILE at the descriptor limit the run
    started with, ENFILE) is no behaviour of the stack: it raises
    EnvironmentLimit instead of becoming an observation.
    """
    limits.check_errno(exc)
    raw = getattr(exc, "raw_name", None)
    if raw is None:
        if exc.errno is None:
            return type(exc).__name__
        raw = _errno.errorcode.get(exc.errno, f"errno{exc.errno}")
    return errnos.observe(raw)


# This process's loopback-only namespace, made when a case first asks for one.
# Building one costs a request to the namespace helper and, where setns() is
# missing (gVisor), a forked child: 20 ms an instance in a sandbox. Each case
# closes its sockets (the leak check sees to it), so the next one finds the
# namespace as empty as a new one, but for what the stack keeps of closed
# connections (TIME_WAIT), which only keeps bind(0) off those ports.
_private: Any = None


def _private_namespace() -> Any:
    """This process's private namespace (see above), made or remade when needed."""
    global _private
    from conformance import ephemeral, topology

    if _private is not None and _private.alive:
        return _private
    netns = topology.Topology(peer=False, shared=True)
    try:
        lo, hi, _ = ephemeral.port_range()
        netns.sysctl(topology.HOST, "net.ipv4.ip_local_port_range", f"{lo} {hi}")
    except (topology.TopologyUnavailable, OSError, Unsupported) as exc:
        netns.close()
        raise topology.TopologyUnavailable(
            f"the namespace's port range cannot follow the host's ({exc})") from exc
    _private = netns
    return netns


class Kit:
    """Per-instance helpers; see the module docstring."""

    def __init__(self, backend: str, tracker: Tracker):
        self.backend = backend
        self.tracker = tracker
        self.detail: dict[str, Any] = {}
        self._tmpdir: tempdirs.PrivateDir | None = None
        errnos.record_into(self.detail)
        self._netns: Any = None

    def private_network(self) -> bool:
        """Make this instance's inet sockets from here on in a loopback-only network
        namespace of this process's own, when the platform can make one; return
        whether it did.

        For cases whose sockets end up bound to the wildcard address (listen() or
        sendto() on an unbound socket binds one): in the host's namespace such a
        socket is reachable from the network while it is open, in a private one
        from nowhere. The namespace gets the host's ephemeral port range, so its
        sockets get the ports the host's would. ``detail["netns"]`` says which.
        """
        from conformance import topology

        if self.backend == "agent":
            self.note(netns="host: the stack agent's sockets live in its own process")
            return False
        try:
            self._netns = _private_namespace()
        except (topology.TopologyUnavailable, OSError) as exc:
            self.note(netns=f"host: {exc}")
            return False
        self.note(netns="private")
        return True

    def socket(self, family: str, type: str, *, backend: str | None = None) -> Socket:
        """A new socket; an absent family or type is ``unsupported``, not an error."""
        try:
            if self._netns is not None and family != "unix":
                owner = _Owner(backend or self.backend, self.tracker)
                from conformance.topology import HOST

                return self._netns.socket(owner, HOST, family, type)  # type: ignore[no-any-return]
            return open_socket(backend or self.backend, family, type, self.tracker)
        except OSError as exc:
            if errno_name(exc) in ("EAFNOSUPPORT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT",
                                   "EPFNOSUPPORT", "EPROTOTYPE"):
                raise Unsupported(f"socket({family}, {type}) failed: {errno_name(exc)}") from exc
            raise

    def pipe_socket(self, family: str, type: str) -> Socket:
        """A libc-backend Socket whose descriptor is a pipe, not a socket.

        Every socket call on it reaches the kernel with a valid descriptor
        of the wrong kind (the ENOTSOCK condition); the Python backend cannot
        express this, as socket.socket() refuses such a descriptor itself.
        """
        from conformance.backends.libc import LibcSocket

        r, w = os.pipe()
        os.close(w)
        return self.tracker.add(LibcSocket(r, family, type, self.tracker))

    def address(self, family: str, port: int = 0, host: str | None = None) -> Address:
        """A bindable address: loopback (or ``host``) and ``port``; a fresh path for unix."""
        if family == "unix":
            if self._tmpdir is None:
                self._tmpdir = limits.unix_socket_dir()
            return os.path.join(self._tmpdir.name, f"s{len(os.listdir(self._tmpdir.name))}")
        return (host or LOOPBACK[family], port)

    def bound(self, family: str, type: str, host: str | None = None) -> Socket:
        """A socket bound to loopback (or ``host``) on a port from bind(0)."""
        s = self.socket(family, type)
        s.bind(self.address(family, 0, host))
        return s

    def listener(self, family: str, backlog: int = 16) -> Socket:
        s = self.bound(family, "stream")
        s.listen(backlog)
        return s

    def connected(self, family: str, type: str = "stream") -> tuple[Socket, Socket]:
        """A connected pair on loopback or AF_UNIX: (client, its accepted peer) for
        stream, (sender connected to the receiver, the bound receiver) for dgram."""
        if type == "dgram":
            receiver = self.bound(family, "dgram")
            sender = self.socket(family, "dgram")
            sender.connect(receiver.getsockname())
            return sender, receiver
        listener = self.listener(family)
        client = self.socket(family, "stream")
        self.connect_within(client, listener.getsockname())
        peer, _ = self.accept_within(listener)
        return client, peer

    def note(self, **detail: Any) -> None:
        """Record volatile facts (port numbers, addresses) beside the observation."""
        self.detail.update(detail)

    @staticmethod
    def outcome(fn: Callable[..., Any], *args: Any) -> str:
        """Run one call: ``"ok"`` if it returned, else its errno name."""
        try:
            fn(*args)
        except OSError as exc:
            return errno_name(exc)
        return "ok"

    def try_socket(self, family: int, type: int) -> None:
        """socket() with raw numbers, closed at once: OSError carries the errno."""
        if self.backend == "libc":
            from conformance.backends import libc

            libc.try_socket(family, type)
        elif self.backend == "agent":
            from conformance.backends import agent

            agent.try_socket(family, type)
        else:
            import socket

            socket.socket(family, type).close()

    @staticmethod
    def descriptor(sock: Socket) -> int:
        """The socket's descriptor number in its stack (an agent's is not this process's)."""
        return getattr(sock, "descriptor", None) or sock.fileno()

    @staticmethod
    def host_descriptor(sock: Socket) -> int | None:
        """This process's descriptor of the socket, or None when it lives in a stack agent."""
        return None if sock.backend == "agent" else sock.fileno()

    @staticmethod
    def select(
        readers: list[Socket], writers: list[Socket], timeout: float
    ) -> tuple[list[Socket], list[Socket]]:
        """The sockets of ``readers``/``writers`` ready within ``timeout`` (no sleep).

        The backend polls: an agent's sockets are not this process's descriptors.
        """
        deadlines.before_wait()
        return wait(readers, writers, timeout)

    @staticmethod
    def readable(sock: Socket, timeout: float) -> bool:
        """Whether ``sock`` becomes readable within ``timeout`` seconds (poll, no sleep)."""
        deadlines.before_wait()
        return bool(wait([sock], [], timeout)[0])

    @staticmethod
    def queued(sock: Socket) -> int | None:
        """Bytes waiting in ``sock``'s receive queue (FIONREAD), or None where the
        platform cannot say; any other failure of the call (a descriptor the
        harness already closed) is raised, since it is no answer of the stack."""
        try:
            import fcntl
            import termios
        except ImportError:
            return None
        buf = bytearray(4)
        try:
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
        except OSError as exc:
            if exc.errno in _NO_SUCH_IOCTL:
                return None
            raise
        return int.from_bytes(buf, sys.byteorder, signed=True)

    @staticmethod
    def in_flight(sock: Socket) -> int | None:
        """Bytes ``sock`` sent and the peer has not yet acknowledged, or None where
        the stack cannot say (no TIOCOUTQ/SIOCOUTQNSD: AF_UNIX, gVisor, the BSDs)."""
        try:
            import fcntl
            import termios
        except ImportError:
            return None
        # TIOCOUTQ counts every byte not yet acknowledged, sent or not;
        # SIOCOUTQNSD the ones not yet sent.
        outq, unsent = bytearray(4), bytearray(4)
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, outq)
            fcntl.ioctl(sock.fileno(), _SIOCOUTQNSD, unsent)
        except (AttributeError, OSError):
            return None
        return (int.from_bytes(outq, sys.byteorder, signed=True)
                - int.from_bytes(unsent, sys.byteorder, signed=True))

    @staticmethod
    def writable(sock: Socket, timeout: float) -> bool:
        deadlines.before_wait()
        return bool(wait([], [sock], timeout)[1])

    def recv_within(self, sock: Socket, n: int = 65536, timeout: float = DEADLINE_S) -> bytes:
        """recv() that raises DeadlineExceeded instead of hanging."""
        if not self.readable(sock, timeout):
            raise deadlines.missed(f"recv: nothing readable within {timeout}s")
        return sock.recv(n)

    def recvfrom_within(
        self, sock: Socket, n: int = 65536, timeout: float = DEADLINE_S
    ) -> tuple[bytes, Address | None]:
        if not self.readable(sock, timeout):
            raise deadlines.missed(f"recvfrom: nothing readable within {timeout}s")
        return sock.recvfrom(n)

    def accept_within(self, sock: Socket, timeout: float = DEADLINE_S) -> tuple[Socket, Address]:
        if not self.readable(sock, timeout):
            raise deadlines.missed(f"accept: no connection within {timeout}s")
        try:
            return sock.accept()
        except OSError as exc:
            limits.check_errno(exc)  # no descriptor left for the new socket: name the limit
            raise

    @staticmethod
    def connect_within(
        sock: Socket, addr: Address, timeout: float = CONNECT_DEADLINE_S
    ) -> None:
        """A blocking connect() that raises DeadlineExceeded instead of hanging.

        The socket stays truly blocking; the call runs on its own thread, and
        at the deadline shutdown() aborts the attempt so no thread outlives
        the case. A failed connect() raises its OSError here, in the caller.
        """
        from conformance.blocking import BlockedCall

        deadlines.before_wait()
        call = BlockedCall(lambda: sock.connect(addr)).start()
        if not call.wait(timeout):
            try:
                sock.shutdown("rdwr")
            except OSError:
                pass  # not connected yet on some stacks; the wait below still bounds it
            call.wait(timeout)
            raise deadlines.missed(f"connect: not finished within {timeout}s")
        if call.error is not None:
            raise call.error

    def drain(self, sock: Socket, marker: bytes, timeout: float = DEADLINE_S) -> list[bytes]:
        """Every datagram queued on ``sock`` up to and including ``marker``.

        Absence is shown with a barrier, not a sleep: the case sends ``marker``
        from an accepted source after the datagrams that must not arrive, and
        loopback keeps one receiver's queue in order, so anything not seen by
        the time the marker arrives was not delivered.
        """
        got: list[bytes] = []
        while True:
            data = self.recv_within(sock, 65536, timeout)
            got.append(data)
            if data == marker:
                return got

    def close(self) -> None:
        self.tracker.close_all()
        self._netns = None  # kept for the next case (_private_namespace)
        errnos.record_into(None)
        if self.backend == "agent":
            from conformance.backends import agent

            agent.release()
        if self._tmpdir is not None:
            limits.release(self._tmpdir)
            self._tmpdir = None


class _Owner:
    """Who a socket made in a namespace belongs to: a backend and a tracker."""

    def __init__(self, backend: str, tracker: Tracker):
        self.backend, self.tracker = backend, tracker
