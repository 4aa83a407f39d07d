"""Deviating observations for cases/test_bind_errors.py (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "bind.closed_descriptor": [
        ("bind() on a closed descriptor reports ENOTSOCK", {"errno": "ENOTSOCK"}, {}),
    ],
    "bind.not_a_socket": [
        ("bind() on a pipe reports EBADF", {"errno": "EBADF"}, {}),
    ],
    "bind.shut_down": [
        ("a shut-down AF_UNIX socket refuses bind() (POSIX's EINVAL, not Linux's behaviour)",
         {"errno": "EINVAL"}, {}),
    ],
    "bind.null_address": [
        ("a NULL address is reported with POSIX's EDESTADDRREQ", {"errno": "EDESTADDRREQ"}, {}),
        ("a NULL address faults (EFAULT)", {"errno": "EFAULT"}, {}),
    ],
    "bind.privileged_port": [
        ("an unprivileged user binds port 1", {"errno": "ok"}, {}),
        ("the refusal is reported as EPERM", {"errno": "EPERM"}, {}),
    ],
    "bind.connected": [
        ("a connected TCP socket accepts a second name", {"errno": "ok"}, {"family": "inet"}),
        ("a connected unnamed AF_UNIX socket refuses bind() with EISCONN",
         {"errno": "EISCONN"}, {"family": "unix"}),
    ],
    "bind.wildcard_conflict": [
        ("wildcard and loopback on one port coexist", {"errno": "ok"}, {}),
    ],
}
