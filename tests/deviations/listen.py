"""Deviating observations for the listen.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "listen.unbound.autobind": [
        ("listen() refuses an unbound socket", {"listen": "EDESTADDRREQ"}, {}),
        ("the automatic port lies outside ip_local_port_range",
         {"listen": "ok", "in_ephemeral_range": False, "connect": "ok", "accepted": True}, {}),
        ("the automatic port does not accept connections",
         {"listen": "ok", "in_ephemeral_range": True, "connect": "ECONNREFUSED",
          "accepted": False}, {}),
    ],
    "listen.refused_before_listen": [
        ("a bound, non-listening socket completes the handshake", {"connect": "ok"}, {}),
        ("the connection request is silently dropped", {"connect": "ETIMEDOUT"}, {}),
    ],
    "listen.handshake_before_accept": [
        ("connect() waits for the server's accept()",
         {"connect": "still_waiting_without_accept"}, {}),
        ("data sent before accept() is lost",
         {"connect": "ok", "send_before_accept": "ok", "accepted_reads": ""}, {}),
    ],
    "listen.dgram": [
        ("listen() succeeds on a datagram socket", {"errno": "ok"}, {}),
        ("listen() on a datagram socket reports EINVAL", {"errno": "EINVAL"}, {}),
    ],
}
