"""The listen queue: how many connections a backlog admits, and what happens to the next one."""

from __future__ import annotations

from typing import Any

from conformance.api import (
    ALL_FAMILIES,
    BACKENDS,
    Kit,
    case,
    errno_name,
    freebsd,
    linux,
    mslearn,
    posix,
)

# A connection the stack admits completes at once on loopback; one it
# ignores does not complete at all. This window separates the two; it is
# the case's only wait, spent once, on the first client that is not admitted.
PENDING_WINDOW_S = 0.05
# No platform admits more than backlog * 3/2 + 1 for these small backlogs;
# two more clients than that bounds the loop if a stack ignores the backlog.
EXTRA_CLIENTS = 4
ABORT_ON_OVERFLOW = "/proc/sys/net/ipv4/tcp_abort_on_overflow"


def _next_client(kit: Kit, family: str, addr: Any) -> str:
    """A non-blocking connect(): ``"connected"``, ``"pending"`` or the errno it failed with."""
    client = kit.socket(family, "stream")
    client.set_nonblocking(True)
    try:
        client.connect(addr)
    except OSError as exc:
        if errno_name(exc) not in ("EINPROGRESS", "EWOULDBLOCK", "EAGAIN") or family == "unix":
            return errno_name(exc)
    if not kit.writable(client, PENDING_WINDOW_S):
        return "pending"
    err = client.getsockopt("SO_ERROR")
    if err:
        return errno_name(OSError(err, ""))
    return "connected"


@case(
    "listen.queue_full",
    "how many connections listen(backlog) admits before accept(), and what the next client gets",
    cites=[
        posix("listen", "DESCRIPTION: backlog provides a hint to limit the number of "
                        "outstanding connections; a backlog of 0 may allow an "
                        "implementation-defined minimum"),
        posix("connect", "DESCRIPTION: if the listen queue is full the connection may be "
                         "refused (ECONNREFUSED)"),
        linux("listen(2)", "DESCRIPTION: if a connection request arrives when the queue is "
                           "full the client may receive ECONNREFUSED or, if the protocol "
                           "supports retransmission, the request may be ignored"),
        linux("connect(2)", "ERRORS: EAGAIN for UNIX domain sockets: insufficient entries "
                            "in the listen backlog"),
        freebsd("listen(2)", "DESCRIPTION: the backlog is multiplied by 1.5"),
        mslearn("listen", "a full queue makes the client's connect() fail with "
                          "WSAECONNREFUSED"),
    ],
    level="platform-defined",
    params={"family": ALL_FAMILIES, "backlog": ("0", "1"), "backend": BACKENDS},
    asserts=["linux:listen.2:queue_full", "linux:connect.2:EAGAIN"],
)
def test_queue_full(family: str, backlog: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Non-blocking clients connect one by one, none accepted, until one is not admitted."""
    listener = kit.listener(family, int(backlog))
    addr = listener.getsockname()
    try:
        with open(ABORT_ON_OVERFLOW) as f:
            kit.note(tcp_abort_on_overflow=f.read().strip())
    except OSError:
        pass  # not Linux: no such switch to report
    admitted = 0
    outcome = "connected"
    for _ in range(int(backlog) * 2 + EXTRA_CLIENTS):
        outcome = _next_client(kit, family, addr)
        if outcome != "connected":
            break
        admitted += 1
    return {"admitted": admitted, "next_client": outcome}
