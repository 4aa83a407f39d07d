"""Deviating observations for cases/test_socket_errors.py (see tests/deviations/__init__.py)."""

_FLAGS_SET = {"nonblocking": True, "cloexec": True, "so_type": "stream"}
_FLAGS_CLEAR = {"nonblocking": False, "cloexec": False, "so_type": "stream"}

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "socket.create.protocol_not_in_family": [
        ("an unknown protocol number is ignored and a socket created", {"errno": "ok"}, {}),
        ("an unknown protocol is reported as a type mismatch", {"errno": "EPROTOTYPE"}, {}),
    ],
    "socket.create.protocol_wrong_type": [
        ("a TCP datagram socket is created", {"errno": "ok"}, {}),
        ("the mismatch is reported as EPROTOTYPE (POSIX's word, not Linux's)",
         {"errno": "EPROTOTYPE"}, {}),
    ],
    "socket.create.bad_flags": [
        ("an undefined type flag is silently ignored", {"errno": "ok"}, {}),
    ],
    "socket.create.type_flags": [
        ("SOCK_CLOEXEC is ignored",
         {"flagged": {**_FLAGS_SET, "cloexec": False}, "plain": _FLAGS_CLEAR},
         {"type": "stream"}),
        ("SO_TYPE reports the flags along with the type",
         {"flagged": {**_FLAGS_SET, "so_type": "type526337"}, "plain": _FLAGS_CLEAR},
         {"type": "stream"}),
        ("sockets are non-blocking even without SOCK_NONBLOCK",
         {"flagged": _FLAGS_SET, "plain": {**_FLAGS_CLEAR, "nonblocking": True}},
         {"type": "stream"}),
    ],
    "socket.create.descriptor_limit": [
        ("socket() succeeds beyond RLIMIT_NOFILE", {"at_limit": "ok", "after_raising": "ok"}, {}),
        ("the limit is reported as the system-wide ENFILE",
         {"at_limit": "ENFILE", "after_raising": "ok"}, {}),
    ],
}
