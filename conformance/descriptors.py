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
    return new_sockets(frozenset())


def open_fds() -> frozenset[int] | None:
    """The numbers of the open descriptors, or None where they cannot be listed.

    A listing is a few system calls; telling sockets from other descriptors
    is one fstat() each, which the leak check only needs for the descriptors
    opened since its first snapshot (``new_sockets``).
    """
    if not can_list():
        return None
    where = _listing_dir()
    if where is None:
        return frozenset(fd for fd in range(_PROBED) if _is_open(fd))
    # The listing shows the descriptor it reads the directory through: the
    # lowest free one, named just before it.
    own = lowest_free()
    return frozenset(int(n) for n in os.listdir(where)) - {own}


def lowest_free() -> int:
    """The number the next descriptor this process opens gets (the kernel hands
    out the lowest free one)."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    return fd


def new_sockets(before: frozenset[int]) -> set[int]:
    """The socket descriptors open now that were not open in ``before``."""
    return {fd for fd in (open_fds() or frozenset()) - before if _is_socket(fd)}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False
