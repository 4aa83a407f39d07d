"""AF_UNIX as a family of its own: path errors, stale files, autobind and abstract names."""

from __future__ import annotations

import os
import re
import select
import socket
import uuid
from collections.abc import Callable
from typing import Any

from conformance.api import (
    BACKENDS,
    DEADLINE_S,
    NOBODY,
    TYPES,
    DeadlineExceeded,
    Kit,
    Socket,
    as_user,
    bind_sockaddr,
    case,
    credentials_mechanism,
    freebsd,
    getsockname_raw,
    linux,
    on_read_only,
    posix,
    sockaddr_header,
    socketpair_raw,
)

FAMILY_ONLY = ("unix",)


def _scratch(kit: Kit) -> str:
    """The instance's private directory (the one kit.address() puts paths in).

    Names made inside it stay within the 11 bytes its paths are shown to fit.
    """
    return os.path.dirname(kit.address("unix"))


def _path_case(kit: Kit, call: str, type: str, make: Callable[[str], str]) -> dict[str, Any]:
    """bind() or connect() to the path ``make`` builds inside the instance's directory."""
    path = make(_scratch(kit))
    s = kit.socket("unix", type)
    fn = s.bind if call == "bind" else s.connect
    kit.note(path=os.path.basename(path.rstrip("/")))
    return {"errno": kit.outcome(fn, path)}


def _missing_directory(base: str) -> str:
    return os.path.join(base, "nodir", "s")


def _under_a_file(base: str) -> str:
    regular = os.path.join(base, "file")
    with open(regular, "w"):
        pass
    return os.path.join(regular, "s")


def _through_a_loop(base: str) -> str:
    loop = os.path.join(base, "loop")
    os.symlink(loop, loop)
    return os.path.join(loop, "s")


CALLS = ("bind", "connect")


