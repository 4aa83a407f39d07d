"""Deviating observations for the udp.connected.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "udp.connected.filters_foreign_source": [
        ("a connected socket still receives from any source",
         {"delivered": ["foreign", "peer"], "dropped": []}, {}),
    ],
    "udp.connected.keeps_queued": [
        ("connect() purges datagrams queued from other sources",
         {"delivered": ["peer"], "dropped": ["foreign"]}, {}),
    ],
    "udp.connected.send": [
        ("send() on a connected UDP socket fails", {"send": "EDESTADDRREQ"}, {}),
        ("send() reports a short datagram", {"send": "short (3)", "peer_received": "pay"}, {}),
    ],
    "udp.connected.sendto_null": [
        ("sendto(NULL, 0) is refused despite the peer", {"sendto_null": "EDESTADDRREQ"},
         {"backend": "libc"}),
    ],
    "udp.connected.sendto_same_address": [
        ("sendto() with the peer's own address is refused", {"sendto": "EISCONN"}, {}),
    ],
    "udp.connected.sendto_other_address": [
        ("the given address is ignored and the datagram goes to the peer",
         {"sendto": "ok", "delivered_to": "peer"}, {}),
        ("sendto() with another address fails like the BSDs", {"sendto": "EISCONN"}, {}),
    ],
    "udp.connected.recvfrom_peer": [
        ("recvfrom() reports an address that is not the peer's", {"address": "other"}, {}),
        ("recvfrom() with a NULL address pointer fails",
         {"address": "peer", "null_address": "EFAULT"}, {"backend": "libc"}),
    ],
    "udp.connected.icmp_refused": [
        ("the port unreachable is never reported", {"recv": "no error within 2.0s"}, {}),
        ("the refusal is reported as a reset", {"recv": "ECONNRESET"}, {}),
    ],
}
