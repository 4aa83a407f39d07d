"""The standard ``socket`` module as a backend: what Python programs get.

Sockets stay in true blocking mode (timeout None) unless a case asks for
non-blocking: ``settimeout()`` would make the descriptor non-blocking and
emulate the timeout with poll, hiding the OS's own blocking behaviour.
"""

from __future__ import annotations

import os
import socket

from conformance.backends import (
    FAMILY,
    SHUT,
    TYPE,
    Address,
    Flags,
    OptionValue,
    Tracker,
    flag_bits,
    normalize,
    option_numbers,
    pack_option,
)
from conformance.backends.guard import check_destination
from conformance.errors import Unsupported


class PySocket:
    backend = "python"

    def __init__(self, sock: socket.socket, family: str, type: str, tracker: Tracker):
        self._s = sock
        self.family = family
        self.type = type
        self._tracker = tracker

    @classmethod
    def create(cls, family: str, type: str, tracker: Tracker) -> PySocket:
        return cls(socket.socket(FAMILY[family], TYPE[type]), family, type, tracker)

    def fileno(self) -> int:
        return self._s.fileno()

    def bind(self, addr: Address) -> None:
        self._s.bind(addr)

    def listen(self, backlog: int = 16) -> None:
        self._s.listen(backlog)

    def accept(self) -> tuple[PySocket, Address]:
        s, addr = self._s.accept()
        child = PySocket(s, self.family, self.type, self._tracker)
        self._tracker.add(child)
        return child, normalize(self.family, addr)

    def connect(self, addr: Address) -> None:
        check_destination(self.family, addr, self._s.fileno())
        self._s.connect(addr)

    def connect_unspec(self) -> None:
        raise Unsupported("the socket module cannot connect() with AF_UNSPEC; use backend=libc")

    def send(self, data: bytes, flags: Flags = ()) -> int:
        return self._s.send(data, flag_bits(flags))

    def sendto(self, data: bytes, addr: Address | None, flags: Flags = ()) -> int:
        if addr is None:
            raise Unsupported("the socket module cannot pass a NULL address to sendto()")
        check_destination(self.family, addr, self._s.fileno())
        return self._s.sendto(data, flag_bits(flags), addr)

    def recv(self, n: int, flags: Flags = ()) -> bytes:
        return self._s.recv(n, flag_bits(flags))

    def recvfrom(
        self, n: int, flags: Flags = (), *, want_address: bool = True
    ) -> tuple[bytes, Address | None]:
        if not want_address:
            raise Unsupported("the socket module always passes an address buffer to recvfrom()")
        data, addr = self._s.recvfrom(n, flag_bits(flags))
        return data, (None if addr is None else normalize(self.family, addr))

    def recvmsg(self, n: int) -> tuple[bytes, bool]:
        if not hasattr(self._s, "recvmsg"):  # Windows' socket module has none
            raise Unsupported("the socket module has no recvmsg() on this platform")
        data, _, flags, _ = self._s.recvmsg(n)
        return data, bool(flags & getattr(socket, "MSG_TRUNC", 0))

    def getsockname(self) -> Address:
        return normalize(self.family, self._s.getsockname())

    def getpeername(self) -> Address:
        return normalize(self.family, self._s.getpeername())

    def shutdown(self, how: str) -> None:
        self._s.shutdown(SHUT[how])

    def set_nonblocking(self, flag: bool) -> None:
        self._s.setblocking(not flag)

    def is_nonblocking(self) -> bool:
        try:
            import fcntl
        except ImportError:
            # Winsock has FIONBIO to set the mode but nothing to read it back.
            raise Unsupported(
                "this platform has no fcntl(): a socket's O_NONBLOCK flag cannot be read"
            ) from None
        return bool(fcntl.fcntl(self._s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK)

    def setsockopt(self, name: str, value: OptionValue) -> None:
        level, number = option_numbers(name)
        self._s.setsockopt(level, number, pack_option(name, value))

    def getsockopt(self, name: str) -> int:
        return self._s.getsockopt(*option_numbers(name))

    def close(self) -> None:
        self._s.close()
