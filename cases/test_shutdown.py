"""shutdown(): ending one direction of a connection."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    BACKENDS,
    INET,
    Kit,
    case,
    linux,
    posix,
)


@case(
    "shutdown.listening",
    "shutdown(SHUT_WR) on a listening, unconnected TCP socket",
    cites=[
        posix("shutdown", "ERRORS: ENOTCONN, the socket is not connected"),
        linux("shutdown(2)", "ERRORS: ENOTCONN"),
    ],
    level="platform-defined",
    params={"family": INET, "backend": BACKENDS},
)
def test_listening(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A listening socket is not connected, so POSIX has shutdown() fail with ENOTCONN."""
    listener = kit.listener(family)
    return {"errno": kit.outcome(listener.shutdown, "wr")}


@case(
    "shutdown.unconnected",
    "shutdown() on a TCP socket that never connected fails with ENOTCONN",
    cites=[
        posix("shutdown", "ERRORS: ENOTCONN"),
        linux("shutdown(2)", "ERRORS: ENOTCONN"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_unconnected(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A fresh TCP socket has no connection to shut down: ENOTCONN."""
    s = kit.socket(family, "stream")
    return {"errno": kit.outcome(s.shutdown, "wr")}
