"""Network-namespace topologies (Linux): a multi-homed host and a peer host.

Theory of operation
-------------------
A :class:`Topology` starts a *helper process* that owns the namespaces; the
test process never changes its own namespace. The helper is a fresh Python
interpreter (``python -c ...``), so it is single-threaded whatever the test
process is. It:

1. unshare()s a new network namespace, the *host*; without the privilege for
   that it first unshare()s a user namespace in which it is root (only a
   single-threaded process may do that, hence a fresh process);
2. for a two-host topology, unshare()s a second one, the *peer*, keeps both
   open by descriptor and returns to the host with setns();
3. wires them with iproute2 (``ip -batch -``), run inside each namespace: two
   veth pairs whose peer ends are moved straight into the peer namespace with
   ``netns /proc/self/fd/N`` (a descriptor, not a name in /var/run/netns);
4. waits, on netlink link events rather than a sleep, until every interface is
   running, then serves requests on an AF_UNIX socket in a private directory.

A request for a socket makes the helper setns() into the namespace, create the
socket there and pass the descriptor back with SCM_RIGHTS. A socket belongs to
the namespace it was created in for its whole life, whoever holds it, so the
case drives it through the ordinary backends (python or libc).

Why a helper process rather than a thread that setns()s: setns() into a
network namespace needs CAP_SYS_ADMIN in the caller's own user namespace, which
an unprivileged test process lacks, and unshare(CLONE_NEWUSER) is refused to a
multi-threaded process such as a pytest worker with watchdog threads. A helper
can do both, and no thread of the test process is ever left in the wrong
namespace when a case fails halfway. Each request opens and closes its own
AF_UNIX connection because the plugin counts the socket descriptors a case
leaves open: a long-lived control socket would count as a leak.

Teardown: the namespaces are anonymous, so they exist only while the helper
(or a socket made in them) does; they need no names, mounts or cleanup of
their own, and the veth pairs vanish with them. The helper exits when its
stdin reaches end-of-file, which happens when :meth:`Topology.close` runs (a
context manager, a fixture finaliser, or ``atexit``) and equally when the test
process dies in any other way, even by SIGKILL.

Addresses come only from the documentation prefixes 198.51.100.0/24 and
203.0.113.0/24; the destination guard admits them only while a topology with
links exists.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

HOST, PEER = "host", "peer"
PREFIXES = ("198.51.100.0/24", "203.0.113.0/24")

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
REQUEST_DEADLINE_S = 5.0

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_SIOCGIFFLAGS = 0x8913
_IFF_RUNNING = 0x40
_RTMGRP_LINK = 1


class TopologyUnavailable(Exception):
    """This platform or this process cannot build the topology; the message says why."""


def _errno_name(err: int) -> str:
    return errno.errorcode.get(err, f"errno{err}")


def _find_ip() -> str | None:
    # An unprivileged user's PATH often lacks the sbin directories.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("ip", path=path)


class Topology:
    """A private host namespace (lo; with ``peer``: two cards and a peer host).

    Use as a context manager, or call :meth:`close`; ``atexit`` closes it too.
    """

    def __init__(self, peer: bool = True, deadline: float = BUILD_DEADLINE_S):
        if not sys.platform.startswith("linux"):
            raise TopologyUnavailable(
                f"network namespaces exist only on Linux (this is {sys.platform})"
            )
        ip = _find_ip()
        if ip is None:
            raise TopologyUnavailable("iproute2's `ip` command was not found")
        self.peer = peer
        self._dir = tempfile.TemporaryDirectory(prefix="sc-topo-")
        self._path = os.path.join(self._dir.name, "helper")
        self._stack = ExitStack()
        self._stack.callback(self._dir.cleanup)
        spec = {"peer": peer, "ip": ip, "path": self._path}
        started = time.monotonic()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-c", "import sys; from conformance.topology import serve; "
             "serve(sys.argv[1])", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        atexit.register(self.close)
        try:
            ready = self._read_ready(deadline)
        except BaseException:
            self.close()
            raise
        if not ready.get("ok"):
            self.close()
            raise TopologyUnavailable(ready.get("reason", "the namespace helper failed"))
        self.userns: bool = ready["userns"]
        self.netns: dict[str, int] = ready["netns"]
        self.helper_pid = self._proc.pid
        self.build_s = round(time.monotonic() - started, 3)
        if peer:
            from conformance.backends.guard import namespace_prefixes

            self._stack.enter_context(
                namespace_prefixes(*PREFIXES, namespaces=self.netns.values()))

    def _read_ready(self, deadline: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        r, _, _ = select.select([out], [], [], deadline)
        if not r:
            raise TopologyUnavailable(f"the namespace helper was not ready within {deadline}s")
        line = out.readline()
        if not line:
            code = self._proc.wait()
            raise TopologyUnavailable(f"the namespace helper exited with status {code}")
        return json.loads(line)

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        """End the helper (and with it every namespace and link); idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.close)
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # end-of-file is the helper's signal to exit
            try:
                proc.wait(timeout=REQUEST_DEADLINE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        finally:
            self._stack.close()

    def _request(self, msg: Mapping[str, Any], want_fd: bool = False) -> tuple[dict, int | None]:
        if self._proc is None:
            raise TopologyUnavailable("the topology is closed")
        from conformance.errors import DeadlineExceeded

        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
            c.settimeout(REQUEST_DEADLINE_S)
            try:
                c.connect(self._path)
                c.send(json.dumps(msg).encode())
                data, fds, _, _ = socket.recv_fds(c, 65536, 1)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"the namespace helper did not answer {msg['op']} "
                    f"within {REQUEST_DEADLINE_S}s") from None
        reply = json.loads(data or b'{"ok": false, "error": "the helper closed the connection"}')
        if not reply.get("ok"):
            for fd in fds:
                os.close(fd)
            err = getattr(errno, reply.get("errno") or "", None)
            if err is not None:
                raise OSError(err, reply.get("error", ""))
            raise TopologyUnavailable(reply.get("error", "the namespace helper failed"))
        return reply, (fds[0] if fds else None)

    def socket(self, kit: Any, ns: str, family: str, type: str) -> Any:
        """A socket created inside namespace ``ns``, owned by ``kit`` with its backend."""
        from conformance.errors import Unsupported

        try:
            _, fd = self._request({"op": "socket", "ns": ns, "family": family, "type": type})
        except OSError as exc:
            if _errno_name(exc.errno or 0) in ("EAFNOSUPPORT", "EPROTONOSUPPORT"):
                raise Unsupported(f"socket({family}, {type}) in the {ns} namespace: "
                                  f"{_errno_name(exc.errno or 0)}") from exc
            raise
        assert fd is not None
        return adopt(fd, kit.backend, family, type, kit.tracker)

    def sysctl(self, ns: str, name: str, value: str | None = None) -> str:
        """Read (and first write, if ``value``) a sysctl such as ``net.ipv4.ip_local_port_range``
        inside namespace ``ns``; per-namespace sysctls never touch the host's."""
        reply, _ = self._request({"op": "sysctl", "ns": ns, "name": name, "value": value})
        return reply["value"]


