"""Deviating observations for cases/test_unix.py (see tests/deviations/__init__.py)."""

DEVIATIONS: dict[str, list[tuple[str, dict, dict]]] = {
    "unix.path.missing_directory": [
        ("the missing directory is created", {"errno": "ok"}, {"call": "bind"}),
        ("connect() reports ECONNREFUSED for a missing path", {"errno": "ECONNREFUSED"},
         {"call": "connect"}),
    ],
    "unix.path.not_directory": [
        ("a file as directory is reported as ENOENT", {"errno": "ENOENT"}, {}),
    ],
    "unix.path.symlink_loop": [
        ("a symlink loop is reported as ENOENT", {"errno": "ENOENT"}, {}),
    ],
    "unix.bind.trailing_slash": [
        ("a trailing slash is stripped and the socket bound", {"errno": "ok"}, {}),
    ],
    "unix.bind.empty_path": [
        ("an empty name is refused (POSIX ENOENT) where Linux autobinds",
         {"errno": "ENOENT"}, {"backend": "python"}),
        ("an empty C string binds a file-system name", {"errno": "ok", "name": "pathname"},
         {"backend": "libc"}),
    ],
    "unix.bind.stale_path": [
        ("close() removes the socket file",
         {"file_left": False, "rebind": "ok", "after_unlink": "ok"}, {}),
        ("the stale path is silently taken over",
         {"file_left": True, "rebind": "ok", "after_unlink": "ok"}, {}),
    ],
    "unix.connect.not_listening": [
        ("a bound, non-listening socket takes the connection", {"errno": "ok"}, {}),
    ],
    "unix.connect.not_a_socket": [
        ("a regular file is reported as ENOTSOCK", {"errno": "ENOTSOCK"}, {}),
    ],
    "unix.connect.wrong_type": [
        ("a type mismatch is reported as ECONNREFUSED", {"errno": "ECONNREFUSED"}, {}),
    ],
    "unix.path.no_permission": [
        ("an unprivileged user creates a socket in a read-only directory", {"errno": "ok"},
         {"call": "bind"}),
        ("write permission on the socket file is not checked", {"errno": "ok"},
         {"call": "connect"}),
    ],
    "unix.autobind": [
        ("a family-only address is refused", {"bind": "EINVAL"}, {}),
        ("autobind leaves the socket unnamed", {"bind": "ok", "name": "unnamed"}, {}),
    ],
    "unix.abstract": [
        ("an abstract name creates a file",
         {"bind": "ok", "connect": "ok", "delivered": True, "file_created": True,
          "rebind_after_close": "ok"}, {}),
        ("an abstract name outlives its socket",
         {"bind": "ok", "connect": "ok", "delivered": True, "file_created": False,
          "rebind_after_close": "EADDRINUSE"}, {}),
        ("abstract names are not supported", {"bind": "ENOENT"}, {}),
    ],
    "unix.bind.read_only": [
        ("a socket file is created on a read-only file system", {"errno": "ok"}, {}),
        ("a read-only file system is reported as EACCES", {"errno": "EACCES"}, {}),
    ],
    "unix.socketpair": [
        ("datagrams written separately are merged",
         {"received": ["abcd"], "other_way": "ef", "peer_names": ["unnamed"]}, {"type": "dgram"}),
        ("the pair's ends have names", {"received": ["abcd"], "other_way": "ef",
                                        "peer_names": ["named"], "after_close": "eof"},
         {"type": "stream"}),
        ("a closed end is not seen as end of file",
         {"received": ["abcd"], "other_way": "ef", "peer_names": ["unnamed"],
          "after_close": "data"}, {"type": "stream"}),
    ],
    "unix.dgram.peer_gone": [
        ("send() to a vanished peer succeeds silently",
         {"first_send": "ok", "second_send": "ok"}, {}),
        ("the peer's departure is reported on every send()",
         {"first_send": "ECONNREFUSED", "second_send": "ECONNREFUSED"}, {}),
    ],
}
