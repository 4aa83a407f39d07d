"""socket(): the errors of creation, the per-process descriptor limit, and type flags."""

from __future__ import annotations

import fcntl
import os
import socket
from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    FAMILY,
    INET,
    TYPE,
    TYPES,
    Kit,
    Unsupported,
    at_descriptor_limit,
    case,
    errno_name,
    freebsd,
    linux,
    mslearn,
    posix,
    raw_socket,
    try_socket,
)

# A protocol of another type in the same family: TCP for a datagram socket,
# UDP for a stream socket (IPPROTO_TCP 6 and IPPROTO_UDP 17 everywhere).
_OTHER_TYPE_PROTOCOL = {"stream": socket.IPPROTO_UDP, "dgram": socket.IPPROTO_TCP}
# A protocol number no family defines for these types (IPPROTO_RAW): refused
# as "not in this domain", not as a type mismatch.
_NO_SUCH_PROTOCOL = 255
# A type bit that is neither a socket type nor a defined flag (Linux keeps
# the type in the low 4 bits and SOCK_NONBLOCK/SOCK_CLOEXEC above it).
_UNDEFINED_TYPE_FLAG = 1 << 20


def _create(backend: str, family: int, type: int, proto: int) -> str:
    """socket() with raw numbers through the backend's API: ``"ok"`` or the errno name."""
    if backend == "libc":
        return Kit.outcome(try_socket, family, type, proto)
    return Kit.outcome(lambda: socket.socket(family, type, proto).close())


@case(
    "socket.create.protocol_not_in_family",
    "socket() with a protocol the address family does not have fails with EPROTONOSUPPORT",
    cites=[
        posix("socket", "ERRORS: EPROTONOSUPPORT the protocol is not supported by the "
                        "address family"),
        linux("socket(2)", "ERRORS: EPROTONOSUPPORT protocol not supported within this domain"),
        freebsd("socket(2)", "ERRORS: EPROTONOSUPPORT"),
        mslearn("socket", "WSAEPROTONOSUPPORT"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:socket:EPROTONOSUPPORT", "linux:socket.2:EPROTONOSUPPORT"],
)
def test_protocol_not_in_family(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """socket(family, type, 255): no family has protocol 255 for stream or datagram sockets."""
    return {"errno": _create(backend, FAMILY[family], TYPE[type], _NO_SUCH_PROTOCOL)}


@case(
    "socket.create.protocol_wrong_type",
    "socket() with a protocol of the family that does not support the type is refused",
    cites=[
        posix("socket", "ERRORS: EPROTOTYPE the socket type is not supported by the protocol"),
        linux("socket(2)", "ERRORS: EPROTONOSUPPORT the protocol type or the specified "
                           "protocol is not supported within this domain"),
        mslearn("socket", "WSAEPROTOTYPE"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:socket:EPROTOTYPE"],
)
def test_protocol_wrong_type(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """socket(inet, SOCK_DGRAM, IPPROTO_TCP) and socket(inet, SOCK_STREAM, IPPROTO_UDP)."""
    return {"errno": _create(backend, FAMILY[family], TYPE[type], _OTHER_TYPE_PROTOCOL[type])}


@case(
    "socket.create.bad_flags",
    "socket() with a type bit that is neither a type nor a defined flag fails with EINVAL",
    cites=[linux("socket(2)", "ERRORS: EINVAL invalid flags in type")],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["linux:socket.2:EINVAL"],
)
def test_bad_flags(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """socket(family, SOCK_STREAM | 1<<20, 0) is refused rather than the bit ignored."""
    return {"errno": _create(backend, FAMILY[family], TYPE["stream"] | _UNDEFINED_TYPE_FLAG, 0)}


def _fd_flags(fd: int) -> dict[str, bool]:
    return {
        "nonblocking": bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK),
        "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC),
    }


def _so_type(fd: int) -> str:
    s = socket.socket(fileno=os.dup(fd))
    try:
        number = s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
    finally:
        s.close()
    return {v: k for k, v in TYPE.items()}.get(number, f"type{number}")


@case(
    "socket.create.type_flags",
    "SOCK_NONBLOCK and SOCK_CLOEXEC in socket()'s type set O_NONBLOCK and FD_CLOEXEC",
    cites=[
        posix("socket", "DESCRIPTION: SOCK_NONBLOCK, SOCK_CLOEXEC (Issue 8)"),
        linux("socket(2)", "DESCRIPTION: SOCK_NONBLOCK, SOCK_CLOEXEC (since 2.6.27)"),
        freebsd("socket(2)", "DESCRIPTION: SOCK_CLOEXEC, SOCK_NONBLOCK"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "backend": ("libc",)},
    asserts=["linux:socket.2:SOCK_NONBLOCK"],
)
def test_type_flags(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """With the flags both file flags are set and SO_TYPE is the bare type; without, neither."""
    flags = [getattr(socket, n, None) for n in ("SOCK_NONBLOCK", "SOCK_CLOEXEC")]
    if None in flags:
        raise Unsupported("SOCK_NONBLOCK/SOCK_CLOEXEC are not defined on this platform")
    obs: dict[str, Any] = {}
    for label, bits in (("flagged", flags[0] | flags[1]), ("plain", 0)):
        try:
            fd = raw_socket(FAMILY[family], TYPE[type] | bits, 0)
        except OSError as exc:
            obs[label] = errno_name(exc)
            continue
        try:
            obs[label] = {**_fd_flags(fd), "so_type": _so_type(fd)}
        finally:
            os.close(fd)
    return obs


@case(
    "socket.create.descriptor_limit",
    "socket() with every descriptor below RLIMIT_NOFILE in use fails with EMFILE",
    cites=[
        posix("socket", "ERRORS: EMFILE no more file descriptors are available for this "
                        "process"),
        linux("socket(2)", "ERRORS: EMFILE the per-process limit on open file descriptors "
                           "has been reached"),
        mslearn("socket", "WSAEMFILE"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["posix:socket:EMFILE", "linux:socket.2:EMFILE"],
)
def test_descriptor_limit(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """At a lowered limit socket() fails; with the limit raised again, the same call succeeds."""
    def create() -> None:
        kit.socket(family, "stream").close()

    result = at_descriptor_limit(create)
    kit.note(limit=result.pop("limit"))
    return result
