"""The namespace helper process: run as a script, it owns network namespaces.

See conformance/topology.py for the theory of operation; this file is the
helper's side only. It imports nothing but a few built-in and standard modules
(no ``conformance``, no json, no subprocess) because it starts once per pytest
worker, and under User-Mode Linux every module read costs. Messages are
``marshal`` dumps of plain dicts, exchanged with the one process that started
this helper over a socket in that process's private (0700) directory.
"""

from __future__ import annotations

import ctypes
import errno
import marshal
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable

# Not ``from typing import TYPE_CHECKING``: typing is one more module to read
# at each start, and type checkers honour this spelling too.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    Msg: TypeAlias = dict[str, Any]  # one request or reply, as marshal carries it

HOST, PEER = "host", "peer"

# The multi-homed host's two cards (A, B) and the peer host's ends of the two
# links; peer.a2 is a second address on the peer's link A, a "foreign host".
ADDRESSES: dict[str, str] = {
    "host.a": "198.51.100.1",
    "host.b": "203.0.113.1",
    "peer.a": "198.51.100.2",
    "peer.a2": "198.51.100.3",
    "peer.b": "203.0.113.2",
}
INTERFACES = {HOST: ("lo", "nic_a", "nic_b"), PEER: ("lo", "peer_a", "peer_b")}

# Distinct interface indexes on the two ends: the kernel delays (by up to a
# second) the carrier-on of a link whose index equals its peer's, which two
# fresh namespaces would otherwise both number 2.
_HOST_SCRIPT = """\
link set lo up
link add nic_a index 11 type veth peer name peer_a index 21 netns /proc/self/fd/{peer_fd}
link add nic_b index 12 type veth peer name peer_b index 22 netns /proc/self/fd/{peer_fd}
addr add {host_a}/24 dev nic_a
addr add {host_b}/24 dev nic_b
link set nic_a up
link set nic_b up
"""
_PEER_SCRIPT = """\
link set lo up
addr add {peer_a}/24 dev peer_a
addr add {peer_a2}/24 dev peer_a
addr add {peer_b}/24 dev peer_b
link set peer_a up
link set peer_b up
"""

BUILD_DEADLINE_S = 10.0

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFF_RUNNING = 0x40
_RTMGRP_LINK = 1


class Unavailable(Exception):
    """The namespaces cannot be made here; the message says why."""


def errno_name(err: int) -> str:
    return errno.errorcode.get(err, f"errno{err}")


# Running out of descriptors is the machine's limit, not a platform without
# namespaces: those errnos go back with any failure, so the suite names the limit.
_LIMIT_ERRNOS = (errno.EMFILE, errno.ENFILE)


def _failure(exc: Exception, key: str, with_errno: bool) -> Msg:
    """A failure reply: the message under ``key``, and the errno name when it
    is wanted (``with_errno``) or says the helper ran out of descriptors."""
    failure: Msg = {"ok": False, key: str(exc)}
    if isinstance(exc, OSError) and (with_errno or exc.errno in _LIMIT_ERRNOS):
        failure["errno"] = errno_name(exc.errno or 0)
    return failure


class _Libc:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL(None, use_errno=True)

    def unshare(self, flags: int) -> int:
        return 0 if self.lib.unshare(flags) == 0 else ctypes.get_errno()

    def setns(self, fd: int) -> None:
        if self.lib.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns: {os.strerror(err)}")


def _private_netns(libc: _Libc) -> bool:
    """Enter a new network namespace; returns whether a user namespace was needed."""
    err = libc.unshare(_CLONE_NEWNET)
    if err == 0:
        return False
    if err != errno.EPERM:
        raise Unavailable(f"unshare(CLONE_NEWNET) failed: {errno_name(err)}")
    uid, gid = os.geteuid(), os.getegid()
    uerr = libc.unshare(_CLONE_NEWUSER)
    if uerr != 0:
        hint = " (the user.max_user_namespaces limit)" if uerr == errno.ENOSPC else ""
        raise Unavailable(
            f"no privilege for a network namespace (unshare(CLONE_NEWNET): EPERM) and "
            f"no user namespace to gain it (unshare(CLONE_NEWUSER): {errno_name(uerr)}{hint}); "
            "run as root or allow unprivileged user namespaces")
    # Map our own ids to root inside, the only mapping an unprivileged process may write.
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                       ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    err = libc.unshare(_CLONE_NEWNET)
    if err != 0:
        raise Unavailable(
            f"unshare(CLONE_NEWNET) inside a new user namespace failed: {errno_name(err)}")
    return True


