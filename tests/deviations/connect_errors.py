"""Deviating observations for the connect() error cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "connect.bad_descriptor": [
        ("a closed descriptor is reported as not a socket", {"errno": "ENOTSOCK"},
         {"family": "inet"}),
    ],
    "connect.not_a_socket": [
        ("a pipe descriptor is reported as a bad descriptor", {"errno": "EBADF"},
         {"family": "inet"}),
    ],
    "connect.wrong_family": [
        ("the family field is ignored and the connect goes ahead", {"errno": "ECONNREFUSED"},
         {"family": "inet"}),
        ("an IPv6 socket reports EINVAL for a right-length IPv4 address",
         {"errno": "EINVAL"}, {"family": "inet6"}),
        ("an AF_UNIX socket reads an inet address as a path", {"errno": "ENOENT"},
         {"family": "unix"}),
    ],
    "connect.bad_address_length": [
        ("a one-byte address is read past its end", {"errno": "ECONNREFUSED"},
         {"family": "inet"}),
        ("a one-byte AF_UNIX address names a missing path", {"errno": "ENOENT"},
         {"family": "unix"}),
    ],
    "connect.listening": [
        ("a listener connects away (the POSIX may-fail answer is not taken either)",
         {"errno": "ok"}, {"family": "inet"}),
        ("the POSIX EOPNOTSUPP where Linux documents EISCONN", {"errno": "EOPNOTSUPP"},
         {"family": "inet"}),
        ("an AF_UNIX listener reports EISCONN", {"errno": "EISCONN"}, {"family": "unix"}),
    ],
    "connect.tcp.nonblocking_refused": [
        ("the refusal is never reported: SO_ERROR stays 0",
         {"connect": "EINPROGRESS", "writable": True, "so_error": "ok", "so_error_again": "ok"},
         {}),
        ("SO_ERROR is not cleared by reading it",
         {"connect": "EINPROGRESS", "writable": True, "so_error": "ECONNREFUSED",
          "so_error_again": "ECONNREFUSED"}, {}),
        ("the refused socket never becomes writable",
         {"connect": "EINPROGRESS", "writable": False, "so_error": "ok", "so_error_again": "ok"},
         {}),
    ],
    "connect.tcp.retry_after_refused": [
        ("a refused socket cannot connect again (the BSD answer)",
         {"first": "ECONNREFUSED", "retry": "EINVAL"}, {}),
    ],
    "connect.tcp.already_pending": [
        ("a second connect while pending reports EINPROGRESS again",
         {"pending": True, "second": "EINPROGRESS"}, {}),
        ("a full listen queue refuses instead of ignoring the request",
         {"pending": False, "queue_full_connect": "ECONNREFUSED"}, {}),
    ],
    "connect.tcp.wildcard_destination": [
        ("the unspecified address is refused as a destination (the Winsock answer)",
         {"wildcard": "EADDRNOTAVAIL", "wildcard_reached": None, "port_zero": "EADDRNOTAVAIL"},
         {}),
        ("port 0 is refused as an address rather than by the peer",
         {"wildcard": "ok", "wildcard_reached": "listener", "port_zero": "EADDRNOTAVAIL"}, {}),
    ],
    "connect.eintr": [
        ("the stack restarts connect() through every signal",
         {"pending": True, "errno": "not interrupted", "blocked_first": True}, {}),
        ("the interrupted connect reports EINPROGRESS", {"pending": True, "errno": "EINPROGRESS",
                                                        "blocked_first": True}, {}),
    ],
    "connect.tcp.duplicate_tuple": [
        ("a second connection with the same four-tuple is made",
         {"second_bind": "ok", "errno": "ok"}, {}),
        ("the POSIX EADDRINUSE where Linux documents EADDRNOTAVAIL",
         {"second_bind": "ok", "errno": "EADDRINUSE"}, {}),
    ],
}
