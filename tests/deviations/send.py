"""Deviating observations for the send.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "send.bad_descriptor": [
        ("a closed descriptor is reported as not a socket", {"errno": "ENOTSOCK"},
         {"family": "inet"}),
    ],
    "send.not_a_socket": [
        ("a pipe takes the bytes as if written to it", {"errno": "ok"}, {"family": "inet"}),
    ],
    "send.shutdown_wr": [
        ("SIGPIPE raised although MSG_NOSIGNAL was given", {"errno": "EPIPE", "sigpipe": True},
         {"family": "inet", "flags": "MSG_NOSIGNAL"}),
        ("no SIGPIPE without MSG_NOSIGNAL (the Winsock and SO_NOSIGPIPE behaviour)",
         {"errno": "EPIPE", "sigpipe": False}, {"family": "inet", "flags": "none"}),
        ("data accepted after SHUT_WR", {"errno": "ok", "sigpipe": False},
         {"family": "unix", "flags": "none"}),
    ],
    "send.peer_closed": [
        ("the reset is never reported: both sends succeed", {"first": "ok", "second": "ok"},
         {"family": "inet"}),
        ("AF_UNIX takes one send after the peer closed", {"first": "ok", "second": "EPIPE"},
         {"family": "unix"}),
    ],
    "send.reset": [
        ("the reset goes unnoticed", {"errno": "ok", "next": "ok"}, {"family": "inet"}),
        ("a reset reported as EPIPE", {"errno": "EPIPE", "next": "EPIPE"}, {"family": "inet"}),
    ],
    "send.nonblocking_full": [
        ("a non-blocking send blocks (or never refuses): the buffer grows without bound",
         {"errno": "ENOBUFS", "took_some": True}, {"family": "inet"}),
        ("the first non-blocking send on an empty buffer is refused",
         {"errno": "EAGAIN", "took_some": False}, {"family": "unix"}),
    ],
    "send.dontwait": [
        ("MSG_DONTWAIT left the descriptor non-blocking",
         {"errno": "EAGAIN", "still_blocking": False}, {"family": "inet"}),
        ("MSG_DONTWAIT ignored: the flag is rejected", {"errno": "EINVAL", "still_blocking": True},
         {"family": "inet"}),
    ],
    "send.eintr": [
        ("the stack restarts the send through every signal",
         {"errno": "not interrupted", "blocked_first": True}, {"family": "inet"}),
        ("a send on a full buffer never blocks", {"errno": "EAGAIN", "blocked_first": False},
         {"family": "unix"}),
        ("the interrupted send reports success for the whole buffer",
         {"errno": "ok", "blocked_first": True}, {"family": "inet"}),
    ],
    "send.udp.too_large": [
        ("an oversized datagram is cut and sent", {"errno": "ok", "next_received": False},
         {"family": "inet", "call": "send"}),
    ],
    "send.udp.oob": [
        ("MSG_OOB on IPv4 UDP ignored and the datagram sent", {"errno": "ok"},
         {"family": "inet", "call": "send"}),
        ("IPv6 UDP refuses MSG_OOB as send(2) says, unlike this kernel",
         {"errno": "EOPNOTSUPP"}, {"family": "inet6", "call": "sendto"}),
    ],
    "send.tcp.oob": [
        ("the urgent byte stays inline in the stream",
         {"send": "ok", "urgent": "EINVAL", "stream": "abU"}, {"family": "inet"}),
        ("MSG_OOB refused on TCP", {"send": "EOPNOTSUPP"}, {"family": "inet"}),
    ],
    "send.eor": [
        ("MSG_EOR refused on a protocol without records", {"send": "EOPNOTSUPP"},
         {"family": "inet", "type": "stream"}),
    ],
    "send.unix.oob": [
        ("the urgent byte stays inline", {"send": "ok", "urgent": "EINVAL", "stream": "abU"}, {}),
        ("MSG_OOB refused by a kernel that supports it", {"send": "EOPNOTSUPP"}, {}),
    ],
}
