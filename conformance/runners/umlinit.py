"""Inside a User-Mode Linux guest, as PID 1: bring the machine up and power it off.

:mod:`conformance.runners.guest` calls :func:`boot` before the suite and
:func:`power_off` after it, whatever happened in between; the host's side
(the kernel's command line) is :mod:`conformance.runners.uml`.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import sys
from pathlib import Path

MODULES = Path("/usr/lib/uml/modules")
# The guest kernel (Debian's user-mode-linux) builds IPv6 and veth (the namespace
# topologies' links) as modules.
WANTED_MODULES = ("kernel/net/ipv6/ipv6.ko", "kernel/drivers/net/veth.ko")

# <linux/sockios.h>, <linux/if.h>, <linux/reboot.h>
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
RB_POWER_OFF = 0x4321FEDC
# finit_module(2) has no libc wrapper in older glibc; UML exists for x86 only.
SYS_FINIT_MODULE = {"x86_64": 313, "i686": 350, "i386": 350}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def boot() -> None:
    """Mount /proc, load the IPv6 module, bring loopback up.

    Each step that fails is reported and skipped: a missing capability must
    show up as ``unsupported`` results (the plugin probes by trying), not as
    a broken run.
    """
    libc = _libc()
    if libc.mount(b"proc", b"/proc", b"proc", 0, None) != 0:
        _warn("mount /proc", ctypes.get_errno())
    for module in WANTED_MODULES:
        for path in _with_dependencies(MODULES / os.uname().release, module):
            _load_module(libc, path)
    try:
        _loopback_up()
    except OSError as exc:
        _warn("bring lo up", exc.errno or 0)


def power_off() -> None:
    """Flush the host files written through hostfs, then halt the kernel (UML exits)."""
    libc = _libc()
    libc.sync()
    libc.reboot(RB_POWER_OFF)
    _warn("reboot(RB_POWER_OFF)", ctypes.get_errno())


def _with_dependencies(root: Path, module: str) -> list[Path]:
    """``module`` after what modules.dep says it needs, dependencies first."""
    deps: dict[str, list[str]] = {}
    try:
        for line in (root / "modules.dep").read_text().splitlines():
            name, _, needs = line.partition(":")
            deps[name] = needs.split()
    except OSError:
        return []
    order: list[str] = []

    def visit(name: str) -> None:
        for dep in deps.get(name, []):
            visit(dep)
        if name not in order:
            order.append(name)

    visit(module)
    return [root / name for name in order if (root / name).is_file()]


def _load_module(libc: ctypes.CDLL, path: Path) -> None:
    number = SYS_FINIT_MODULE.get(os.uname().machine)
    if number is None:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        # EEXIST: built in or already loaded, which is what we wanted.
        if libc.syscall(number, fd, b"", 0) != 0 and ctypes.get_errno() != 17:
            _warn(f"load {path.name}", ctypes.get_errno())
    finally:
        os.close(fd)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


def _warn(what: str, err: int) -> None:
    print(f"uml guest: could not {what}: {os.strerror(err)}", file=sys.stderr, flush=True)
