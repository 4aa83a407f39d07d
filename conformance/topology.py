"""Network-namespace topologies (Linux): a multi-homed host and a peer host.

Theory of operation
-------------------
A :class:`Helper` is a *helper process* that owns network namespaces; the test
process never changes its own namespace. The helper is a fresh interpreter
running conformance/nshelper.py as a script (``python -I -S``: no site, no
package import, only a few standard modules, so it starts in tens of
milliseconds, not a hundred), hence single-threaded whatever the test process
is. At start it enters a private network namespace of its own, its *base*;
without the privilege for that it first unshare()s a user namespace in which
it is root (only a single-threaded process may do that, hence a fresh process).
Then it serves requests on an AF_UNIX socket in a private directory:

- ``build`` makes a :class:`Topology`'s namespaces, each with one unshare():
  a loopback-only one (lo brought up with an ioctl, no ip(8)), or the
  multi-homed *host* and the *peer* host wired with iproute2 (``ip -batch -``,
  run inside each): two veth pairs whose peer ends are moved straight into the
  peer namespace with ``netns /proc/self/fd/N`` (a descriptor, not a name in
  /var/run/netns); it then waits, on netlink link events rather than a sleep,
  until every interface is running;
- ``socket`` setns()s into a namespace, creates the socket there and passes
  the descriptor back with SCM_RIGHTS; ``sysctl`` reads or writes a
  per-namespace sysctl through /proc/sys from inside it;
- ``release`` closes the helper's descriptors of a topology's namespaces.

A sysctl write is refused (and undone) when it changed the helper's own base
namespace too: a stack where that value is not per namespace (gVisor's
ip_local_port_range) would otherwise change it for everything else running
there. Where setns() is not supported (gVisor: EOPNOTSUPP), a loopback-only
namespace is owned instead by a forked child of the helper that unshare()d it
and serves its requests over a socket pair (ending on end-of-file, like the
helper); a two-host topology, which needs setns() to be wired, is unavailable.

After every request the helper returns to its base namespace, so the only
references to a topology's namespaces are the descriptors ``release`` closes
(and the sockets made in them). A socket belongs to the namespace it was
created in for its whole life, whoever holds it, so a case drives it through
the ordinary backends (python or libc).

A topology either owns a helper of its own (``Topology()``, ended by
:meth:`Topology.close`), or borrows the process-wide one
(``Topology(shared=True)``, see :func:`shared_helper`): the cases' fixtures do
that, so a pytest worker starts one helper, and a fresh namespace per case
costs a request (about a millisecond), not a new process.

Why a helper process rather than a thread that setns()s: setns() into a
network namespace needs CAP_SYS_ADMIN in the caller's own user namespace, which
an unprivileged test process lacks, and unshare(CLONE_NEWUSER) is refused to a
multi-threaded process such as a pytest worker with watchdog threads. A helper
can do both, and no thread of the test process is ever left in the wrong
namespace when a case fails halfway. Each request opens and closes its own
AF_UNIX connection because the plugin counts the socket descriptors a case
leaves open: a long-lived control socket would count as a leak.

Teardown: the namespaces are anonymous, so they exist only while the helper
holds them (or a socket made in them exists); they need no names, mounts or
cleanup of their own, and the veth pairs vanish with them. The helper exits
when its stdin reaches end-of-file, which happens when :meth:`Helper.close`
runs (a topology's close, ``atexit`` for the shared helper) and equally when
the test process dies in any other way, even by SIGKILL.

Addresses come only from the documentation prefixes 198.51.100.0/24 and
203.0.113.0/24; the destination guard admits them only while a topology with
links exists.
"""

from __future__ import annotations

import atexit
import errno
import marshal
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any, NoReturn

from conformance import limits, nshelper
from conformance.nshelper import ADDRESSES, HOST, INTERFACES, PEER

__all__ = ["ADDRESSES", "HOST", "INTERFACES", "PEER", "Helper", "Topology",
           "TopologyUnavailable", "adopt", "name_of", "open_or_skip", "shared_helper"]

PREFIXES = ("198.51.100.0/24", "203.0.113.0/24")

BUILD_DEADLINE_S = nshelper.BUILD_DEADLINE_S
REQUEST_DEADLINE_S = 5.0


class TopologyUnavailable(Exception):
    """This platform or this process cannot build the topology; the message says why."""