def _new_netns(libc: _Libc, what: str) -> int:
    """unshare() a fresh network namespace, enter it, and return a descriptor of it."""
    err = libc.unshare(_CLONE_NEWNET)
    if err != 0:
        raise Unavailable(f"unshare(CLONE_NEWNET) for the {what} failed: {errno_name(err)}")
    return os.open("/proc/self/ns/net", os.O_RDONLY)


def _run_ip(ip: str, script: str, pass_fds: tuple[int, ...] = ()) -> None:
    """Run ``ip -batch -`` on ``script``, with ``pass_fds`` inherited.

    posix_spawn() rather than the subprocess module, whose import alone costs
    a tenth of a second under User-Mode Linux.
    """
    rin, win = os.pipe()
    rout, wout = os.pipe()
    try:
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        pid = os.posix_spawn(ip, [ip, "-batch", "-"], os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, rin, 0), (os.POSIX_SPAWN_DUP2, wout, 1),
            (os.POSIX_SPAWN_DUP2, wout, 2)])
    finally:
        for fd in pass_fds:
            os.set_inheritable(fd, False)
        os.close(rin)
        os.close(wout)
    end = time.monotonic() + BUILD_DEADLINE_S
    out = b""
    try:
        with open(win, "w") as f:
            f.write(script)  # far less than a pipe holds: never blocks
        while True:
            r, _, _ = select.select([rout], [], [], max(end - time.monotonic(), 0))
            if not r:
                os.kill(pid, 9)
                raise Unavailable(f"ip -batch did not finish within {BUILD_DEADLINE_S}s")
            chunk = os.read(rout, 65536)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(rout)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code != 0:
        raise Unavailable(f"ip -batch failed: {out.decode(errors='replace').strip() or code}")


def _ifreq(probe: socket.socket, request: int, ifname: str, flags: int = 0) -> int:
    import fcntl

    req = struct.pack("16sh14x", ifname.encode(), flags)
    flags_out: int = struct.unpack_from("16sh", fcntl.ioctl(probe.fileno(), request, req))[1]
    return flags_out