def adopt(fd: int, backend: str, family: str, type: str, tracker: Any) -> Any:
    """Wrap a socket descriptor in the named backend's Socket and register it with ``tracker``."""
    from conformance.backends import FAMILY, TYPE

    if backend == "python":
        from conformance.backends.python import PySocket

        s: Any = PySocket(socket.socket(FAMILY[family], TYPE[type], 0, fileno=fd),
                          family, type, tracker)
    elif backend == "libc":
        from conformance.backends.libc import LibcSocket

        s = LibcSocket(fd, family, type, tracker)
    else:
        os.close(fd)
        from conformance.errors import HarnessError

        raise HarnessError(f"unknown backend {backend!r}")
    return tracker.add(s)


def name_of(host: str) -> str:
    """The topology's name for an address (``peer.a``), for observations; else the address."""
    for name, addr in ADDRESSES.items():
        if addr == host:
            return name
    return host


def open_or_skip(peer: bool = True) -> Topology:
    """A new topology, or pytest.skip (verdict ``skipped``) saying why none can be built."""
    import pytest

    try:
        return Topology(peer=peer)
    except TopologyUnavailable as exc:
        pytest.skip(f"network-namespace topology unavailable: {exc}")


# --- the helper process ----------------------------------------------------


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
        raise TopologyUnavailable(f"unshare(CLONE_NEWNET) failed: {_errno_name(err)}")
    uid, gid = os.geteuid(), os.getegid()
    uerr = libc.unshare(_CLONE_NEWUSER)
    if uerr != 0:
        hint = " (the user.max_user_namespaces limit)" if uerr == errno.ENOSPC else ""
        raise TopologyUnavailable(
            f"no privilege for a network namespace (unshare(CLONE_NEWNET): EPERM) and "
            f"no user namespace to gain it (unshare(CLONE_NEWUSER): {_errno_name(uerr)}{hint}); "
            "run as root or allow unprivileged user namespaces")
    # Map our own ids to root inside, the only mapping an unprivileged process may write.
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                       ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    err = libc.unshare(_CLONE_NEWNET)
    if err != 0:
        raise TopologyUnavailable(
            f"unshare(CLONE_NEWNET) inside a new user namespace failed: {_errno_name(err)}")
    return True


def _run_ip(ip: str, script: str, pass_fds: tuple[int, ...] = ()) -> None:
    r = subprocess.run([ip, "-batch", "-"], input=script, text=True, capture_output=True,
                       pass_fds=pass_fds, timeout=BUILD_DEADLINE_S)
    if r.returncode != 0:
        raise TopologyUnavailable(f"ip -batch failed: {r.stderr.strip() or r.returncode}")


