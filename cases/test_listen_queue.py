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

# Whether the stack answered a client is shown with a barrier, not a quiet
# window: after a client that has not completed at once, a barrier client
# connects to a second listener on the same loopback. Loopback carries the
# packets through one queue in order, so when the barrier's handshake has
# completed, the listener has seen the first client's SYN and any answer it
# gave (SYN-ACK, RST) has reached that client. A 50 ms window here cost 50 ms
# per instance and could still misjudge a slow admission under load.
# No platform admits more than backlog * 3/2 + 1 for these small backlogs;
# two more clients than that bounds the loop if a stack ignores the backlog.
EXTRA_CLIENTS = 4
ABORT_ON_OVERFLOW = "/proc/sys/net/ipv4/tcp_abort_on_overflow"


def _next_client(kit: Kit, family: str, addr: Any, barrier: Any) -> str:
    """A non-blocking connect(): ``"connected"``, ``"pending"`` or the errno it failed with."""
    client = kit.socket(family, "stream")
    client.set_nonblocking(True)
    try:
        client.connect(addr)
    except OSError as exc:
        if errno_name(exc) not in ("EINPROGRESS", "EWOULDBLOCK", "EAGAIN") or family == "unix":
            return errno_name(exc)
    if not kit.writable(client, 0):
        kit.connect_within(kit.socket(family, "stream"), barrier.getsockname())
        if not kit.writable(client, 0):
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
    clients = int(backlog) * 2 + EXTRA_CLIENTS
    # One barrier connection at most per client; never accepted, so its backlog holds them all.
    barrier = kit.listener(family, clients)
    admitted = 0
    outcome = "connected"
    for _ in range(clients):
        outcome = _next_client(kit, family, addr, barrier)
        if outcome != "connected":
            break
        admitted += 1
    return {"admitted": admitted, "next_client": outcome}
