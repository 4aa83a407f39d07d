"""Deviating observations for the sendto.* cases and send.udp.more (see __init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "sendto.bad_descriptor": [
        ("a closed descriptor is reported as not a socket", {"errno": "ENOTSOCK"},
         {"family": "inet"}),
    ],
    "sendto.not_a_socket": [
        ("a pipe takes the bytes", {"errno": "ok"}, {"family": "unix"}),
    ],
    "sendto.wrong_family": [
        ("an IPv4 socket sends to an IPv6 address's bytes", {"errno": "ok"},
         {"family": "inet"}),
        ("an IPv6 socket refuses the IPv4 destination", {"errno": "EAFNOSUPPORT"},
         {"family": "inet6"}),
        ("an AF_UNIX socket reads an inet address as a path", {"errno": "ENOENT"},
         {"family": "unix"}),
    ],
    "sendto.bad_address_length": [
        ("a one-byte destination is read past its end and sent", {"errno": "ok"},
         {"family": "inet"}),
    ],
    "sendto.udp.unconnected_null": [
        ("the BSD ENOTCONN for a missing destination", {"errno": "ENOTCONN"}, {"family": "inet"}),
    ],
    "sendto.udp.port_zero": [
        ("port 0 is sent to (and dropped)", {"errno": "ok"}, {"family": "inet"}),
    ],
    "sendto.udp.wildcard_destination": [
        ("the unspecified destination is refused", {"sendto": "EADDRNOTAVAIL",
                                                    "delivered": False}, {"family": "inet"}),
        ("sent, but delivered nowhere", {"sendto": "ok", "delivered": False}, {"family": "inet"}),
    ],
    "sendto.stream.unconnected": [
        ("sendto() with an address connects the stream socket (TCP Fast Open style)",
         {"errno": "ok", "connection_made": True}, {"family": "inet"}),
        ("AF_UNIX stream reports the POSIX ENOTCONN", {"errno": "ENOTCONN",
                                                       "connection_made": False},
         {"family": "unix"}),
    ],
    "sendto.unix.stream_connected_address": [
        ("the address is ignored and the bytes sent", {"errno": "ok"}, {"family": "unix"}),
    ],
    "sendto.udp.shutdown_wr": [
        ("SHUT_WR is ignored on UDP and the datagram sent", {"errno": "ok"}, {"family": "inet"}),
    ],
    "sendto.stream.shutdown_wr": [
        ("SIGPIPE raised despite MSG_NOSIGNAL", {"errno": "EPIPE", "sigpipe": True},
         {"family": "inet", "flags": "MSG_NOSIGNAL"}),
        ("no SIGPIPE without MSG_NOSIGNAL", {"errno": "EPIPE", "sigpipe": False},
         {"family": "unix", "flags": "none"}),
    ],
    "sendto.reset": [
        ("the reset goes unnoticed", {"errno": "ok"}, {"family": "inet"}),
    ],
    "sendto.unix.bad_path": [
        ("a missing path reported as refused", {"errno": "ECONNREFUSED"}, {"path": "missing"}),
        ("a file as a directory reported as missing", {"errno": "ENOENT"},
         {"path": "not_directory"}),
        ("a symlink loop reported as missing", {"errno": "ENOENT"}, {"path": "symlink_loop"}),
    ],
    "sendto.unix.queue_full": [
        ("the first datagram to an idle receiver is refused", {"errno": "EAGAIN",
                                                              "took_some": False}, {}),
        ("a full receiver makes the sender drop silently, reported as ENOBUFS on Linux",
         {"errno": "ENOBUFS", "took_some": True}, {}),
    ],
    "sendto.eintr": [
        ("the stack restarts sendto() through every signal",
         {"errno": "not interrupted", "blocked_first": True}, {}),
    ],
    "sendto.udp.icmp_unconnected": [
        ("an unconnected socket is told of the ICMP error (the Winsock behaviour)",
         {"sendto": "ok", "next_recv": "ECONNRESET", "after": "EAGAIN", "so_error": True},
         {"family": "inet"}),
        ("the error is left pending in SO_ERROR", {"sendto": "ok", "next_recv": "ok",
                                                   "after": "EAGAIN", "so_error": False},
         {"family": "inet"}),
    ],
    "sendto.udp.icmp_connected_once": [
        ("the refusal is reported by every later call",
         {"send": "ok", "error_pending": True, "next_send": "ECONNREFUSED",
          "then_recv": "ECONNREFUSED"}, {"family": "inet"}),
        ("a send does not report it; only recv() would",
         {"send": "ok", "error_pending": True, "next_send": "ok", "then_recv": "ECONNREFUSED"},
         {"family": "inet"}),
        ("no ICMP refusal ever arrives", {"send": "ok", "error_pending": False, "next_send": "ok",
                                          "then_recv": "EAGAIN"}, {"family": "inet"}),
    ],
    "send.udp.more": [
        ("MSG_MORE ignored: three datagrams", {"datagrams": ["ab", "cd", "ef"]},
         {"family": "inet"}),
        ("the corked data is lost", {"datagrams": ["ef"]}, {"family": "inet"}),
        ("MSG_MORE refused as an unknown flag", {"send_more": "EINVAL"}, {"family": "inet"}),
    ],
    "sendto.unix.no_permission": [
        ("the permission bits are not checked and the datagram sent", {"errno": "ok"}, {}),
    ],
}
