"""Ways to call the socket API.

``python`` is the standard ``socket`` module: what Python programs get.
``libc`` is the C API through ctypes, for what Python cannot express (sendto
with a NULL address, recvfrom with a NULL address pointer, connect with
AF_UNSPEC). ``agent`` is the C API of a stack that cannot host Python (lwIP,
Winsock under Wine), performed by the stack agent (backends/agent.py). All
return the same :class:`Socket` shape, raise ``OSError`` with
the platform's errno, and name families and types as strings (``inet``,
``inet6``, ``unix``; ``stream``, ``dgram``). Addresses are ``(host, port)`` for
inet and inet6 and a path string for unix.

Every socket is registered with a :class:`Tracker`, which closes what a case
left open; the plugin separately checks that nothing escaped it.
"""

from __future__ import annotations

import socket as _socket
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from conformance.errors import HarnessError, Unsupported

Address = Any
BACKENDS = ("python", "libc", "agent")

FAMILY = {"inet": _socket.AF_INET, "inet6": _socket.AF_INET6}
if hasattr(_socket, "AF_UNIX"):
    FAMILY["unix"] = _socket.AF_UNIX
TYPE = {"stream": _socket.SOCK_STREAM, "dgram": _socket.SOCK_DGRAM}
SHUT = {"rd": _socket.SHUT_RD, "wr": _socket.SHUT_WR, "rdwr": _socket.SHUT_RDWR}

# Message flags and socket options cross the Socket protocol by name
# ("MSG_PEEK", "SO_REUSEADDR"), never by number: their values differ between
# platforms and stacks, and a backend for another stack maps the names itself.
Flags = Collection[str]
# An option's level follows from its name's prefix.
_OPTION_LEVELS = (
    ("SO_", "SOL_SOCKET"), ("TCP_", "IPPROTO_TCP"), ("IPV6_", "IPPROTO_IPV6"),
    ("IP_", "IPPROTO_IP"),
)
# Options whose value is not an int: SO_LINGER is (on, seconds), SO_RCVTIMEO and
# SO_SNDTIMEO are (seconds, microseconds).
OptionValue = int | tuple[int, int]


# Flag and option names some platform's manual documents. A name this host
# lacks is ``unsupported`` only if it is one of these; any other name is a
# typo in the case (MSG_PEKK), a harness fault. Add a name here when a case
# needs one that not every platform has.
KNOWN_FLAGS = frozenset({
    "MSG_OOB", "MSG_PEEK", "MSG_DONTROUTE", "MSG_EOR", "MSG_TRUNC", "MSG_CTRUNC",
    "MSG_WAITALL", "MSG_DONTWAIT", "MSG_NOSIGNAL", "MSG_CONFIRM", "MSG_MORE",
    "MSG_ERRQUEUE", "MSG_FASTOPEN", "MSG_CMSG_CLOEXEC", "MSG_ZEROCOPY", "MSG_EOF",
    "MSG_NBIO", "MSG_NOTIFICATION", "MSG_WAITFORONE", "MSG_BCAST", "MSG_MCAST",
    "MSG_PARTIAL", "MSG_INTERRUPT", "MSG_PUSH_IMMEDIATE",
})
KNOWN_OPTIONS = frozenset({
    "SO_REUSEADDR", "SO_REUSEPORT", "SO_REUSEPORT_LB", "SO_EXCLUSIVEADDRUSE", "SO_ERROR",
    "SO_LINGER", "SO_SNDBUF", "SO_RCVBUF", "SO_RCVTIMEO", "SO_SNDTIMEO", "SO_TYPE",
    "SO_KEEPALIVE", "SO_BROADCAST", "SO_ACCEPTCONN", "SO_DONTROUTE", "SO_OOBINLINE",
    "SO_RCVLOWAT", "SO_SNDLOWAT", "SO_DEBUG", "SO_NOSIGPIPE", "SO_BINDTODEVICE",
    "SO_PROTOCOL", "SO_DOMAIN",
    "TCP_NODELAY", "TCP_MAXSEG", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT",
    "TCP_USER_TIMEOUT", "TCP_FASTOPEN", "TCP_NOPUSH", "TCP_CORK", "TCP_QUICKACK",
    "TCP_DEFER_ACCEPT",
    "IP_TTL", "IP_TOS", "IP_RECVERR", "IP_MULTICAST_TTL", "IP_MULTICAST_LOOP",
    "IP_PKTINFO", "IP_RECVDSTADDR", "IP_BIND_ADDRESS_NO_PORT", "IP_FREEBIND",
    "IP_MTU_DISCOVER",
    "IPV6_V6ONLY", "IPV6_RECVERR", "IPV6_UNICAST_HOPS", "IPV6_MULTICAST_LOOP",
    "IPV6_RECVPKTINFO",
})


def _absent(kind: str, name: str, known: frozenset[str]) -> Exception:
    if name in known:
        return Unsupported(f"{kind} {name} is not defined on this platform")
    return HarnessError(f"no such {kind} {name!r} on this platform or in any manual the "
                        "suite knows (misspelt?)")


def flag_bits(flags: Flags) -> int:
    """The host's bits for flag names; a known name this platform lacks is ``unsupported``."""
    bits = 0
    for name in flags:
        if not name.startswith("MSG_"):
            raise HarnessError(f"{name!r} is not a message flag name (MSG_...)")
        value = getattr(_socket, name, None)
        if value is None:
            raise _absent("message flag", name, KNOWN_FLAGS)
        bits |= value
    return bits


