"""Ways to call the socket API.

``python`` is the standard ``socket`` module: what Python programs get.
``libc`` is the C API through ctypes, for what Python cannot express (sendto
with a NULL address, recvfrom with a NULL address pointer, connect with
AF_UNSPEC). Both return the same :class:`Socket` shape, raise ``OSError`` with
the platform's errno, and name families and types as strings (``inet``,
``inet6``, ``unix``; ``stream``, ``dgram``). Addresses are ``(host, port)`` for
inet and inet6 and a path string for unix.

Every socket is registered with a :class:`Tracker`, which closes what a case
left open; the plugin separately checks that nothing escaped it.
"""

from __future__ import annotations

import socket as _socket
from typing import Any, Protocol

from conformance.errors import HarnessError

Address = Any
BACKENDS = ("python", "libc")

FAMILY = {"inet": _socket.AF_INET, "inet6": _socket.AF_INET6}
if hasattr(_socket, "AF_UNIX"):
    FAMILY["unix"] = _socket.AF_UNIX
TYPE = {"stream": _socket.SOCK_STREAM, "dgram": _socket.SOCK_DGRAM}
SHUT = {"rd": _socket.SHUT_RD, "wr": _socket.SHUT_WR, "rdwr": _socket.SHUT_RDWR}


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
    def send(self, data: bytes, flags: int = 0) -> int: ...
    def sendto(self, data: bytes, addr: Address | None) -> int: ...
    def recv(self, n: int, flags: int = 0) -> bytes: ...
    def recvfrom(self, n: int, *, want_address: bool = True) -> tuple[bytes, Address | None]: ...
    def recvmsg(self, n: int) -> tuple[bytes, bool]: ...
    def getsockname(self) -> Address: ...
    def getpeername(self) -> Address: ...
    def shutdown(self, how: str) -> None: ...
    def set_nonblocking(self, flag: bool) -> None: ...
    def is_nonblocking(self) -> bool: ...
    def setsockopt_int(self, level: int, name: int, value: int) -> None: ...
    def getsockopt_int(self, level: int, name: int) -> int: ...
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


def open_socket(backend: str, family: str, type: str, tracker: Tracker) -> Socket:
    """Create a socket with the named backend; OSError propagates with its errno."""
    if backend == "python":
        from conformance.backends.python import PySocket

        return tracker.add(PySocket.create(family, type, tracker))
    if backend == "libc":
        from conformance.backends.libc import LibcSocket

        return tracker.add(LibcSocket.create(family, type, tracker))
    raise HarnessError(f"unknown backend {backend!r}; expected one of {BACKENDS}")


def normalize(family: str, addr: Any) -> Address:
    """Python-module address -> the suite's form: (host, port) or a path string."""
    if family in ("inet", "inet6"):
        return (addr[0], addr[1])
    if isinstance(addr, bytes):
        return addr.decode("utf-8", "surrogateescape")
    return addr
