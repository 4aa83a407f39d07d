"""Deviating observations for the multi-homed host cases (bind.nic.*, and the peer-host
cases connect.tcp.source_address, udp.unconnected.recvfrom_remote,
udp.connected.filters_foreign_host); see tests/deviations/__init__.py."""

SPECIFIC_OK = {"udp_to_a": "delivered", "udp_to_b": "not delivered",
               "tcp_to_a": "accepted", "tcp_to_b": "ECONNREFUSED"}
WILDCARD_OK = {"udp_to_a": "delivered", "udp_to_b": "delivered",
               "tcp_to_a": "accepted", "tcp_to_b": "accepted"}

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "bind.nic.specific_address": [
        ("a socket bound to A also gets datagrams for B (bound as if to the wildcard)",
         {**SPECIFIC_OK, "udp_to_b": "delivered"}, {}),
        ("a listener bound to A accepts connections addressed to B",
         {**SPECIFIC_OK, "tcp_to_b": "accepted"}, {}),
        ("a connection to B's unused port times out instead of being refused",
         {**SPECIFIC_OK, "tcp_to_b": "ETIMEDOUT"}, {}),
        ("datagrams to A's own address are lost", {**SPECIFIC_OK, "udp_to_a": "not delivered"}, {}),
    ],
    "bind.nic.wildcard": [
        ("the wildcard binds only the first card", {**WILDCARD_OK, "udp_to_b": "not delivered",
                                                    "tcp_to_b": "ECONNREFUSED"}, {}),
        ("TCP via card B is refused", {**WILDCARD_OK, "tcp_to_b": "ECONNREFUSED"}, {}),
    ],
    "connect.tcp.source_address": [
        ("the server sees the client's other link's address",
         {"seen_via_a": "peer.b", "seen_via_b": "peer.b", "port_is_clients": True}, {}),
        ("accept() reports a port other than the client's",
         {"seen_via_a": "peer.a", "seen_via_b": "peer.b", "port_is_clients": False}, {}),
    ],
    "udp.unconnected.recvfrom_remote": [
        ("recvfrom() reports no address", {"from_via_a": None, "from_via_b": None,
                                            "port_is_senders": False}, {}),
        ("recvfrom() reports the local card's address instead of the sender's",
         {"from_via_a": "host.a", "from_via_b": "host.b", "port_is_senders": True}, {}),
    ],
    "udp.connected.filters_foreign_host": [
        ("the connected socket filters by port only, taking the foreign host's datagram",
         {"from_peer": "delivered", "from_foreign_host": "delivered",
          "foreign_refused_with": "nothing"}, {}),
        ("the connected socket drops its own peer's datagrams",
         {"from_peer": "not delivered", "from_foreign_host": "not delivered",
          "foreign_refused_with": "ECONNREFUSED"}, {}),
    ],
}
