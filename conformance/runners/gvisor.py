"""gVisor: the suite against gVisor's user-space network stack (netstack), via ``runsc do``.

``runsc --network=none do`` runs one command in a sandbox whose only
interface is gVisor's own loopback, so the cases' loopback traffic is handled
by netstack, never by the host kernel. ``-force-overlay=false`` lets the
command write to the host filesystem (the journal and the report);
``-quiet`` keeps runsc's own messages out of the output.
"""

from __future__ import annotations

import os
from pathlib import Path

from conformance.runners.sandbox import Runner


def command(tool: str, guest: list[str], workdir: Path) -> list[str]:
    # Without root, runsc needs --rootless to start its sandbox and gofer.
    rootless = ["--rootless"] if os.geteuid() != 0 else []
    return [tool, "--network=none", *rootless, "do", "-force-overlay=false", "-quiet", *guest]


def kernel_hint() -> str:
    # gVisor reports a fixed Linux 4.4.0 in uname(2) and /proc/version.
    return "4.4"


RUNNER = Runner(
    stack="gvisor",
    tool="runsc",
    what="gVisor",
    install="sudo apt-get install runsc (Debian/Ubuntu), "
            "or see https://gvisor.dev/docs/user_guide/install/",
    command=command,
    kernel_hint=kernel_hint,
)