def _find_ip() -> str | None:
    # An unprivileged user's PATH often lacks the sbin directories.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("ip", path=path)


def _require_linux() -> None:
    if not sys.platform.startswith("linux"):
        raise TopologyUnavailable(
            f"network namespaces exist only on Linux (this is {sys.platform})"
        )


class Helper:
    """The process that owns namespaces and makes sockets in them; ends on :meth:`close`."""

    def __init__(self) -> None:
        _require_linux()
        self._dir = limits.unix_socket_dir(prefix="sc-topo-")
        self._path = os.path.join(self._dir.name, "helper")
        # -I -S: the helper needs only the standard library, and skipping site
        # and the package's import saves most of an interpreter's start-up.
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(nshelper.__file__), self._path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self.pid = self._proc.pid
        atexit.register(self.close)
        try:
            ready = self._read_ready(BUILD_DEADLINE_S)
        except BaseException:
            self.close()
            raise
        if not ready.get("ok"):
            self.close()
            _raise_failure(ready, ready.get("reason", "the namespace helper failed"))
        self.userns: bool = ready["userns"]

    def _read_ready(self, deadline: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout.fileno()
        r, _, _ = select.select([out], [], [], deadline)
        if not r:
            raise TopologyUnavailable(f"the namespace helper was not ready within {deadline}s")
        data = os.read(out, 65536)  # one small write: a pipe delivers it whole
        if not data:
            code = self._proc.wait()
            raise TopologyUnavailable(f"the namespace helper exited with status {code}")
        hello: dict[str, Any] = marshal.loads(data)
        return hello

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        """End the helper (and with it every namespace and link it holds); idempotent."""
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
            self._dir.cleanup()

    def request(self, msg: Mapping[str, Any],
                deadline: float = REQUEST_DEADLINE_S) -> tuple[dict[str, Any], int | None]:
        """Send one request; the reply and the descriptor passed with it, if any.

        A failure the helper reports with an errno raises OSError, any other
        TopologyUnavailable; no answer within ``deadline`` raises DeadlineExceeded.
        """
        if not self.alive:
            raise TopologyUnavailable("the namespace helper is not running")
        from conformance.errors import DeadlineExceeded

        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
            c.settimeout(deadline)
            try:
                c.connect(self._path)
                c.send(marshal.dumps(dict(msg)))
                data, fds, flags, _ = socket.recv_fds(c, 65536, 1)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"the namespace helper did not answer {msg['op']} "
                    f"within {deadline}s") from None
        if flags & socket.MSG_CTRUNC:
            for fd in fds:
                os.close(fd)
            # Room was made for the one descriptor the helper passes, so the kernel
            # dropped it for want of a free slot in this process's table.
            dropped = OSError(errno.EMFILE, "the descriptor the namespace helper passed "
                                            f"with its {msg['op']} reply was dropped")
            limits.check_errno(dropped)
            raise dropped
        reply: dict[str, Any] = (marshal.loads(data) if data
                 else {"ok": False, "error": "the namespace helper closed the connection"})
        if not reply.get("ok"):
            for fd in fds:
                os.close(fd)
            _raise_failure(reply, reply.get("error", "the namespace helper failed"))
        return reply, (fds[0] if fds else None)


def _raise_failure(reply: Mapping[str, Any], message: str) -> NoReturn:
    """Raise the helper's failure: OSError when it sent an errno, else TopologyUnavailable."""
    err = getattr(errno, reply.get("errno") or "", None)
    if err is not None:
        raise OSError(err, message)
    raise TopologyUnavailable(message)


_shared: Helper | None = None
_shared_failure: str | None = None


def shared_helper() -> Helper:
    """This process's helper, started on first use and ended at exit (or with the process).

    A failure to start is remembered: a process that cannot have namespaces
    learns it once, not once per case.
    """
    global _shared, _shared_failure
    _require_linux()
    if _shared_failure is not None:
        raise TopologyUnavailable(_shared_failure)
    if _shared is None or not _shared.alive:
        try:
            _shared = Helper()
        except TopologyUnavailable as exc:
            _shared_failure = str(exc)
            raise
    return _shared


