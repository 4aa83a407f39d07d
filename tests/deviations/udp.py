"""Deviating observations for the udp.unconnected.*, udp.datagram_boundaries, udp.truncation
and udp.zero_length cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "udp.unconnected.send": [
        ("send() without a peer succeeds (datagram silently dropped)", {"errno": "ok"}, {}),
        ("send() without a peer reports ENOTCONN (the BSD udp(4) wording)",
         {"errno": "ENOTCONN"}, {}),
    ],
    "udp.unconnected.sendto_autobind": [
        ("sendto() leaves an unbound socket at port 0",
         {"autobound": False, "source_port_is_local_port": False}, {}),
        ("datagrams leave from a port other than the one getsockname() reports",
         {"autobound": True, "source_port_is_local_port": False}, {}),
    ],
    "udp.unconnected.recvfrom_source": [
        ("recvfrom() on an unconnected socket reports no source", {"source": "none"}, {}),
        ("recvfrom() reports an address that is not the sender's", {"source": "other"}, {}),
    ],
    "udp.datagram_boundaries": [
        ("two datagrams merged into one recv()",
         {"received_sizes": [101, 7, 1400, 6], "contents_intact": False}, {}),
        ("datagrams reordered on loopback",
         {"received_sizes": [100, 1, 7, 1400, 6], "contents_intact": False}, {}),
        ("unix datagrams split like a stream",
         {"received_sizes": [1, 50, 50, 7, 1400, 6], "contents_intact": False},
         {"family": "unix"}),
    ],
    "udp.truncation": [
        ("truncated without MSG_TRUNC",
         {"returned_bytes": 100, "msg_trunc": False, "next_recv": "next datagram"}, {}),
        ("the rest of the datagram is kept for the next recv()",
         {"returned_bytes": 100, "msg_trunc": True, "next_recv": "rest of the big datagram"}, {}),
        ("an oversized datagram is refused with EMSGSIZE",
         {"errno": "EMSGSIZE", "next_recv": "next datagram"}, {}),
    ],
    "udp.zero_length": [
        ("a zero-length datagram is never delivered",
         {"delivered": False, "recv_returned_bytes": []}, {}),
    ],
}
