"""Deviating observations for the tcp.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "tcp.sendto_address_ignored": [
        ("sendto() with an address on a connection fails with EISCONN",
         {"sendto": "EISCONN", "delivered_to": "nowhere"}, {}),
        ("sendto() reports success but the bytes never reach the peer",
         {"sendto": "ok", "delivered_to": "nowhere"}, {}),
    ],
    "tcp.recvfrom_address": [
        ("recvfrom() on a stream reports the peer's address",
         {"address": "peer", "address_returned": True}, {"backend": "python"}),
        ("libc recvfrom() leaves addrlen at the buffer size",
         {"address": None, "address_returned": False, "addrlen": 128}, {"backend": "libc"}),
    ],
    "tcp.send_unconnected": [
        ("send() on an unconnected socket reports ENOTCONN (what send(2) lists)",
         {"errno": "ENOTCONN"}, {}),
        ("send() on an unconnected socket succeeds", {"errno": "ok"}, {}),
    ],
    "tcp.recv_unconnected": [
        ("recv() on an unconnected socket reports EINVAL (as unix stream sockets do)",
         {"errno": "EINVAL"}, {}),
        ("recv() on an unconnected socket returns 0 like end of stream", {"errno": "ok"}, {}),
    ],
    "tcp.eof": [
        ("close() after sending resets the connection",
         {"data_complete": True, "recv_at_eof": "ECONNRESET"}, {"peer": "close"}),
        ("data sent before shutdown is lost",
         {"data_complete": False, "recv_at_eof": 0}, {"peer": "shutdown_wr"}),
    ],
    "tcp.stream_order": [
        ("send boundaries preserved: MSG_WAITALL stops at each send",
         {"received_equals_sent": True, "sends": 5, "recv_calls": 5, "blocked_before_send": True,
          "waited_with_data_queued": False}, {}),
        ("bytes arrive out of order",
         {"received_equals_sent": False, "sends": 5, "recv_calls": 1, "blocked_before_send": True,
          "waited_with_data_queued": True}, {}),
        ("MSG_WAITALL returns as soon as some data is queued, then the rest in a second call",
         {"received_equals_sent": True, "sends": 5, "recv_calls": 2, "blocked_before_send": True,
          "waited_with_data_queued": False}, {}),
        ("recv(MSG_WAITALL) returns before anything was sent",
         {"received_equals_sent": True, "sends": 5, "recv_calls": 2, "blocked_before_send": False,
          "waited_with_data_queued": False}, {}),
    ],
}