def option_numbers(name: str) -> tuple[int, int]:
    """(level, optname) of a socket option name on this host; a known name it lacks
    is ``unsupported``."""
    for prefix, level in _OPTION_LEVELS:
        if name.startswith(prefix):
            number = getattr(_socket, name, None)
            if number is None:
                raise _absent("socket option", name, KNOWN_OPTIONS)
            return getattr(_socket, level), number
    raise HarnessError(f"{name!r} is not a socket option name (SO_, TCP_, IP_, IPV6_)")


def pack_option(name: str, value: OptionValue) -> bytes:
    """The option's C value: an int, or SO_LINGER's struct linger."""
    import struct

    if name == "SO_LINGER":
        if not isinstance(value, tuple):
            raise HarnessError("SO_LINGER takes (on, seconds)")
        return struct.pack("ii", *value)
    if name in ("SO_RCVTIMEO", "SO_SNDTIMEO"):
        if not isinstance(value, tuple):
            raise HarnessError(f"{name} takes (seconds, microseconds)")
        return struct.pack("ll", *value)  # struct timeval: two C longs
    if isinstance(value, tuple):
        raise HarnessError(f"{name} takes an int")
    return struct.pack("i", value)


class Socket(Protocol):
    family: str
    type: str
    backend: str

    def fileno(self) -> int: ...
    def bind(self, addr: Address) -> None: ...
    def listen(self, backlog: int = 16) -> None: ...
    def accept(self) -> tuple[Socket, Address]: ...
    def connect(self, addr: Address) -> None: ...
    def connect_unspec(self) -> None: ...
    def send(self, data: bytes, flags: Flags = ()) -> int: ...
    def sendto(self, data: bytes, addr: Address | None, flags: Flags = ()) -> int: ...
    def recv(self, n: int, flags: Flags = ()) -> bytes: ...
    def recvfrom(
        self, n: int, flags: Flags = (), *, want_address: bool = True
    ) -> tuple[bytes, Address | None]: ...
    def recvmsg(self, n: int) -> tuple[bytes, bool]: ...
    def getsockname(self) -> Address: ...
    def getpeername(self) -> Address: ...
    def shutdown(self, how: str) -> None: ...
    def set_nonblocking(self, flag: bool) -> None: ...
    def is_nonblocking(self) -> bool: ...
    def setsockopt(self, name: str, value: OptionValue) -> None: ...
    def getsockopt(self, name: str) -> int: ...
    def close(self) -> None: ...


class Tracker:
    """Remembers every socket a case opened so teardown can close the rest."""

    def __init__(self) -> None:
        self.sockets: list[Socket] = []

    def add(self, s: Socket) -> Socket:
        self.sockets.append(s)
        return s

    def close_all(self) -> None:
        for s in reversed(self.sockets):
            s.close()
        self.sockets.clear()


# Every name the suite knows; FAMILY holds the ones this platform has.
KNOWN_FAMILIES = ("inet", "inet6", "unix")


def open_socket(backend: str, family: str, type: str, tracker: Tracker) -> Socket:
    """Create a socket with the named backend; OSError propagates with its errno.

    A known family this platform lacks (AF_UNIX on older Windows) is
    ``unsupported``; a name the suite does not know is a bug in the case.
    """
    if family not in KNOWN_FAMILIES or type not in TYPE:
        raise HarnessError(
            f"unknown socket family/type {family!r}/{type!r}; expected one of "
            f"{KNOWN_FAMILIES} and {tuple(TYPE)}"
        )
    if family not in FAMILY:
        raise Unsupported(f"address family {family} does not exist on this platform")
    if backend == "python":
        from conformance.backends.python import PySocket

        return tracker.add(PySocket.create(family, type, tracker))
    if backend == "libc":
        from conformance.backends.libc import LibcSocket

        return tracker.add(LibcSocket.create(family, type, tracker))
    if backend == "agent":
        from conformance.backends.agent import AgentSocket

        return tracker.add(AgentSocket.create(family, type, tracker))
    raise HarnessError(f"unknown backend {backend!r}; expected one of {BACKENDS}")


def wait(
    readers: Sequence[Socket], writers: Sequence[Socket], timeout: float
) -> tuple[list[Socket], list[Socket]]:
    """Which of ``readers``/``writers`` become ready within ``timeout`` (select() semantics).

    Kernel sockets are polled with select() on their descriptors; an agent's
    sockets are not kernel descriptors, so the agent polls them in its stack.
    """
    every = [*readers, *writers]
    if any(s.backend == "agent" for s in every):
        from conformance.backends import agent

        ready_r, ready_w = agent.wait(readers, writers, timeout)  # type: ignore[arg-type]
        return list(ready_r), list(ready_w)
    import select

    r, w, _ = select.select([s.fileno() for s in readers], [s.fileno() for s in writers], [],
                            timeout)
    return [s for s in readers if s.fileno() in r], [s for s in writers if s.fileno() in w]


def normalize(family: str, addr: Any) -> Address:
    """Python-module address -> the suite's form: (host, port) or a path string."""
    if family in ("inet", "inet6"):
        return (addr[0], addr[1])
    if isinstance(addr, bytes):
        return addr.decode("utf-8", "surrogateescape")
    return addr