@case(
    "unix.path.missing_directory",
    "an AF_UNIX path whose directory does not exist fails with ENOENT",
    cites=[
        posix("bind", "ERRORS: ENOENT a component of the path prefix does not name an "
                      "existing file"),
        posix("connect", "ERRORS: ENOENT a component of the pathname does not name an "
                         "existing file"),
        linux("bind(2)", "ERRORS (AF_UNIX): ENOENT a component in the directory prefix does "
                         "not exist"),
        linux("unix(7)", "ERRORS: ENOENT the pathname in remote_address did not exist"),
    ],
    params={"call": CALLS, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:ENOENT", "posix:connect:ENOENT", "linux:bind.2:unix_path",
             "linux:unix.7:ENOENT"],
)
def test_missing_directory(call: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind()/connect() to <dir>/nodir/s."""
    return _path_case(kit, call, type, _missing_directory)


@case(
    "unix.path.not_directory",
    "an AF_UNIX path with a regular file as a directory component fails with ENOTDIR",
    cites=[
        posix("bind", "ERRORS: ENOTDIR a component of the path prefix names an existing "
                      "file that is neither a directory nor a symbolic link to a directory"),
        posix("connect", "ERRORS: ENOTDIR"),
        linux("bind(2)", "ERRORS (AF_UNIX): ENOTDIR a component of the path prefix is not a "
                         "directory"),
        linux("unix(7)", "ERRORS: ENOTDIR"),
    ],
    params={"call": CALLS, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:ENOTDIR", "posix:connect:ENOTDIR", "linux:bind.2:unix_path"],
)
def test_not_directory(call: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind()/connect() to <dir>/file/s where file is a regular file."""
    return _path_case(kit, call, type, _under_a_file)


@case(
    "unix.path.symlink_loop",
    "an AF_UNIX path through a symbolic-link loop fails with ELOOP",
    cites=[
        posix("bind", "ERRORS: ELOOP a loop exists in symbolic links encountered during "
                      "resolution of the pathname"),
        posix("connect", "ERRORS: ELOOP"),
        linux("bind(2)", "ERRORS (AF_UNIX): ELOOP too many symbolic links were encountered"),
        linux("unix(7)", "ERRORS: ELOOP"),
    ],
    params={"call": CALLS, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:ELOOP", "posix:connect:ELOOP", "linux:bind.2:unix_path"],
)
def test_symlink_loop(call: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind()/connect() to <dir>/loop/s where loop is a symbolic link to itself."""
    return _path_case(kit, call, type, _through_a_loop)


@case(
    "unix.bind.trailing_slash",
    "bind() to an AF_UNIX path that ends in a slash fails with ENOENT or ENOTDIR",
    cites=[
        posix("bind", "ERRORS: ENOENT or ENOTDIR the pathname names a nonexistent file and "
                      "contains at least one non-<slash> character and ends with one or "
                      "more trailing <slash> characters"),
        linux("path_resolution(7)", "a pathname with a trailing slash must name a directory"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:ENOENT.trailing_slash"],
)
def test_trailing_slash(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind() to <dir>/new/ (no such file yet) is refused."""
    return _path_case(kit, "bind", type, lambda base: os.path.join(base, "new") + "/")


@case(
    "unix.bind.empty_path",
    "bind() of an AF_UNIX socket to an empty pathname",
    cites=[
        posix("bind", "ERRORS: ENOENT the pathname is an empty string"),
        linux("unix(7)", "Address format: an address whose sun_path is empty (addrlen "
                         "sizeof(sa_family_t)) is unnamed and bind() autobinds it"),
    ],
    level="platform-defined",
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:ENOENT"],
)
def test_empty_path(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """bind("") through the backend's API: refused, or the socket gets some name."""
    s = kit.socket("unix", type)
    result = kit.outcome(s.bind, "")
    if result != "ok":
        return {"errno": result}
    return {"errno": "ok", "name": _name_kind(getsockname_raw(s.fileno()))}


def _name_kind(raw: bytes) -> str:
    """Classify an AF_UNIX name from getsockname()'s bytes (family header first)."""
    path = raw[2:]
    if not path:
        return "unnamed"
    if path[0] == 0:
        if re.fullmatch(rb"\x00[0-9a-f]{5}", path):
            return "abstract_5_hex"
        return "abstract"
    return "pathname"


@case(
    "unix.bind.stale_path",
    "a path left by a closed AF_UNIX socket stays in use until it is unlinked",
    cites=[
        posix("bind", "ERRORS: EADDRINUSE the specified address is already in use"),
        linux("unix(7)", "ERRORS: EADDRINUSE the specified local address is already in use "
                         "or the filesystem socket object already exists"),
        linux("unix(7)", "Pathname sockets: the socket file persists until it is unlinked"),
        freebsd("unix(4)", "DESCRIPTION: the file must be removed with unlink(2)"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["linux:unix.7:EADDRINUSE"],
)
def test_stale_path(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Bind, close, bind the same path again (refused), unlink, bind (accepted)."""
    path = kit.address("unix")
    first = kit.socket("unix", type)
    first.bind(path)
    first.close()
    file_left = os.path.exists(path)
    again = kit.outcome(kit.socket("unix", type).bind, path)
    if file_left:
        os.unlink(path)
    return {
        "file_left": file_left,
        "rebind": again,
        "after_unlink": kit.outcome(kit.socket("unix", type).bind, path),
    }


@case(
    "unix.connect.not_listening",
    "connect() to an AF_UNIX stream socket that is bound but not listening: ECONNREFUSED",
    cites=[
        posix("connect", "ERRORS: ECONNREFUSED the target address was not listening for "
                         "connections"),
        linux("unix(7)", "ERRORS: ECONNREFUSED the remote address specified by connect() "
                         "was not a listening socket"),
    ],
    params={"backend": BACKENDS},
    asserts=["posix:connect:ECONNREFUSED", "linux:unix.7:ECONNREFUSED"],
)
def test_connect_not_listening(backend: str, kit: Kit) -> dict[str, Any]:
    """A bound, non-listening stream socket's path refuses a stream client."""
    server = kit.bound("unix", "stream")
    client = kit.socket("unix", "stream")
    return {"errno": kit.outcome(kit.connect_within, client, server.getsockname())}


@case(
    "unix.connect.not_a_socket",
    "connect() to an AF_UNIX path that names a regular file fails with ECONNREFUSED",
    cites=[
        posix("connect", "ERRORS: ECONNREFUSED the target address was not listening for "
                         "connections or refused the connection request"),
        linux("unix(7)", "ERRORS: ECONNREFUSED the remote address was not a listening socket "
                         "or the target pathname was not a socket"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["linux:unix.7:ECONNREFUSED"],
)
def test_connect_not_a_socket(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The path exists but is a plain file: no socket can be reached through it."""
    path = kit.address("unix")
    with open(path, "w"):
        pass
    client = kit.socket("unix", type)
    return {"errno": kit.outcome(kit.connect_within, client, path)}


@case(
    "unix.connect.wrong_type",
    "connect() to an AF_UNIX socket of the other type fails with EPROTOTYPE",
    cites=[
        posix("connect", "ERRORS: EPROTOTYPE the specified address has a different type "
                         "than the socket bound to the specified peer address"),
        linux("connect(2)", "ERRORS: EPROTOTYPE the socket type does not support the "
                            "requested communications protocol"),
        linux("unix(7)", "ERRORS: EPROTOTYPE the remote socket does not match the local "
                         "socket type"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["posix:connect:EPROTOTYPE", "linux:connect.2:EPROTOTYPE"],
)
def test_connect_wrong_type(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """A stream client to a datagram socket's path, a datagram client to a listener's path."""
    other = "dgram" if type == "stream" else "stream"
    server = kit.bound("unix", other)
    if other == "stream":
        server.listen(1)
    client = kit.socket("unix", type)
    return {"errno": kit.outcome(kit.connect_within, client, server.getsockname())}


def _unwritable(kit: Kit) -> str:
    """A directory nobody may write to, inside one everybody may search."""
    base = _scratch(kit)
    os.chmod(base, 0o755)  # let the unprivileged child reach its contents
    locked = os.path.join(base, "ro")
    os.mkdir(locked, 0o555)
    os.chmod(locked, 0o555)  # mkdir's mode is filtered by the umask
    return locked


@case(
    "unix.path.no_permission",
    "an unprivileged user without write permission gets EACCES from bind() and connect()",
    cites=[
        posix("bind", "ERRORS: EACCES a component of the path prefix denies search "
                      "permission, or the requested name requires writing in a directory "
                      "with a mode that denies write permission"),
        posix("connect", "ERRORS: EACCES write access to the named socket is denied (may "
                         "fail)"),
        linux("bind(2)", "ERRORS (AF_UNIX): EACCES search permission is denied on a "
                         "component of the path prefix"),
        linux("unix(7)", "ERRORS: EACCES; connecting requires write permission on the "
                         "socket file"),
    ],
    params={"call": CALLS, "type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EACCES.path", "posix:connect:EACCES", "linux:bind.2:unix_path"],
)
def test_no_permission(call: str, type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """As uid 65534: bind() in a mode-0555 directory; connect() to a mode-0555 socket file."""
    locked = _unwritable(kit)
    if call == "bind":
        target = os.path.join(locked, "s")
    else:
        server = kit.bound("unix", type)
        if type == "stream":
            server.listen(1)
        target = server.getsockname()
        os.chmod(target, 0o555)

    def as_nobody() -> dict[str, Any]:
        s = kit.socket("unix", type)
        fn = s.bind if call == "bind" else s.connect
        return {"errno": Kit.outcome(fn, target), "uid": os.geteuid()}

    result = as_user(as_nobody, NOBODY)
    kit.note(uid=result.pop("uid"), credentials=credentials_mechanism())
    return result


def _autobind(s: Socket, backend: str) -> None:
    """bind() with addrlen == sizeof(sa_family_t): the socket module does it for bind("")."""
    if backend == "libc":
        bind_sockaddr(s.fileno(), sockaddr_header("unix"))
    else:
        s.bind("")


@case(
    "unix.autobind",
    "bind() with only the address family gives an AF_UNIX socket an abstract 5-hex-digit name",
    cites=[
        linux("unix(7)", "Autobind feature: addrlen sizeof(sa_family_t) binds to an "
                         "abstract address of 5 bytes in the character set [0-9a-f]"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["linux:unix.7:autobind"],
)
def test_autobind(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """The name getsockname() reports after bind(fd, {AF_UNIX}, 2)."""
    s = kit.socket("unix", type)
    result = kit.outcome(_autobind, s, backend)
    if result != "ok":
        return {"bind": result}
    return {"bind": "ok", "name": _name_kind(getsockname_raw(s.fileno()))}


@case(
    "unix.abstract",
    "an abstract AF_UNIX name (leading NUL) is reachable, makes no file and dies with its socket",
    cites=[
        linux("unix(7)", "Abstract sockets: sun_path[0] is a null byte; the name has no "
                         "connection with file-system pathnames; it is removed when all "
                         "open references to the socket are closed"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["linux:unix.7:abstract"],
)
def test_abstract(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Bind a unique abstract name, connect and exchange a byte, close, bind the name again."""
    # The abstract namespace is shared by every process of the network
    # namespace (every xdist worker), so the name is unique per instance.
    name = f"\0sc-{uuid.uuid4().hex}"
    server = kit.socket("unix", type)
    bound = kit.outcome(server.bind, name)
    if bound != "ok":
        return {"bind": bound}
    if type == "stream":
        server.listen(1)
    client = kit.socket("unix", type)
    connected = kit.outcome(kit.connect_within, client, name)
    delivered = False
    if connected == "ok":
        client.send(b"x")
        peer = kit.accept_within(server)[0] if type == "stream" else server
        delivered = kit.recv_within(peer) == b"x"
    server.close()
    return {
        "bind": "ok",
        "connect": connected,
        "delivered": delivered,
        "file_created": os.path.exists(name[1:]),
        "rebind_after_close": kit.outcome(kit.socket("unix", type).bind, name),
    }


@case(
    "unix.dgram.peer_gone",
    "send() on an AF_UNIX datagram socket whose connected peer has closed",
    cites=[
        posix("send", "ERRORS: ECONNRESET, ENOTCONN"),
        linux("unix(7)", "ERRORS: ECONNREFUSED; ENOTCONN socket operation needs a target "
                         "address, but the socket is not connected"),
    ],
    level="platform-defined",
    params={"backend": BACKENDS},
    asserts=["linux:unix.7:peer_gone"],
)
def test_dgram_peer_gone(backend: str, kit: Kit) -> dict[str, Any]:
    """The first and second send() after the peer's close, and getpeername() between them."""
    server = kit.bound("unix", "dgram")
    client = kit.socket("unix", "dgram")
    client.connect(server.getsockname())
    server.close()
    first = kit.outcome(client.send, b"1")
    second = kit.outcome(client.send, b"2")
    return {"first_send": first, "second_send": second}


@case(
    "unix.bind.read_only",
    "bind() of an AF_UNIX path on a read-only file system fails with EROFS",
    cites=[
        posix("bind", "ERRORS (AF_UNIX): EROFS the name would reside on a read-only file "
                      "system"),
        linux("bind(2)", "ERRORS (AF_UNIX): EROFS the socket inode would reside on a "
                         "read-only filesystem"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
    asserts=["posix:bind:EROFS", "linux:bind.2:unix_path"],
)
def test_read_only(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """With a private read-only tmpfs over <dir>/ro, bind() to <dir>/ro/s."""
    locked = os.path.join(_scratch(kit), "ro")
    os.mkdir(locked)

    def bind_there() -> dict[str, Any]:
        s = kit.socket("unix", type)
        return {"errno": Kit.outcome(s.bind, os.path.join(locked, "s"))}

    return on_read_only(locked, bind_there)


def _pair(backend: str, type: str) -> tuple[int, int]:
    """Two descriptors from socketpair(AF_UNIX, type); the caller closes them."""
    if backend == "libc":
        return socketpair_raw(socket.AF_UNIX, TYPE_NUMBER[type])
    a, b = socket.socketpair(socket.AF_UNIX, TYPE_NUMBER[type])
    return a.detach(), b.detach()


TYPE_NUMBER = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}


def _peer_name(fd: int) -> str:
    s = socket.socket(fileno=os.dup(fd))
    try:
        name = s.getpeername()
    finally:
        s.close()
    return "unnamed" if name in ("", b"") else "named"


def _read(fd: int) -> bytes:
    """One read() once ``fd`` is readable; a stack that never delivers is a timeout."""
    ready, _, _ = select.select([fd], [], [], DEADLINE_S)
    if not ready:
        raise DeadlineExceeded(f"socketpair: nothing readable within {DEADLINE_S}s")
    return os.read(fd, 64)


@case(
    "unix.socketpair",
    "socketpair() gives two connected, unnamed AF_UNIX sockets that carry data both ways",
    cites=[
        posix("socketpair", "DESCRIPTION: creates an unbound pair of connected sockets"),
        linux("socketpair(2)", "DESCRIPTION: the two sockets are indistinguishable"),
        linux("unix(7)", "Address format: sockets created by socketpair() are unnamed"),
    ],
    params={"type": TYPES, "backend": BACKENDS},
)
def test_socketpair(type: str, backend: str, kit: Kit) -> dict[str, Any]:
    """Data crosses both ways (datagrams one by one); a stream end reads EOF after a close."""
    a, b = _pair(backend, type)
    try:
        os.write(a, b"ab")
        os.write(a, b"cd")
        os.write(b, b"ef")
        if type == "dgram":
            received = [_read(b).decode(), _read(b).decode()]
        else:
            data = b""
            while len(data) < 4:
                chunk = _read(b)
                if not chunk:
                    break
                data += chunk
            received = [data.decode()]
        obs: dict[str, Any] = {
            "received": received,
            "other_way": _read(a).decode(),
            "peer_names": sorted({_peer_name(a), _peer_name(b)}),
        }
        os.close(a)
        a = -1
        if type == "stream":
            obs["after_close"] = "eof" if _read(b) == b"" else "data"
        return obs
    finally:
        if a >= 0:
            os.close(a)
        os.close(b)
