"""The C socket API through ctypes: for calls the socket module cannot make.

``sendto(fd, buf, len, 0, NULL, 0)``, ``recvfrom`` with a NULL address
pointer, ``connect`` with an ``AF_UNSPEC`` address, exact address lengths.
The sockaddr layouts are the ABI's: Linux puts a 16-bit family first, the BSDs
(macOS, FreeBSD) a length byte and an 8-bit family. ctypes releases the GIL
around foreign calls, so a blocking call here really blocks in the kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import socket
import struct
import sys

from conformance import limits
from conformance.backends import (
    FAMILY,
    SHUT,
    TYPE,
    Address,
    Flags,
    OptionValue,
    Tracker,
    flag_bits,
    option_numbers,
    pack_option,
)
from conformance.backends.guard import check_destination
from conformance.errors import Unsupported

_BSD_SOCKADDR = sys.platform.startswith(("darwin", "freebsd", "openbsd", "netbsd"))
_SUN_PATH = 104 if _BSD_SOCKADDR else 108
_SOCKADDR_STORAGE = 128
_AF_UNSPEC = 0


@functools.cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("c")
    if name is None and not sys.platform.startswith("linux"):
        raise Unsupported("no C library found for the libc backend")
    lib = ctypes.CDLL(name, use_errno=True)
    sz, ssz, i, p = ctypes.c_size_t, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p
    lp = ctypes.POINTER(ctypes.c_uint32)
    for fname, args, res in (
        ("socket", (i, i, i), i), ("bind", (i, p, ctypes.c_uint32), i),
        ("listen", (i, i), i), ("accept", (i, p, p), i),
        ("connect", (i, p, ctypes.c_uint32), i), ("send", (i, p, sz, i), ssz),
        ("sendto", (i, p, sz, i, p, ctypes.c_uint32), ssz), ("recv", (i, p, sz, i), ssz),
        ("recvfrom", (i, p, sz, i, p, lp), ssz), ("getsockname", (i, p, lp), i),
        ("getpeername", (i, p, lp), i), ("shutdown", (i, i), i), ("close", (i,), i),
        ("setsockopt", (i, i, i, p, ctypes.c_uint32), i),
        ("getsockopt", (i, i, i, p, lp), i),
        # fcntl() is variadic: only its fixed arguments are declared, so ctypes
        # passes the third the variadic way (on Apple arm64 variadic arguments
        # go on the stack, and a fixed-argument call would hide the flag).
        ("fcntl", (i, i), i),
        ("recvmsg", (i, p, i), ssz),
    ):
        fn = getattr(lib, fname)
        fn.argtypes, fn.restype = args, res
    return lib


def available() -> bool:
    try:
        _lib()
    except (OSError, Unsupported, AttributeError):
        return False
    return True


def can_unshare_net() -> bool:
    """Fork a child that tries unshare(CLONE_NEWNET), alone or inside a new user namespace."""
    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        lib = ctypes.CDLL(None, use_errno=True)
        ok = lib.unshare(clone_newnet) == 0 or lib.unshare(clone_newuser | clone_newnet) == 0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _fcntl_commands() -> tuple[int, int]:
    """(F_GETFL, F_SETFL) of this platform; without fcntl the flag is out of reach."""
    try:
        import fcntl
    except ImportError:
        raise Unsupported(
            "this platform has no fcntl(): a socket's O_NONBLOCK is out of reach"
        ) from None
    return fcntl.F_GETFL, fcntl.F_SETFL


def try_socket(family: int, type: int, proto: int = 0) -> None:
    """socket() with raw numbers, closed at once; raises OSError with the errno."""
    lib = _lib()
    lib.close(_check(lib.socket(family, type, proto)))


def bind_sockaddr(fd: int, sockaddr: bytes | None, length: int | None = None) -> None:
    """bind() with ready-made sockaddr bytes, whatever family they carry.

    ``None`` passes a NULL address; ``length`` overrides ``len(sockaddr)``.
    """
    size = length if length is not None else len(sockaddr or b"")
    _check(_lib().bind(fd, sockaddr, size))


def raw_socket(family: int, type: int, proto: int = 0) -> int:
    """socket() with raw numbers; the caller owns (and closes) the descriptor."""
    return _check(_lib().socket(family, type, proto))


def socketpair_raw(family: int, type: int) -> tuple[int, int]:
    """socketpair() with raw numbers; the caller owns (and closes) both descriptors."""
    lib = _lib()
    fds = (ctypes.c_int * 2)()
    fn = lib.socketpair
    fn.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
    fn.restype = ctypes.c_int
    _check(fn(family, type, 0, fds))
    return fds[0], fds[1]


def listen_fd(fd: int, backlog: int) -> None:
    """listen() on any descriptor, socket or not."""
    _check(_lib().listen(fd, backlog))


def accept_raw(fd: int, addrlen: int | None, flags: int | None = None) -> tuple[int, int]:
    """accept() (or accept4() with ``flags``) on any descriptor.

    ``addrlen`` None passes NULL for both address and length; otherwise a
    buffer of that many bytes with ``*addrlen`` set to it (a negative value is
    passed through as the C int it is). Returns the new descriptor, which the
    caller closes, and the length the call wrote back (-1 for NULL).
    """
    lib = _lib()
    if addrlen is None:
        buf, ln = None, None
    else:
        buf = ctypes.create_string_buffer(max(addrlen, 1))
        ln = ctypes.c_int(addrlen)
    ref = None if ln is None else ctypes.byref(ln)
    if flags is None:
        new = _check(lib.accept(fd, buf, ref))
    else:
        accept4 = getattr(lib, "accept4", None)
        if accept4 is None:
            raise Unsupported("this C library has no accept4()")
        accept4.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
        accept4.restype = ctypes.c_int
        new = _check(accept4(fd, buf, ref, flags))
    return new, (-1 if ln is None else ln.value)


def getsockname_raw(fd: int) -> bytes:
    """getsockname()'s address bytes exactly as long as the call reported."""
    buf = ctypes.create_string_buffer(_SOCKADDR_STORAGE)
    ln = ctypes.c_uint32(_SOCKADDR_STORAGE)
    _check(_lib().getsockname(fd, buf, ctypes.byref(ln)))
    return buf.raw[: ln.value]


