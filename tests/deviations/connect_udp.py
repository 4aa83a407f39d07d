"""Deviating observations for the connect.udp.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "connect.udp.no_datagram_sent": [
        ("connect() sends an empty probe datagram to the peer",
         {"arrived_before_marker": ["0-byte datagram"]}, {}),
    ],
    "connect.udp.default_destination": [
        ("send() after connect() fails as if no destination were set",
         {"send": "EDESTADDRREQ", "getpeername": "peer"}, {}),
        ("getpeername() reports no peer after a UDP connect()",
         {"send": "ok", "peer_received": "payload", "getpeername": "ENOTCONN"}, {}),
    ],
    "connect.udp.implicit_bind": [
        ("connect() leaves an unbound socket without a port",
         {"local_port": "zero", "source_seen_by_peer": "other"}, {}),
        ("datagrams leave from a port other than the one getsockname() reports",
         {"local_port": "assigned", "source_seen_by_peer": "other"}, {}),
    ],
    "connect.udp.reconnect": [
        ("a second connect() is refused as already connected", {"reconnect": "EISCONN"}, {}),
        ("send() still goes to the first peer after reconnecting",
         {"reconnect": "ok", "getpeername": "second", "delivered_to": "first"}, {}),
    ],
    "connect.udp.unspec_disconnect": [
        ("AF_UNSPEC is refused and the association stays",
         {"connect_unspec": "EAFNOSUPPORT", "getpeername": "peer", "foreign_delivered": False},
         {"backend": "libc"}),
        ("the peer is gone but foreign datagrams are still filtered",
         {"connect_unspec": "ok", "getpeername": "ENOTCONN", "foreign_delivered": False},
         {"backend": "libc"}),
    ],
}
