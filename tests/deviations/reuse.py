"""Deviating observations for cases/test_reuse.py (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "reuse.time_wait.rebind": [
        ("SO_REUSEADDR on the new socket alone suffices (the FreeBSD rule)", {"bind": "ok"},
         {"reuseaddr": "new"}),
        ("a TIME_WAIT port is free without SO_REUSEADDR", {"bind": "ok"}, {"reuseaddr": "none"}),
        ("SO_REUSEADDR on both sockets still meets EADDRINUSE", {"bind": "EADDRINUSE"},
         {"reuseaddr": "both"}),
    ],
    "reuse.addr.bound_pair": [
        ("SO_REUSEADDR does not allow a second bound socket", {"bind": "EADDRINUSE"}, {}),
    ],
    "reuse.addr.listening_holder": [
        ("SO_REUSEADDR lets a socket bind a listener's address (Windows semantics)",
         {"bind": "ok"}, {}),
    ],
    "reuse.addr.second_listener": [
        ("two sockets listen on one address", {"listen": "ok"}, {}),
    ],
    "reuse.port": [
        ("SO_REUSEPORT on both sockets is not honoured", {"bind": "EADDRINUSE"},
         {"mode": "both"}),
        ("SO_REUSEPORT on the second socket alone suffices", {"bind": "ok"},
         {"mode": "second_only"}),
        ("SO_REUSEADDR on the first socket stands in for SO_REUSEPORT", {"bind": "ok"},
         {"mode": "mixed"}),
    ],
    "reuse.dualstack.reserves_inet": [
        ("[::]:p with IPV6_V6ONLY off leaves 0.0.0.0:p free", {"second_bind": "ok"},
         {"v6only": "off"}),
        ("IPV6_V6ONLY on still reserves the IPv4 port", {"second_bind": "EADDRINUSE"},
         {"v6only": "on"}),
    ],
    "reuse.dualstack.default": [
        ("the default ignores the bindv6only switch", {"v6only": True,
                                                       "sysctl_bindv6only": False}, {}),
        ("without the switch the default is on", {"v6only": True,
                                                  "sysctl_bindv6only": "absent"}, {}),
    ],
    "reuse.dualstack.v4mapped": [
        ("an AF_INET6 socket cannot reach IPv4 through a mapped address",
         {"connect": "ENETUNREACH"}, {}),
        ("the IPv4 listener sees a mapped address",
         {"connect": "ok", "client_name_mapped": True, "listener_sees_inet": False}, {}),
    ],
}
