"""Platform fingerprint: what is under test, and what it can do.

Capabilities are probed by trying the thing (bind an IPv6 socket, make an
AF_UNIX pair, enter a new network namespace in a child), once per process.
The stack (host, gvisor, uml) is named by the runner that started us through
``SOCKET_CONFORMANCE_STACK``; a plain run is ``host``.
"""

from __future__ import annotations

import functools
import os
import platform as _pl
import re
import socket
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

STACK_ENV = "SOCKET_CONFORMANCE_STACK"


@dataclass(frozen=True)
class Platform:
    id: str
    os: str
    release: str
    kernel: str
    arch: str
    libc: str
    python: str
    stack: str
    capabilities: dict[str, bool] = field(default_factory=dict)
    # What the stack under test is, in plain words, where the id alone does not say it.
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def os_name() -> str:
    for prefix in ("linux", "darwin", "freebsd", "win32", "openbsd", "netbsd"):
        if sys.platform.startswith(prefix):
            return "windows" if prefix == "win32" else prefix
    return sys.platform


def kernel_version(release: str) -> str:
    """The major.minor of a kernel release string (``6.18.44-fc`` -> ``6.18``)."""
    m = re.match(r"(\d+)\.(\d+)", release)
    return f"{m.group(1)}.{m.group(2)}" if m else release


def _libc() -> str:
    name, ver = _pl.libc_ver()
    return f"{name} {ver}".strip() or "unknown"


@functools.cache
def capabilities() -> dict[str, bool]:
    """Probe each capability once; every value comes from actually trying."""
    return {
        "ipv6": _probe_ipv6(),
        "af_unix": _probe_af_unix(),
        "libc": _probe_libc(),
        "proc_syscall": _probe_proc_syscall(),
        "netns": _probe_netns(),
        "leak_check": _probe_leak_check(),
    }


def _probe_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _probe_af_unix() -> bool:
    if not hasattr(socket, "AF_UNIX"):
        return False
    try:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return False
    a.close()
    b.close()
    return True


def _probe_libc() -> bool:
    from conformance.backends import libc

    return libc.available()


def _probe_proc_syscall() -> bool:
    import threading

    path = f"/proc/self/task/{threading.get_native_id()}/syscall"
    try:
        with open(path) as f:
            return bool(f.read().strip())
    except OSError:
        return False


def _probe_leak_check() -> bool:
    """Whether a socket a case leaves open can be found (the descriptor listing sees one)."""
    from conformance.descriptors import socket_fds

    if socket_fds() is None:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return s.fileno() in (socket_fds() or set())


def _probe_netns() -> bool:
    """Whether this process may create a network namespace (root or user namespaces)."""
    if os_name() != "linux" or not hasattr(os, "fork"):
        return False
    from conformance.backends import libc

    return libc.can_unshare_net()


def detect_stack() -> str:
    return os.environ.get(STACK_ENV, "host") or "host"


def fingerprint(stack: str | None = None) -> Platform:
    """Describe the running platform; the id is built from os, kernel, arch and stack."""
    from conformance import stacks

    build = stacks.get(stack or detect_stack()).agent
    if build in ("lwip", "wine"):
        return _agent_platform(build)
    name = os_name()
    release = _pl.release()
    kernel = kernel_version(release) if name != "windows" else _pl.version()
    arch = _pl.machine().lower() or "unknown"
    stack = stack or detect_stack()
    py = f"{sys.implementation.name} {_pl.python_version()}"
    pid = f"{name}-{kernel}-{arch}-{stack}"
    return Platform(pid, name, release, kernel, arch, _libc(), py, stack, capabilities())


def _agent_platform(build: str) -> Platform:
    """A stack reached through the stack agent: what its hello says, and probes through it."""
    from conformance.backends import agent

    a = agent.running(build)
    info = a.info
    arch = _pl.machine().lower() or "unknown"
    py = f"{sys.implementation.name} {_pl.python_version()}"
    caps = {"ipv6": _agent_probe(a, "inet6", ("::1", "0")),
            "af_unix": _agent_probe(a, "unix", None), "libc": False, "proc_syscall": False,
            "netns": False, "agent": True}
    version = info.get("version", "unknown")
    if build == "lwip":
        # Debian's build of lwIP (GNU Hurd's lwipopts.h); other firmware builds differ.
        return Platform(
            f"lwip-{version}-{arch}-debian", "lwip", version, version, arch, _libc(), py,
            "lwip", caps,
            f"lwIP {version}, lwIP's own TCP/IP stack (Debian liblwip0, {info.get('build')}), "
            "linked into the stack agent with one loopback interface (127.0.0.1/8, ::1); "
            "the cases reach it through the agent",
        )
    return Platform(
        f"windows-wine{version}-{arch}", "windows", f"wine {version} ({info.get('build')})",
        f"wine{version}", arch, "wine msvcrt", py, "wine", caps,
        f"Winsock as implemented by Wine {version} (ws2_32) on Linux {_pl.release()}: "
        "Wine's own code decides error codes and API semantics, the transport underneath is "
        "Linux's sockets; the cases reach it through the agent built as a Windows program",
    )


def _agent_probe(a: object, family: str, addr: tuple[str, str] | None) -> bool:
    """socket() and bind() in the agent's stack: the capability exists if both succeed."""
    from conformance import tempdirs
    from conformance.errors import ConformanceError

    call = a.call  # type: ignore[attr-defined]
    try:
        fd = call("socket", family, "dgram" if family == "inet6" else "stream")[0]
    except (OSError, ConformanceError):
        return False
    try:
        if addr is None:
            with tempdirs.make("sc-") as d:
                path = os.fsencode(os.path.join(d, "probe")).hex()
                call("bind", fd, "unix", path, "0")
        else:
            call("bind", fd, family, *addr)
        return True
    except (OSError, ConformanceError):
        return False
    finally:
        call("close", fd)
