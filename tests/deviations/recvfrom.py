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
}
