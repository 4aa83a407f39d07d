"""User-Mode Linux: the suite against a second Linux kernel (6.1) running as a process.

The host's root directory is the guest's root filesystem (hostfs), so the
guest sees the same interpreter, virtual environment and case files at the
same paths. The kernel boots straight into a two-line init script that execs
:mod:`conformance.runners.guest` as PID 1; that module calls
:func:`conformance.runners.umlinit.boot` first and ``power_off`` last. This
module is the host's side only: the command line that starts the kernel.
The kernel's console goes to the host's stdout (input from nothing);
``quiet`` keeps boot messages out of it.

``initcall_blacklist=raid6_select_algo`` skips the kernel's boot-time
benchmark of its RAID-6 parity routines, which no socket call uses: it took
0.85 s of a 1.2 s boot here (a kernel without the parameter hands it to
init's environment, which the init script clears).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from conformance.runners.journal import JOB
from conformance.runners.sandbox import Runner

MEMORY = "768M"


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
        "quiet", "loglevel=1", "initcall_blacklist=raid6_select_algo",
        "con=null", "ssl=null", "con0=null,fd:1", f"init={init}",
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
