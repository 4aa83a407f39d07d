"""Deviating observations for the props.* and state.* cases (see tests/deviations/__init__.py)."""

_BROKEN = {"holds": False, "counterexample": ["state.listen(s=socks_0)"], "failure": "x"}

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "props.tcp.stream_integrity": [
        ("a stream reorders or drops bytes for some segmentation", _BROKEN, {"family": "inet"}),
    ],
    "props.udp.datagram_integrity": [
        ("a datagram at the edge arrives truncated or merged", {**_BROKEN, "edge": 65507,
                                                                 "past_edge": "EMSGSIZE"}, {}),
        ("a datagram past the largest size is accepted and fragmented silently",
         {"holds": True, "edge": 65507, "past_edge": "ok"}, {}),
    ],
    "props.udp.connected_filter": [
        ("a foreign datagram after connect() is delivered", _BROKEN, {}),
        ("datagrams queued before connect() are discarded",
         {"holds": True, "queued": "dropped"}, {}),
    ],
    "props.bind.addresses": [
        ("a datagram for another 127/8 address reaches the bound socket", _BROKEN, {}),
    ],
    "state.socket_lifecycle": [
        ("listen() on a UDP socket succeeds, as a wrong model rule would claim", _BROKEN, {}),
    ],
}
