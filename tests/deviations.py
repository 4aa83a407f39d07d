"""For every case: a named stack behaviour that would make it `deviates`.

Each entry is (behaviour, observation, params). test_deviations.py feeds the
observation through the verdict logic with the Linux expectations and
requires `deviates`; test_catalogue.py requires an entry for every case id,
so a case that cannot fail cannot land.
"""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "bind.port_zero.ephemeral": [
        ("bind(0) leaves the port at 0", {"nonzero": False, "in_ephemeral_range": False}, {}),
        ("bind(0) picks a port outside ip_local_port_range",
         {"nonzero": True, "in_ephemeral_range": False}, {}),
    ],
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
