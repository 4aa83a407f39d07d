"""Deviating observations for the accept.* cases (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "accept.blocks": [
        ("accept() returns at once with nothing pending",
         {"blocked": False, "method": "proc-syscall", "returned": "connection"}, {}),
        ("accept() fails after the connect instead of returning a connection",
         {"blocked": True, "method": "proc-syscall", "returned": "ECONNABORTED"}, {}),
    ],
    "accept.nonblocking.would_block": [
        ("non-blocking accept() blocks or succeeds with nothing pending", {"errno": "ok"}, {}),
        ("non-blocking accept() reports EINVAL", {"errno": "EINVAL"}, {}),
    ],
    "accept.new_socket": [
        ("accept() hands back the listening descriptor itself",
         {"new_descriptor": False, "listener_accepts_again": "connection",
          "round_trip": ["first", "second"]}, {}),
        ("the listener stops listening after its first accept()",
         {"new_descriptor": True, "listener_accepts_again": "ECONNREFUSED",
          "round_trip": ["first"]}, {}),
        ("data sent on the second connection arrives elsewhere",
         {"new_descriptor": True, "listener_accepts_again": "connection",
          "round_trip": ["first"]}, {}),
    ],
    "accept.peer_address": [
        ("accept() reports an address other than the client's (e.g. the listener's)",
         {"equals_client_getsockname": False}, {}),
    ],
    "accept.not_listening": [
        ("accept() on a non-listening socket reports EOPNOTSUPP (wrong error)",
         {"errno": "EOPNOTSUPP"}, {"blocking": "blocking"}),
        ("non-blocking accept() on a non-listening socket reports EAGAIN",
         {"errno": "EAGAIN"}, {"blocking": "nonblocking"}),
    ],
    "accept.inherits_nonblocking": [
        ("the accepted socket inherits O_NONBLOCK (BSD behaviour, not Linux's)",
         {"accepted_nonblocking": True}, {"backend": "libc"}),
    ],
    "accept.dgram": [
        ("accept() on a UDP socket reports EINVAL instead of EOPNOTSUPP",
         {"errno": "EINVAL"}, {}),
        ("non-blocking accept() on a UDP socket waits for a connection (EAGAIN)",
         {"errno": "EAGAIN"}, {}),
    ],
}
