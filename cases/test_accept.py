"""accept(): taking a connection from a listening socket's queue."""

from __future__ import annotations

from typing import Any

from conformance.axes import BACKENDS, INET
from conformance.case import case, freebsd, linux, mslearn, posix, seed
from conformance.errors import DeadlineExceeded
from conformance.kit import DEADLINE_S, Kit, errno_name
from conformance.observe import BlockedCall, prove_blocked


@case(
    "accept.blocks",
    "a blocking accept() with nothing pending blocks until a client connects",
    cites=[
        seed("19", "accept blocks by default until a connection request arrives"),
        posix("accept", "DESCRIPTION: blocks until a connection is present"),
        linux("accept(2)", "DESCRIPTION"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_blocks(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """accept() on a blocking listener waits in the kernel, then returns the new connection."""
    listener = kit.listener(family)
    call = BlockedCall(listener.accept).start()
    proof = prove_blocked(call, "accept")
    client = kit.socket(family, "stream")
    client.connect(listener.getsockname())
    if not call.wait(DEADLINE_S):
        listener.shutdown("rdwr")  # wake the stuck thread so no thread outlives the case
        call.wait(DEADLINE_S)
        raise DeadlineExceeded(f"accept() did not return within {DEADLINE_S}s of a connect()")
    if call.error is not None:
        return {**proof, "returned": errno_name(call.error)
                if isinstance(call.error, OSError) else repr(call.error)}
    return {**proof, "returned": "connection"}


@case(
    "accept.nonblocking.would_block",
    "accept() on a non-blocking listener with nothing pending fails with EAGAIN/EWOULDBLOCK",
    cites=[
        posix("accept", "ERRORS: EAGAIN or EWOULDBLOCK"),
        linux("accept(2)", "ERRORS: EAGAIN or EWOULDBLOCK"),
        freebsd("accept(2)", "ERRORS: EWOULDBLOCK"),
        mslearn("accept", "WSAEWOULDBLOCK"),
    ],
    params={"family": INET, "backend": BACKENDS},
)
def test_nonblocking_would_block(family: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A non-blocking accept() with an empty queue returns at once with EWOULDBLOCK."""
    listener = kit.listener(family)
    listener.set_nonblocking(True)
    return {"errno": kit.outcome(listener.accept)}
