"""Deviating observations for the accept.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "accept.blocks": [
        ("accept() returns at once with nothing pending",
         {"blocked": False, "method": "proc-syscall", "returned": "connection"}, {}),
        ("accept() fails after the connect instead of returning a connection",
         {"blocked": True, "method": "proc-syscall", "returned": "ECONNABORTED"}, {}),
    ],
    "accept.nonblocking.would_block": [
        ("non-blocking accept() blocks or succeeds with nothing pending", {"errno": "ok"}, {}),
        ("non-blocking accept() reports EINVAL", {"errno": "EINVAL"}, {}),
    ],
}