class Topology:
    """A private host namespace (lo; with ``peer``: two cards and a peer host).

    Its namespaces live in a helper of its own, or with ``shared`` in this
    process's :func:`shared_helper`. Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, peer: bool = True, shared: bool = False):
        _require_linux()
        ip = _find_ip() if peer else None
        if peer and ip is None:
            raise TopologyUnavailable("iproute2's `ip` command was not found")
        self.peer = peer
        started = time.monotonic()
        self._stack = ExitStack()
        helper = shared_helper() if shared else Helper()
        self._helper: Helper | None = helper
        self._id: int | None = None
        if not shared:
            self._stack.callback(helper.close)
        from conformance.errors import DeadlineExceeded

        try:
            reply, _ = helper.request({"op": "build", "peer": peer, "ip": ip}, BUILD_DEADLINE_S)
        except BaseException as exc:
            if shared and not isinstance(exc, TopologyUnavailable):
                # It may still finish the build, for no one to release: end it.
                helper.close()
            self.close()
            if isinstance(exc, DeadlineExceeded):
                raise TopologyUnavailable(
                    f"the topology was not built within {BUILD_DEADLINE_S}s") from None
            raise
        self._id = reply["id"]
        if shared:
            self._stack.callback(self._release)
        self.userns: bool = helper.userns
        self.netns: dict[str, int] = reply["netns"]
        # "0", or the errno name if this stack would not switch ICMP rate limiting off.
        self.icmp_ratelimit: str | None = reply.get("icmp_ratelimit")
        self.helper_pid = helper.pid
        self.build_s = round(time.monotonic() - started, 3)
        if peer:
            from conformance.backends.guard import namespace_prefixes

            self._stack.enter_context(
                namespace_prefixes(*PREFIXES, namespaces=self.netns.values()))

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._helper is not None and self._helper.alive

    def _release(self) -> None:
        helper = self._helper
        if helper is None or not helper.alive:
            return  # the namespaces ended with the helper
        try:
            helper.request({"op": "release", "id": self._id})
        except Exception:
            # A helper that cannot release must not keep the namespaces: end it
            # (the next shared_helper() starts a fresh one).
            helper.close()
            raise

    def close(self) -> None:
        """Give up every namespace and link of this topology; idempotent."""
        try:
            self._stack.close()
        finally:
            self._helper = None

    def _request(self, msg: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
        if self._helper is None:
            raise TopologyUnavailable("the topology is closed")
        return self._helper.request({**msg, "id": self._id})

    def socket(self, kit: Any, ns: str, family: str, type: str) -> Any:
        """A socket created inside namespace ``ns``, owned by ``kit`` with its backend."""
        from conformance.backends import FAMILY, TYPE
        from conformance.errors import Unsupported

        try:
            _, fd = self._request({"op": "socket", "ns": ns, "family": int(FAMILY[family]),
                                   "type": int(TYPE[type])})
        except OSError as exc:
            if nshelper.errno_name(exc.errno or 0) in ("EAFNOSUPPORT", "EPROTONOSUPPORT"):
                raise Unsupported(f"socket({family}, {type}) in the {ns} namespace: "
                                  f"{nshelper.errno_name(exc.errno or 0)}") from exc
            raise
        assert fd is not None
        return adopt(fd, kit.backend, family, type, kit.tracker)

    def sysctl(self, ns: str, name: str, value: str | None = None) -> str:
        """Read (and first write, if ``value``) a sysctl such as ``net.ipv4.ip_local_port_range``
        inside namespace ``ns``; per-namespace sysctls never touch the host's."""
        reply, _ = self._request({"op": "sysctl", "ns": ns, "name": name, "value": value})
        return str(reply["value"])


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
    elif backend == "agent":
        import pytest

        os.close(fd)
        pytest.skip("network-namespace topology unavailable: the stack agent's sockets "
                    "live in its own process, which the suite's namespaces cannot enter")
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


def open_or_skip(peer: bool = True, shared: bool = False) -> Topology:
    """A new topology, or pytest.skip (verdict ``skipped``) saying why none can be built."""
    import pytest

    from conformance import stacks

    if stacks.current().no_namespaces:
        pytest.skip(f"network-namespace topology unavailable: {stacks.current().no_namespaces}")
    try:
        return Topology(peer=peer, shared=shared)
    except TopologyUnavailable as exc:
        pytest.skip(f"network-namespace topology unavailable: {exc}")
    except OSError as exc:
        limits.check_errno(exc)  # out of descriptors: name the limit
        raise
