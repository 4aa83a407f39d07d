"""One errno vocabulary for every platform: names are normalised where errors enter.

Winsock spells the socket errors ``WSAEINVAL``, ``WSAEWOULDBLOCK``, ...; POSIX
systems ``EINVAL``, ``EAGAIN`` (and some ``EWOULDBLOCK``, one number on Linux
and the BSDs). A row of the matrix or a gate finding should differ only where
the behaviour differs, so every errno name is brought to one spelling here:
the POSIX name, ``EAGAIN`` for "would block", ``EOPNOTSUPP`` for "not
supported". The platform's own spelling, where it differs, is kept in the
result's ``detail`` (``errno_spellings``).

Names enter in two places: an ``OSError`` from the python or libc backend
(:func:`conformance.kit.errno_name`) and an error number from a stack agent
(:func:`from_number`, in the errno space the agent announced). Both go
through :func:`normalise`.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

# Winsock's error numbers (WSABASEERR 10000 + n), from winsock2.h; Microsoft
# Learn, "Windows Sockets Error Codes".
WINSOCK = {
    10004: "WSAEINTR", 10009: "WSAEBADF", 10013: "WSAEACCES", 10014: "WSAEFAULT",
    10022: "WSAEINVAL", 10024: "WSAEMFILE", 10035: "WSAEWOULDBLOCK", 10036: "WSAEINPROGRESS",
    10037: "WSAEALREADY", 10038: "WSAENOTSOCK", 10039: "WSAEDESTADDRREQ",
    10040: "WSAEMSGSIZE", 10041: "WSAEPROTOTYPE", 10042: "WSAENOPROTOOPT",
    10043: "WSAEPROTONOSUPPORT", 10044: "WSAESOCKTNOSUPPORT", 10045: "WSAEOPNOTSUPP",
    10046: "WSAEPFNOSUPPORT", 10047: "WSAEAFNOSUPPORT", 10048: "WSAEADDRINUSE",
    10049: "WSAEADDRNOTAVAIL", 10050: "WSAENETDOWN", 10051: "WSAENETUNREACH",
    10052: "WSAENETRESET", 10053: "WSAECONNABORTED", 10054: "WSAECONNRESET",
    10055: "WSAENOBUFS", 10056: "WSAEISCONN", 10057: "WSAENOTCONN", 10058: "WSAESHUTDOWN",
    10059: "WSAETOOMANYREFS", 10060: "WSAETIMEDOUT", 10061: "WSAECONNREFUSED",
    10062: "WSAELOOP", 10063: "WSAENAMETOOLONG", 10064: "WSAEHOSTDOWN",
    10065: "WSAEHOSTUNREACH", 10066: "WSAENOTEMPTY", 10067: "WSAEPROCLIM",
    10068: "WSAEUSERS", 10069: "WSAEDQUOT", 10070: "WSAESTALE", 10071: "WSAEREMOTE",
    10091: "WSASYSNOTREADY", 10092: "WSAVERNOTSUPPORTED", 10093: "WSANOTINITIALISED",
    10101: "WSAEDISCON",
}

# Spellings of one behaviour: "would block" is EAGAIN (Linux and the BSDs give
# EAGAIN and EWOULDBLOCK one number), ENOTSUP is EOPNOTSUPP on Linux.
_SAME = {"EWOULDBLOCK": "EAGAIN", "ENOTSUP": "EOPNOTSUPP"}
# Winsock names whose POSIX twin exists: WSAE<X> is E<X>. WSAEPROCLIM and the
# WSA* start-up errors have none and keep their own name.
_POSIX_TWINS = frozenset(
    name[3:] for name in WINSOCK.values() if name.startswith("WSAE")
) - {"EPROCLIM"}

_recorder: dict[str, Any] | None = None


def normalise(name: str) -> str:
    """The suite's spelling of an errno name: POSIX's, one name per behaviour."""
    if name.startswith("WSAE") and name[3:] in _POSIX_TWINS:
        name = name[3:]
    return _SAME.get(name, name)


def observe(raw: str) -> str:
    """Normalise ``raw`` and, when the spelling changed, keep it in the case's detail."""
    name = normalise(raw)
    if name != raw and _recorder is not None:
        _recorder.setdefault("errno_spellings", {})[name] = raw
    return name


def record_into(detail: dict[str, Any] | None) -> None:
    """Where :func:`observe` keeps original spellings: the running case's detail (or nowhere).

    One case runs at a time per process (xdist runs cases in separate
    processes), so one module-level target is enough, and it is seen by the
    case's helper threads too.
    """
    global _recorder
    _recorder = detail


def from_number(number: int, space: str) -> str:
    """The raw name of an error number in an errno space: ``winsock`` or ``posix`` (this host's)."""
    if space == "winsock":
        return WINSOCK.get(number, f"WSA{number}")
    return _errno.errorcode.get(number, f"errno{number}")


def host_number(name: str) -> int | None:
    """This host's number for a normalised name, or None where the host has no such errno."""
    value = getattr(_errno, name, None)
    return value if isinstance(value, int) else None
