"""Deviating observations for cases/test_accept_errors.py (see tests/deviations/__init__.py)."""

_SET = {"nonblocking": True, "cloexec": True}
_CLEAR = {"nonblocking": False, "cloexec": False}

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "accept.closed_descriptor": [
        ("accept() on a closed descriptor reports ENOTSOCK", {"errno": "ENOTSOCK"}, {}),
    ],
    "accept.not_a_socket": [
        ("accept() on a pipe reports EINVAL", {"errno": "EINVAL"}, {}),
    ],
    "accept.interrupted": [
        ("accept() is restarted after the handler and takes the later connection",
         {"blocked": True, "method": "proc-syscall", "returned": "connection",
          "handler_ran": True}, {}),
        ("accept() returns at once with nothing pending",
         {"blocked": False, "method": "proc-syscall", "returned": "before_signal"}, {}),
    ],
    "accept.reset_while_queued": [
        ("the reset connection is dropped and accept() fails (BSD behaviour)",
         {"accept": "ECONNABORTED"}, {}),
        ("the returned connection reads an end of file instead of the reset",
         {"accept": "connection", "recv": "eof"}, {}),
    ],
    "accept.descriptor_limit": [
        ("the connection is lost at EMFILE", {"at_limit": "EMFILE", "after_raising": "EAGAIN"},
         {}),
        ("accept() succeeds beyond the limit", {"at_limit": "ok", "after_raising": "EAGAIN"}, {}),
    ],
    "accept.accept4_flags": [
        ("accept4() ignores SOCK_NONBLOCK", {"flagged": {**_SET, "nonblocking": False},
                                             "plain": _CLEAR}, {}),
        ("accept4(0) inherits the listener's O_NONBLOCK",
         {"flagged": _SET, "plain": {**_CLEAR, "nonblocking": True}}, {}),
    ],
    "accept.accept4_bad_flags": [
        ("an undefined accept4() flag is ignored", {"errno": "ok"}, {}),
    ],
    "accept.address_truncated": [
        ("addrlen comes back as the truncated length", {"addrlen_returned": 4}, {}),
    ],
    "accept.null_address": [
        ("accept(fd, NULL, NULL) faults", {"accept": "EFAULT"}, {}),
    ],
    "accept.negative_addrlen": [
        ("a negative addrlen is taken as a huge buffer",
         {"errno": "ok", "descriptor_left_open": False}, {}),
        ("the refused call leaves the new descriptor open in the caller (gVisor)",
         {"errno": "EINVAL", "descriptor_left_open": True}, {}),
    ],
}
