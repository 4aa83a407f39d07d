"""bind(): attaching a socket to a local address and port."""

from __future__ import annotations

from typing import Any

from conformance.axes import BACKENDS, INET, TYPES
from conformance.case import case, linux, posix, seed
from conformance.ephemeral import port_range
from conformance.kit import Kit


@case(
    "bind.port_zero.ephemeral",
    "bind() to port 0 assigns a non-zero port from the platform's ephemeral range",
    cites=[
        seed("34", "without bind the kernel assigns the port itself"),
        posix("bind"),
        linux("ip(7)", "ip_local_port_range"),
    ],
    params={"family": INET, "type": TYPES, "backend": BACKENDS},
)
def test_port_zero_ephemeral(family: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind(port 0) picks a port inside the range the platform publishes (ip(7))."""
    lo, hi, where = port_range()
    s = kit.bound(family, type)
    port = s.getsockname()[1]
    kit.note(port=port, range=[lo, hi], range_source=where)
    return {"nonzero": port != 0, "in_ephemeral_range": lo <= port <= hi}
