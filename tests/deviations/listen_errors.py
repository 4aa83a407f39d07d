"""Deviating observations for cases/test_listen_errors.py and test_listen_queue.py."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "listen.closed_descriptor": [
        ("listen() on a closed descriptor reports ENOTSOCK", {"errno": "ENOTSOCK"}, {}),
    ],
    "listen.not_a_socket": [
        ("listen() on a pipe reports EBADF", {"errno": "EBADF"}, {}),
    ],
    "listen.connected": [
        ("a connected socket starts listening", {"errno": "ok"}, {"end": "client"}),
        ("listen() on an accepted socket reports EISCONN", {"errno": "EISCONN"},
         {"end": "accepted"}),
    ],
    "listen.shut_down": [
        ("a shut-down TCP listener refuses listen()",
         {"shutdown": "ok", "listen": "EINVAL"}, {"family": "inet"}),
        ("a TCP listener listening again refuses clients",
         {"shutdown": "ok", "listen": "ok", "client_connect": "ECONNREFUSED"},
         {"family": "inet"}),
        ("a shut-down AF_UNIX listener takes clients again",
         {"shutdown": "ok", "listen": "ok", "client_connect": "ok"}, {"family": "unix"}),
    ],
    "listen.unix_unbound": [
        ("an unbound AF_UNIX socket listens (autobound)", {"errno": "ok"}, {}),
        ("POSIX's EDESTADDRREQ instead of Linux's EINVAL", {"errno": "EDESTADDRREQ"}, {}),
    ],
    "listen.queue_full": [
        ("listen(0) admits no connection at all", {"admitted": 0, "next_client": "pending"},
         {"family": "inet", "backlog": "0"}),
        ("a full TCP queue refuses with a reset (tcp_abort_on_overflow behaviour)",
         {"admitted": 2, "next_client": "ECONNREFUSED"}, {"family": "inet", "backlog": "1"}),
        ("the backlog is exceeded (every client admitted)",
         {"admitted": 6, "next_client": "connected"}, {"family": "inet6", "backlog": "1"}),
        ("a full AF_UNIX queue leaves the non-blocking client pending",
         {"admitted": 1, "next_client": "EINPROGRESS"}, {"family": "unix", "backlog": "0"}),
    ],
}
