"""Which socket descriptors this process holds: the basis of the leak check.

Linux lists them in /proc/self/fd and macOS in /dev/fd. FreeBSD's /dev/fd
shows only 0, 1 and 2 unless fdescfs is mounted, so a listing is trusted only
if it shows a descriptor just opened to test it; otherwise the low descriptors
are probed one by one with fstat() (the kernel hands out the lowest free
number, so a leaked socket sits low). Windows sockets are handles, not
descriptors: there the check cannot run, and the platform's capabilities say so.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterable

# How many descriptors the fstat() fallback looks at; far above what the
# suite holds open at once (a few dozen), and cheap (about 0.3 ms).
_PROBED = 1024


@functools.cache
def _listing_dir() -> str | None:
    """A directory whose entries are this process's open descriptors, if one is truthful."""
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        for path in ("/proc/self/fd", "/dev/fd"):
            try:
                if str(fd) in os.listdir(path):
                    return path
            except OSError:
                continue
    finally:
        os.close(fd)
    return None


def can_list() -> bool:
    """Whether open sockets can be listed here (not on Windows, where sockets are handles)."""
    return hasattr(os, "fstat") and os.name == "posix"


def socket_fds() -> set[int] | None:
    """The open socket descriptors, or None where they cannot be listed."""
    if not can_list():
        return None
    where = _listing_dir()
    names: Iterable[int] = (
        (int(n) for n in os.listdir(where)) if where is not None else range(_PROBED)
    )
    found: set[int] = set()
    for fd in names:
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                found.add(fd)
        except OSError:
            continue
    return found
