"""The platform's ephemeral port range, read from the platform itself."""

from __future__ import annotations

import re
import subprocess
import sys

from conformance.errors import Unsupported

LINUX_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def port_range() -> tuple[int, int, str]:
    """(first, last, where it was read) of the ephemeral range for IPv4."""
    from conformance import stacks

    declared = stacks.current().port_range
    if declared is not None:
        return declared
    if sys.platform.startswith("linux"):
        try:
            with open(LINUX_RANGE) as f:
                lo, hi = (int(x) for x in f.read().split())
        except OSError as exc:
            raise Unsupported(f"cannot read {LINUX_RANGE}: {exc.strerror}") from None
        return lo, hi, LINUX_RANGE
    if sys.platform.startswith(("darwin", "freebsd")):
        keys = ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last")
        out = subprocess.run(["sysctl", "-n", *keys], capture_output=True, text=True, timeout=5)
        lo, hi = (int(x) for x in out.stdout.split())
        return lo, hi, "sysctl " + " ".join(keys)
    if sys.platform == "win32":
        out = subprocess.run(["netsh", "int", "ipv4", "show", "dynamicport", "tcp"],
                             capture_output=True, text=True, timeout=10)
        nums = [int(x) for x in re.findall(r":\s*(\d+)", out.stdout)]
        if len(nums) >= 2:
            return nums[0], nums[0] + nums[1] - 1, "netsh int ipv4 show dynamicport tcp"
    raise Unsupported("no known way to read the ephemeral port range on this platform")
