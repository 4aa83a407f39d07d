"""Deviating observations for the bind.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "bind.port_zero.ephemeral": [
        ("bind(0) leaves the port at 0", {"nonzero": False, "in_ephemeral_range": False}, {}),
        ("bind(0) picks a port outside ip_local_port_range",
         {"nonzero": True, "in_ephemeral_range": False}, {}),
    ],
}