def _flags(probe: socket.socket, ifname: str) -> int:
    import fcntl

    req = struct.pack("16sh14x", ifname.encode(), 0)
    return struct.unpack_from("16sh", fcntl.ioctl(probe.fileno(), _SIOCGIFFLAGS, req))[1]


def _await_running(probes: dict[str, socket.socket], watchers: list[socket.socket]) -> None:
    """Block until every interface is running; link state changes arrive on netlink.

    The kernel turns a veth carrier on asynchronously (linkwatch); until then
    its transmit queue drops packets, so a case must not start earlier.
    """
    end = time.monotonic() + BUILD_DEADLINE_S
    while True:
        waiting = [f"{ns}/{i}" for ns, probe in probes.items() for i in INTERFACES[ns]
                   if i != "lo" and not _flags(probe, i) & _IFF_RUNNING]
        if not waiting:
            return
        left = end - time.monotonic()
        r, _, _ = select.select(watchers, [], [], max(left, 0))
        if not r:
            raise TopologyUnavailable(f"links not running within {BUILD_DEADLINE_S}s: {waiting}")
        for w in r:
            w.recv(65536)


def _build(spec: Mapping[str, Any], libc: _Libc) -> tuple[dict[str, int], bool]:
    userns = _private_netns(libc)
    fds = {HOST: os.open("/proc/self/ns/net", os.O_RDONLY)}
    # Answering "port unreachable" is how cases learn a datagram was refused:
    # the host namespace must never rate-limit it.
    with open("/proc/sys/net/ipv4/icmp_ratelimit", "w") as f:
        f.write("0")
    if not spec["peer"]:
        _run_ip(spec["ip"], "link set lo up\n")
        return fds, userns
    err = libc.unshare(_CLONE_NEWNET)
    if err != 0:
        raise TopologyUnavailable(f"unshare(CLONE_NEWNET) for the peer failed: {_errno_name(err)}")
    fds[PEER] = os.open("/proc/self/ns/net", os.O_RDONLY)
    probes: dict[str, socket.socket] = {}
    watchers: list[socket.socket] = []
    names = {k.replace(".", "_"): v for k, v in ADDRESSES.items()}
    for ns in (PEER, HOST):
        libc.setns(fds[ns])  # sockets below belong to the namespace entered here
        probes[ns] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        w = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        w.bind((0, _RTMGRP_LINK))
        watchers.append(w)
    try:
        _run_ip(spec["ip"], _HOST_SCRIPT.format(peer_fd=fds[PEER], **names),
                pass_fds=(fds[PEER],))
        libc.setns(fds[PEER])
        _run_ip(spec["ip"], _PEER_SCRIPT.format(**names))
        libc.setns(fds[HOST])
        _await_running(probes, watchers)
    finally:
        for s in (*probes.values(), *watchers):
            s.close()
    return fds, userns


def _handle(conn: socket.socket, fds: Mapping[str, int], libc: _Libc) -> None:
    from conformance.backends import FAMILY, TYPE

    msg = json.loads(conn.recv(65536))
    try:
        libc.setns(fds[msg["ns"]])
        if msg["op"] == "socket":
            s = socket.socket(FAMILY[msg["family"]], TYPE[msg["type"]])
            try:
                socket.send_fds(conn, [b'{"ok": true}'], [s.fileno()])
            finally:
                s.close()
            return
        if msg["op"] == "sysctl":
            path = "/proc/sys/" + msg["name"].replace(".", "/")
            if msg["value"] is not None:
                with open(path, "w") as f:
                    f.write(msg["value"])
            with open(path) as f:
                value = " ".join(f.read().split())
            conn.send(json.dumps({"ok": True, "value": value}).encode())
            return
        conn.send(json.dumps({"ok": False, "error": f"unknown op {msg['op']!r}"}).encode())
    except OSError as exc:
        reply = {"ok": False, "errno": _errno_name(exc.errno or 0), "error": str(exc)}
        conn.send(json.dumps(reply).encode())


def serve(spec_json: str) -> None:
    """The helper's main: build, say so on stdout, serve until stdin reaches end-of-file."""
    spec = json.loads(spec_json)
    libc = _Libc()
    try:
        fds, userns = _build(spec, libc)
    except (TopologyUnavailable, OSError) as exc:
        print(json.dumps({"ok": False, "reason": str(exc)}), flush=True)
        return
    inodes = {ns: os.fstat(fd).st_ino for ns, fd in fds.items()}
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(spec["path"])
        listener.listen(8)
        print(json.dumps({"ok": True, "userns": userns, "netns": inodes}), flush=True)
        while True:
            r, _, _ = select.select([sys.stdin, listener], [], [])
            if sys.stdin in r and not os.read(sys.stdin.fileno(), 4096):
                return
            if listener in r:
                conn, _ = listener.accept()
                with conn:
                    _handle(conn, fds, libc)
