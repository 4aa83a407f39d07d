"""socket(): creating an endpoint, and the name it has before bind()."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    FAMILY,
    INET,
    TYPE,
    TYPES,
    WILDCARD,
    Kit,
    case,
    errno_name,
    linux,
    mslearn,
    posix,
    seed,
)

_TYPE_NAMES = {number: name for name, number in TYPE.items()}

# No platform defines these: Linux stops at AF_MAX 46 and SOCK_PACKET 10,
# FreeBSD, macOS and Winsock lower still. 15 also fits Linux's 4-bit type
# field, so it is read as a type, not as a flag bit.
_NO_SUCH_FAMILY = 255
_NO_SUCH_TYPE = 15


def _raw_socket(kit: Kit, family: int, type: int) -> str:
    """socket(family, type, 0) with raw numbers: ``"ok"`` or the errno name.

    kit.socket() only takes the names the backends know and reports
    EAFNOSUPPORT as ``unsupported``; here the errno is the observation, so
    the call goes straight to the backend's socket().
    """
    return kit.outcome(kit.try_socket, family, type)


@case(
    "socket.create",
    "socket() creates an endpoint of each address family and socket type",
    cites=[
        seed("2", "socket() creates a socket"),
        posix("socket", "DESCRIPTION"),
        linux("socket(2)", "DESCRIPTION"),
        linux("socket(7)", "SO_TYPE"),
    ],
    params={"family": ALL_FAMILIES, "type": TYPES, "backend": BACKENDS},
)
def test_create(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """socket() succeeds and the new descriptor reports the requested type in SO_TYPE."""
    try:
        s = kit.socket(family, type)
    except OSError as exc:
        return {"socket": errno_name(exc)}
    so_type = s.getsockopt("SO_TYPE")
    return {"socket": "ok", "so_type": _TYPE_NAMES.get(so_type, f"type{so_type}")}


@case(
    "socket.create.bad_family",
    "socket() with an address family the system does not have fails with EAFNOSUPPORT",
    cites=[
        posix("socket", "ERRORS: EAFNOSUPPORT"),
        linux("socket(2)", "ERRORS: EAFNOSUPPORT"),
        mslearn("socket", "WSAEAFNOSUPPORT"),
    ],
    params={"backend": BACKENDS},
    asserts=["posix:socket:EAFNOSUPPORT"],
)
def test_create_bad_family(backend: str, kit: Kit) -> dict[str, Any]:
    """socket(255, SOCK_STREAM, 0) names no family on any platform and is refused."""
    return {"errno": _raw_socket(kit, _NO_SUCH_FAMILY, TYPE["stream"])}


@case(
    "socket.create.bad_type",
    "socket() with a type value that names no socket type fails",
    cites=[
        posix("socket", "DESCRIPTION: the type argument specifies the socket type "
                        "(POSIX lists no error for an undefined type value)"),
        linux("socket(2)", "ERRORS: EINVAL unknown protocol or invalid flags in type "
                           "(no entry for an undefined type)"),
    ],
    params={"family": ALL_FAMILIES, "backend": BACKENDS},
    asserts=["linux:socket.2:unknown_type"],
)
def test_create_bad_type(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """socket(family, 15, 0) is refused with an errno, in every family."""
    return {"errno": _raw_socket(kit, FAMILY[family], _NO_SUCH_TYPE)}


@case(
    "socket.unbound_name",
    "getsockname() on a new, unbound socket reports the wildcard address and port 0",
    cites=[
        seed("3", "bind() is what gives a socket its local address"),
        posix("getsockname", "DESCRIPTION: unspecified for an unbound socket"),
        linux("getsockname(2)", "DESCRIPTION"),
        mslearn("getsockname", "WSAEINVAL"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
)
def test_unbound_name(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Before bind(), connect() or listen(), the socket's name is the wildcard address, port 0."""
    s = kit.socket(family, type)
    try:
        host, port = s.getsockname()
    except OSError as exc:
        return {"errno": errno_name(exc)}
    return {"address": "wildcard" if host == WILDCARD[family] else host, "port": port}