def sockaddr_header(family: str) -> bytes:
    """The family part of a sockaddr alone (``sizeof(sa_family_t)`` on Linux)."""
    af = FAMILY[family]
    return _family_header(af, 2)


def _check(rc: int) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        exc = OSError(err, os.strerror(err))
        limits.check_errno(exc)  # out of descriptors: the machine's limit, not the call's
        raise exc
    return rc


def _family_header(af: int, length: int) -> bytes:
    return struct.pack("BB", length, af) if _BSD_SOCKADDR else struct.pack("=H", af)


def pack_sockaddr(family: str, addr: Address) -> bytes:
    """The suite's address form -> the platform's struct sockaddr bytes."""
    af = FAMILY[family]
    if family == "inet":
        body = struct.pack("!H", addr[1]) + socket.inet_pton(socket.AF_INET, addr[0]) + bytes(8)
        return _family_header(af, 16) + body
    if family == "inet6":
        body = (struct.pack("!HI", addr[1], 0)
                + socket.inet_pton(socket.AF_INET6, addr[0]) + struct.pack("=I", 0))
        return _family_header(af, 28) + body
    path = os.fsencode(addr)
    if len(path) >= _SUN_PATH:
        raise OSError(errno.ENAMETOOLONG, "unix socket path too long for sun_path")
    raw = path + b"\0"
    return _family_header(af, 2 + len(raw)) + raw


def unpack_sockaddr(buf: bytes, length: int) -> Address | None:
    """struct sockaddr bytes -> (host, port), a path string, or None when empty."""
    if length < 2:
        return None
    af = buf[1] if _BSD_SOCKADDR else struct.unpack_from("=H", buf)[0]
    if af == socket.AF_INET:
        port = struct.unpack_from("!H", buf, 2)[0]
        return (socket.inet_ntop(socket.AF_INET, buf[4:8]), port)
    if af == socket.AF_INET6:
        port = struct.unpack_from("!H", buf, 2)[0]
        return (socket.inet_ntop(socket.AF_INET6, buf[8:24]), port)
    if hasattr(socket, "AF_UNIX") and af == socket.AF_UNIX:
        return os.fsdecode(buf[2:length].split(b"\0", 1)[0])
    if af == _AF_UNSPEC:
        return None
    return ("af", af)


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


