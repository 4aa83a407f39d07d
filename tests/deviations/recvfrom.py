"""Deviating observations for the recvfrom.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "recvfrom.address_truncated": [
        ("addrlen reports the truncated length, not the address's",
         {"addrlen": "buffer length", "stored_prefix_intact": True}, {}),
        ("the truncated address bytes are not the address's first bytes",
         {"addrlen": "full length", "stored_prefix_intact": False}, {}),
        ("recvfrom() writes past the 4-byte buffer and reports the full length",
         {"addrlen": "20", "stored_prefix_intact": True}, {}),
    ],
    "recvfrom.stream_address.unix": [
        ("a bound AF_UNIX peer's path is not reported (as TCP reports no address)",
         {"address": "none"}, {"peer_bound": "yes"}),
        ("the listener's own path is reported instead of the peer's",
         {"address": "other"}, {"peer_bound": "yes"}),
        ("an unbound peer is reported with some address", {"address": "other"},
         {"peer_bound": "no"}),
    ],
}
