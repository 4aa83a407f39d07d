"""User-Mode Linux: the suite against a second Linux kernel (6.1) running as a process.

The host's root directory is the guest's root filesystem (hostfs), so the
guest sees the same interpreter, virtual environment and case files at the
same paths. The kernel boots straight into a two-line init script that execs
:mod:`conformance.runners.guest` as PID 1; that module calls :func:`boot`
first and :func:`power_off` last. The kernel's console goes to the host's
stdout (input from nothing); ``quiet`` keeps boot messages out of it.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import re
import shlex
import socket
import struct
import subprocess
import sys
from pathlib import Path

from conformance.runners.sandbox import JOB, Runner

MEMORY = "768M"
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


def command(tool: str, guest: list[str], workdir: Path) -> list[str]:
    init = workdir / "init"
    if re.search(r"\s", str(init)):
        # The path goes on the kernel command line, which splits at white space.
        from conformance.errors import UsageError

        raise UsageError(f"the UML init path {init} contains white space; set TMPDIR elsewhere")
    # Python must start with the caller's environment (PYTHONPATH is read at start-up),
    # in the directory the host side starts the guest in too (see sandbox.run).
    env = json.loads((workdir / JOB).read_text(encoding="utf-8"))["env"]
    pairs = shlex.join(f"{k}={v}" for k, v in env.items())
    start = f"cd {shlex.quote(str(workdir))} && exec env -i {pairs} {shlex.join(guest)}"
    script = f"#!/bin/sh\n{start}\n"
    init.write_text(script, encoding="utf-8")
    init.chmod(0o755)
    return [
        tool, f"mem={MEMORY}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
        "quiet", "loglevel=1", "con=null", "ssl=null", "con0=null,fd:1", f"init={init}",
    ]


def kernel_hint() -> str:
    try:
        out = subprocess.run(["linux.uml", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    m = re.match(r"\s*(\d+\.\d+)", out)
    return m.group(1) if m else ""


RUNNER = Runner(
    stack="uml",
    tool="linux.uml",
    what="User-Mode Linux",
    install="sudo apt-get install user-mode-linux (Debian/Ubuntu)",
    command=command,
    kernel_hint=kernel_hint,
    init=True,
)


# --- inside the guest, as PID 1 ---------------------------------------------------------

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