# struct msghdr: the BSDs declare msg_iovlen as int and msg_controllen as
# socklen_t; glibc and musl lay both out as size_t-sized fields.
_IOVLEN = ctypes.c_int if _BSD_SOCKADDR else ctypes.c_size_t
_CONTROLLEN = ctypes.c_uint32 if _BSD_SOCKADDR else ctypes.c_size_t


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IoVec)), ("msg_iovlen", _IOVLEN),
        ("msg_control", ctypes.c_void_p), ("msg_controllen", _CONTROLLEN),
        ("msg_flags", ctypes.c_int),
    ]


class LibcSocket:
    backend = "libc"

    def __init__(self, fd: int, family: str, type: str, tracker: Tracker):
        self._fd = fd
        self.family = family
        self.type = type
        self._tracker = tracker

    @classmethod
    def create(cls, family: str, type: str, tracker: Tracker) -> LibcSocket:
        fd = _check(_lib().socket(FAMILY[family], TYPE[type], 0))
        return cls(fd, family, type, tracker)

    def fileno(self) -> int:
        return self._fd

    def _name_call(self, fn: ctypes._CFuncPtr) -> Address | None:  # type: ignore[name-defined]
        buf = ctypes.create_string_buffer(_SOCKADDR_STORAGE)
        ln = ctypes.c_uint32(_SOCKADDR_STORAGE)
        _check(fn(self._fd, buf, ctypes.byref(ln)))
        return unpack_sockaddr(buf.raw, ln.value)

    def bind(self, addr: Address) -> None:
        sa = pack_sockaddr(self.family, addr)
        _check(_lib().bind(self._fd, sa, len(sa)))

    def bind_as(self, family: str, addr: Address) -> None:
        """bind() with an address of another family than the socket's own."""
        sa = pack_sockaddr(family, addr)
        _check(_lib().bind(self._fd, sa, len(sa)))

    def listen(self, backlog: int = 16) -> None:
        _check(_lib().listen(self._fd, backlog))

    def accept(self) -> tuple[LibcSocket, Address]:
        buf = ctypes.create_string_buffer(_SOCKADDR_STORAGE)
        ln = ctypes.c_uint32(_SOCKADDR_STORAGE)
        fd = _check(_lib().accept(self._fd, buf, ctypes.byref(ln)))
        child = LibcSocket(fd, self.family, self.type, self._tracker)
        self._tracker.add(child)
        return child, unpack_sockaddr(buf.raw, ln.value)

    def connect(self, addr: Address) -> None:
        check_destination(self.family, addr, self._fd)
        sa = pack_sockaddr(self.family, addr)
        _check(_lib().connect(self._fd, sa, len(sa)))

    def connect_unspec(self) -> None:
        sa = _family_header(_AF_UNSPEC, 16) + bytes(14)
        _check(_lib().connect(self._fd, sa, len(sa)))

    def send(self, data: bytes, flags: Flags = ()) -> int:
        return _check(_lib().send(self._fd, data, len(data), flag_bits(flags)))

    def sendto(self, data: bytes, addr: Address | None, flags: Flags = ()) -> int:
        bits = flag_bits(flags)
        if addr is None:
            return _check(_lib().sendto(self._fd, data, len(data), bits, None, 0))
        check_destination(self.family, addr, self._fd)
        sa = pack_sockaddr(self.family, addr)
        return _check(_lib().sendto(self._fd, data, len(data), bits, sa, len(sa)))

    def recv(self, n: int, flags: Flags = ()) -> bytes:
        buf = ctypes.create_string_buffer(max(n, 1))
        got = _check(_lib().recv(self._fd, buf, n, flag_bits(flags)))
        return buf.raw[: min(got, n)]

    def recvfrom(
        self, n: int, flags: Flags = (), *, want_address: bool = True
    ) -> tuple[bytes, Address | None]:
        buf = ctypes.create_string_buffer(max(n, 1))
        if not want_address:
            got = _check(_lib().recvfrom(self._fd, buf, n, flag_bits(flags), None, None))
            return buf.raw[:got], None
        data, addr, _ = self.recvfrom_addrlen(n, flags)
        return data, addr

    def recvfrom_addrlen(self, n: int, flags: Flags = ()) -> tuple[bytes, Address | None, int]:
        """recvfrom() that also returns the address length the kernel wrote back.

        unpack_sockaddr() maps both "no address" (length 0) and a zeroed
        AF_UNSPEC address to None; the length tells them apart.
        """
        buf = ctypes.create_string_buffer(max(n, 1))
        sa = ctypes.create_string_buffer(_SOCKADDR_STORAGE)
        ln = ctypes.c_uint32(_SOCKADDR_STORAGE)
        got = _check(_lib().recvfrom(self._fd, buf, n, flag_bits(flags), sa, ctypes.byref(ln)))
        return buf.raw[:got], unpack_sockaddr(sa.raw, ln.value), ln.value

    def recv_count(self, n: int, flags: Flags = ()) -> tuple[bytes, int]:
        """recv() with the kernel's return value beside the bytes copied.

        With MSG_TRUNC as an input flag Linux returns a datagram's real length,
        which may exceed ``n``; :meth:`recv` hides that by returning the bytes.
        """
        buf = ctypes.create_string_buffer(max(n, 1))
        got = _check(_lib().recv(self._fd, buf, n, flag_bits(flags)))
        return buf.raw[: min(got, n)], got

    def recvfrom_raw(self, n: int, capacity: int) -> tuple[bytes, bytes, int]:
        """recvfrom() into an address buffer of ``capacity`` bytes.

        Returns the data, the address bytes the buffer holds, and the length
        the kernel wrote back, which may exceed ``capacity`` when it truncated.
        """
        buf = ctypes.create_string_buffer(max(n, 1))
        sa = ctypes.create_string_buffer(max(capacity, 1))
        ln = ctypes.c_uint32(capacity)
        got = _check(_lib().recvfrom(self._fd, buf, n, 0, sa, ctypes.byref(ln)))
        return buf.raw[:got], sa.raw[:capacity], ln.value

    def connect_raw(self, sockaddr: bytes) -> None:
        """connect() with ready-made sockaddr bytes: another family, a short length."""
        _check(_lib().connect(self._fd, sockaddr, len(sockaddr)))

    def sendto_raw(self, data: bytes, sockaddr: bytes, flags: Flags = ()) -> int:
        """sendto() with ready-made sockaddr bytes: another family, a short length.

        Only loopback traffic can result: a destination the kernel accepts is
        the one the bytes encode, and cases build those from loopback addresses.
        """
        return _check(_lib().sendto(self._fd, data, len(data), flag_bits(flags),
                                    sockaddr, len(sockaddr)))

    def recvmsg(self, n: int) -> tuple[bytes, bool]:
        """recvmsg(2) into one ``n``-byte iovec; the data and whether msg_flags has MSG_TRUNC."""
        buf = ctypes.create_string_buffer(max(n, 1))
        iov = _IoVec(ctypes.cast(buf, ctypes.c_void_p), n)
        msg = _MsgHdr(msg_iov=ctypes.pointer(iov), msg_iovlen=1)
        got = _check(_lib().recvmsg(self._fd, ctypes.byref(msg), 0))
        return buf.raw[:got], bool(msg.msg_flags & socket.MSG_TRUNC)

    def getsockname(self) -> Address:
        return self._name_call(_lib().getsockname)

    def getpeername(self) -> Address:
        return self._name_call(_lib().getpeername)

    def shutdown(self, how: str) -> None:
        _check(_lib().shutdown(self._fd, SHUT[how]))

    def set_nonblocking(self, flag: bool) -> None:
        get, set_ = _fcntl_commands()
        fl = _check(_lib().fcntl(self._fd, get, ctypes.c_int(0)))
        fl = (fl | os.O_NONBLOCK) if flag else (fl & ~os.O_NONBLOCK)
        _check(_lib().fcntl(self._fd, set_, ctypes.c_int(fl)))

    def is_nonblocking(self) -> bool:
        get, _ = _fcntl_commands()
        return bool(_check(_lib().fcntl(self._fd, get, ctypes.c_int(0))) & os.O_NONBLOCK)

    def setsockopt(self, name: str, value: OptionValue) -> None:
        level, number = option_numbers(name)
        raw = pack_option(name, value)
        _check(_lib().setsockopt(self._fd, level, number, raw, len(raw)))

    def getsockopt(self, name: str) -> int:
        level, number = option_numbers(name)
        v = ctypes.c_int(0)
        ln = ctypes.c_uint32(4)
        _check(_lib().getsockopt(self._fd, level, number, ctypes.byref(v), ctypes.byref(ln)))
        return v.value

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            _lib().close(fd)