def _lo_up() -> None:
    """Bring up the current namespace's loopback (what ``ip link set lo up`` does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        flags = _ifreq(probe, _SIOCGIFFLAGS, "lo")
        if not flags & _IFF_UP:
            _ifreq(probe, _SIOCSIFFLAGS, "lo", flags | _IFF_UP)


def _await_running(probes: dict[str, socket.socket], watchers: list[socket.socket]) -> None:
    """Block until every interface is running; link state changes arrive on netlink.

    The kernel turns a veth carrier on asynchronously (linkwatch); until then
    its transmit queue drops packets, so a case must not start earlier.
    """
    end = time.monotonic() + BUILD_DEADLINE_S
    while True:
        waiting = [f"{ns}/{i}" for ns, probe in probes.items() for i in INTERFACES[ns]
                   if i != "lo" and not _ifreq(probe, _SIOCGIFFLAGS, i) & _IFF_RUNNING]
        if not waiting:
            return
        left = end - time.monotonic()
        r, _, _ = select.select(watchers, [], [], max(left, 0))
        if not r:
            raise Unavailable(f"links not running within {BUILD_DEADLINE_S}s: {waiting}")
        for w in r:
            w.recv(65536)


def _icmp_unlimited() -> str:
    """Switch off ICMP rate limiting in the current namespace: "0", or the errno name.

    Answering "port unreachable" is how cases learn a datagram was refused, so
    the host must not rate-limit it; a stack that refuses the sysctl (gVisor:
    EPERM) still gets its topology, which reports what happened.
    """
    try:
        with open("/proc/sys/net/ipv4/icmp_ratelimit", "w") as f:
            f.write("0")
    except OSError as exc:
        return errno_name(exc.errno or 0)
    return "0"


def _build(peer: bool, ip: str | None, libc: _Libc, fds: dict[str, int]) -> dict[str, str]:
    """Make a topology's namespaces, recording each one's descriptor in ``fds`` at once."""
    fds[HOST] = _new_netns(libc, "host")
    if not peer:
        # Loopback needs no rate limit: the kernel never limits ICMP sent to it.
        _lo_up()
        return {}
    assert ip is not None
    icmp = _icmp_unlimited()
    fds[PEER] = _new_netns(libc, "peer")
    probes: dict[str, socket.socket] = {}
    watchers: list[socket.socket] = []
    names = {k.replace(".", "_"): v for k, v in ADDRESSES.items()}
    try:
        for ns in (PEER, HOST):
            libc.setns(fds[ns])  # sockets below belong to the namespace entered here
            probes[ns] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            w = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            w.bind((0, _RTMGRP_LINK))
            watchers.append(w)
        _run_ip(ip, _HOST_SCRIPT.format(peer_fd=fds[PEER], **names), pass_fds=(fds[PEER],))
        libc.setns(fds[PEER])
        _run_ip(ip, _PEER_SCRIPT.format(**names))
        _await_running(probes, watchers)
    finally:
        for s in (*probes.values(), *watchers):
            s.close()
    return {"icmp_ratelimit": icmp}


def _in_namespace(msg: Msg) -> tuple[Msg, int | None]:
    """Serve ``socket`` or ``sysctl`` in the current namespace: the reply and a descriptor."""
    if msg["op"] == "socket":
        return {"ok": True}, socket.socket(msg["family"], msg["type"]).detach()
    if msg["op"] == "sysctl":
        return {"ok": True, "value": _sysctl(msg["name"], msg["value"])}, None
    raise Unavailable(f"unknown op {msg['op']!r}")


def _sysctl(name: str, value: str | None = None) -> str:
    """Write (if ``value``) and read a sysctl of the current namespace."""
    path = "/proc/sys/" + name.replace(".", "/")
    if value is not None:
        with open(path, "w") as f:
            f.write(value)
    with open(path) as f:
        return " ".join(f.read().split())


def _reply(conn: socket.socket, msg: Msg,
           do: Callable[[Msg], tuple[Msg, int | None]]) -> None:
    """Answer ``msg`` on ``conn`` with what ``do(msg)`` returns, or with its failure."""
    fd = None
    try:
        reply, fd = do(msg)
    except (Unavailable, OSError) as exc:
        # A build that fails means no topology here (skipped), unless it ran out of descriptors.
        reply = _failure(exc, "error", with_errno=msg["op"] != "build")
    try:
        socket.send_fds(conn, [marshal.dumps(reply)], [fd] if fd is not None else [])
    finally:
        if fd is not None:
            os.close(fd)


class _Child:
    """A loopback-only namespace owned by a forked child of the helper.

    For stacks without setns() (gVisor: EOPNOTSUPP), where the helper cannot
    enter a namespace it made: the child unshare()s it, and serves requests
    for it over a socket pair. The child ends when its end of the pair reads
    end-of-file: on release, or when the helper dies in any way.
    """

    def __init__(self, libc: _Libc, keep_out: list[int]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ours.close()
                for fd in keep_out:  # the helper's stdin and listener are not ours
                    os.close(fd)
                code = self._child(libc, theirs)
            finally:
                os._exit(code)
        theirs.close()
        self.pid, self.conn = pid, ours
        try:
            ready = marshal.loads(ours.recv(65536) or marshal.dumps(
                {"ok": False, "error": "the namespace's process ended"}))
            if not ready["ok"]:
                raise Unavailable(ready["error"])
        except BaseException:
            self.close()
            raise
        self.inode: int = ready["inode"]

    @staticmethod
    def _child(libc: _Libc, conn: socket.socket) -> int:
        try:
            fd = _new_netns(libc, "host")
            os.close(fd)
            _lo_up()
            inode = os.stat("/proc/self/ns/net").st_ino
        except (Unavailable, OSError) as exc:
            conn.send(marshal.dumps({"ok": False, "error": str(exc)}))
            return 1
        conn.send(marshal.dumps({"ok": True, "inode": inode}))
        while data := conn.recv(65536):
            _reply(conn, marshal.loads(data), _in_namespace)
        return 0

    def ask(self, msg: Msg) -> tuple[Msg, int | None]:
        self.conn.send(marshal.dumps(msg))
        data, fds, _, _ = socket.recv_fds(self.conn, 65536, 1)
        if not data:
            raise Unavailable("the namespace's process ended")
        return marshal.loads(data), (fds[0] if fds else None)

    def close(self) -> None:
        self.conn.close()  # end-of-file: the child exits
        os.waitpid(self.pid, 0)


class _Server:
    """The helper's state: its base namespace and the namespaces of live topologies."""

    def __init__(self, libc: _Libc, keep_out: list[int]):
        self.libc = libc
        self.keep_out = keep_out
        self.base = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            libc.setns(self.base)
            self.setns = True
        except OSError:
            self.setns = False
        self.topologies: dict[int, dict[str, int] | _Child] = {}
        self.next_id = 1

    def handle(self, conn: socket.socket) -> None:
        data = conn.recv(65536)
        if not data:
            return  # the client gave up before asking
        _reply(conn, marshal.loads(data), self._do)

    def _do(self, msg: Msg) -> tuple[Msg, int | None]:
        if msg["op"] == "sysctl" and msg["value"] is not None:
            return self._private_write(msg)
        return self._dispatch(msg)

    def _dispatch(self, msg: Msg) -> tuple[Msg, int | None]:
        if not self.setns:
            return self._do_forked(msg)
        try:
            return self._do_setns(msg)
        finally:
            # Never stay in a topology's namespace: release must be able to end it.
            self.libc.setns(self.base)

    def _private_write(self, msg: Msg) -> tuple[Msg, int | None]:
        """Write a sysctl in a topology's namespace only if that leaves the base's alone.

        A stack whose sysctl is one value for every namespace (gVisor's
        ip_local_port_range) would otherwise change it for everything else
        running there: the write is undone and refused.
        """
        name = msg["name"]
        before = _sysctl(name)  # the helper is in its base namespace between requests
        reply = self._dispatch(msg)
        after = _sysctl(name)
        if after != before:
            _sysctl(name, before)
            raise Unavailable(f"{name} is not private to a network namespace here: writing "
                              f"{msg['value']!r} inside one changed it outside too "
                              f"({before!r} -> {after!r}; restored)")
        return reply

    def _new_id(self, topology: dict[str, int] | _Child) -> int:
        tid, self.next_id = self.next_id, self.next_id + 1
        self.topologies[tid] = topology
        return tid

    def _do_setns(self, msg: Msg) -> tuple[Msg, int | None]:
        op = msg["op"]
        if op == "build":
            fds: dict[str, int] = {}
            try:
                extra = _build(msg["peer"], msg["ip"], self.libc, fds)
            except BaseException:
                for fd in fds.values():
                    os.close(fd)
                raise
            inodes = {ns: os.fstat(fd).st_ino for ns, fd in fds.items()}
            return {"ok": True, "id": self._new_id(fds), "netns": inodes, **extra}, None
        if op == "release":
            released = self.topologies.pop(msg["id"], {})
            assert isinstance(released, dict)
            for fd in released.values():
                os.close(fd)
            return {"ok": True}, None
        try:
            namespaces = self.topologies[msg["id"]]
            assert isinstance(namespaces, dict)
            self.libc.setns(namespaces[msg["ns"]])
        except KeyError:
            raise Unavailable(f"no namespace {msg['ns']!r} in topology {msg['id']}") from None
        return _in_namespace(msg)

    def _do_forked(self, msg: Msg) -> tuple[Msg, int | None]:
        op = msg["op"]
        if op == "build":
            if msg["peer"]:
                raise Unavailable("setns() is not supported here (EOPNOTSUPP), and a two-host "
                                  "topology needs it to wire both namespaces")
            child = _Child(self.libc, self.keep_out)
            return {"ok": True, "id": self._new_id(child), "netns": {HOST: child.inode}}, None
        if op == "release":
            released = self.topologies.pop(msg["id"], None)
            if isinstance(released, _Child):
                released.close()
            return {"ok": True}, None
        found = self.topologies.get(msg["id"])
        if not isinstance(found, _Child) or msg["ns"] != HOST:
            raise Unavailable(f"no namespace {msg['ns']!r} in topology {msg['id']}")
        return found.ask(msg)


def serve(path: str) -> None:
    """The helper's main: enter a base namespace, say so on stdout, serve until stdin's EOF."""
    libc = _Libc()
    try:
        userns = _private_netns(libc)
    except (Unavailable, OSError) as exc:
        os.write(1, marshal.dumps(_failure(exc, "reason", with_errno=False)))
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        server = _Server(libc, [0, listener.fileno()])
        listener.bind(path)
        listener.listen(8)
        os.write(1, marshal.dumps({"ok": True, "userns": userns}))
        watched: list[int | socket.socket] = [0, listener]
        while True:
            r, _, _ = select.select(watched, [], [])
            if 0 in r and not os.read(0, 4096):
                return
            if listener in r:
                conn, _ = listener.accept()
                with conn:
                    server.handle(conn)


if __name__ == "__main__":
    serve(sys.argv[1])
