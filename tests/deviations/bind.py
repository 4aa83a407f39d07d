"""Deviating observations for the bind.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "bind.port_zero.ephemeral": [
        ("bind(0) leaves the port at 0", {"nonzero": False, "in_ephemeral_range": False}, {}),
        ("bind(0) picks a port outside ip_local_port_range",
         {"nonzero": True, "in_ephemeral_range": False}, {}),
    ],
    "bind.specific_address": [
        ("a listener on 127.0.0.2 also accepts connections to 127.0.0.3",
         {"bound_address": "delivered", "other_address": "ok"}, {"type": "stream"}),
        ("a datagram to 127.0.0.3 reaches the socket bound to 127.0.0.2",
         {"bound_address": "delivered", "other_address": "delivered"}, {"type": "dgram"}),
    ],
    "bind.port_zero.distinct": [
        ("two bind(0) sockets share one port", {"distinct": False}, {}),
    ],
    "bind.explicit_port": [
        ("an explicit free port is refused", {"bind": "EADDRINUSE"}, {}),
        ("bind() assigns a different port than the one asked for",
         {"bind": "ok", "port": "other"}, {}),
    ],
    "bind.in_use": [
        ("a second socket binds an address already held", {"errno": "ok"}, {}),
        ("the clash is reported as EADDRNOTAVAIL", {"errno": "EADDRNOTAVAIL"}, {}),
    ],
    "bind.twice": [
        ("a bound socket silently moves to the new address", {"errno": "ok"}, {}),
        ("the second bind() reports EADDRINUSE", {"errno": "EADDRINUSE"}, {}),
    ],
    "bind.non_local_address": [
        ("bind() accepts an address this host does not have", {"errno": "ok"}, {}),
        ("the address is reported as the wrong family", {"errno": "EAFNOSUPPORT"}, {}),
    ],
    "bind.wrong_family": [
        ("an IPv4 socket accepts an IPv6 address", {"errno": "ok"}, {"family": "inet"}),
        ("an IPv6 socket reads an IPv4 address as its own", {"errno": "ok"},
         {"family": "inet6"}),
        ("the foreign address is reported as not local",
         {"errno": "EADDRNOTAVAIL"}, {"family": "inet"}),
    ],
}
