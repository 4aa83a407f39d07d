"""Environment limits: what the machine ran out of is never the stack's behaviour.

A case observes the stack; the descriptors, memory and path lengths it runs
with belong to the machine. When one of those runs out the case has learnt
nothing about the stack, so the limit is named (``EnvironmentLimit``, an
``error`` result saying which limit) instead of being recorded as an errno
the stack returned or a harness bug.

- Descriptors: EMFILE means the process is at its RLIMIT_NOFILE, ENFILE that
  the system's file table is full. A case that provokes EMFILE on purpose
  lowers the limit itself for one call; the limit the process started with
  tells the two apart.
- AF_UNIX paths: ``sun_path`` holds about a hundred bytes (108 on Linux, 104
  on the BSDs and macOS), so socket paths under a long TMPDIR do not fit.
  They come from a private directory under the first temporary base whose
  paths are shown to fit, by binding the longest path the suite uses there.
  An instance that is done with its directory hands it back (``release``):
  emptied, it becomes the next instance's, so a run does not remove and make
  a directory per instance (on a file system mounted with ``discard`` each
  removal is a synchronous TRIM: 1 to 3 ms here, more than many cases cost).
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import tempfile

from conformance import tempdirs
from conformance.errors import EnvironmentLimit

try:
    import resource
except ImportError:  # not on Windows: no RLIMIT_NOFILE to lower there
    resource = None  # type: ignore[assignment]


def _nofile() -> int | None:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] if resource is not None else None


# Taken at import, which is before any case runs: a later, lower value means a
# case lowered the limit itself.
_NOFILE_AT_START = _nofile()


def check_errno(exc: OSError) -> None:
    """Raise EnvironmentLimit if ``exc`` says the machine, not the stack, ran out."""
    if exc.errno == errno.ENFILE:
        raise EnvironmentLimit(
            f"the system's file table is full (ENFILE: {exc.strerror}); "
            "not a behaviour of the stack") from exc
    if exc.errno == errno.EMFILE:
        now = _nofile()
        if now is not None and _NOFILE_AT_START is not None and now < _NOFILE_AT_START:
            return  # the case lowered the limit to provoke EMFILE: the stack's answer
        raise EnvironmentLimit(
            f"the process is at its descriptor limit (EMFILE, "
            f"RLIMIT_NOFILE {now if now is not None else 'unknown'}); "
            "not a behaviour of the stack; raise it with `ulimit -n`") from exc


# The longest name the suite gives a socket inside its directory, plus one byte
# for the C string's terminating NUL (the libc backend passes one).
_LONGEST_NAME = "s" * 12


def _bases() -> list[str]:
    """Where a socket directory may go: the user's temporary directory first."""
    seen: list[str] = []
    for base in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        if base not in seen and os.path.isdir(base):
            seen.append(base)
    return seen


def _fits(directory: str) -> bool:
    """Whether a socket bound at the longest name inside ``directory`` is accepted."""
    path = os.path.join(directory, _LONGEST_NAME)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.bind(path)
        except OSError:
            return False
    os.unlink(path)
    return True


# The base whose paths were shown to fit, probed once per process, prefix and list
# of bases: every name under one base has the same length, and the probe's bind()
# and unlink() cost two more file-system updates per instance (milliseconds
# each on a busy disk).
_fitting: dict[tuple[str, ...], str] = {}


# An emptied private directory per prefix, handed back by ``release`` for the next
# caller of this process; removed at exit by its finalizer (tempdirs.py).
_spare: dict[str, tempdirs.PrivateDir] = {}


def unix_socket_dir(prefix: str = "sc-") -> tempdirs.PrivateDir:
    """A private (0700), empty directory whose socket paths fit ``sun_path``; give it
    back with ``release`` (or remove it with ``cleanup()``) after use.

    Names inside it must be at most 11 bytes long; a later run removes it if this
    process dies without doing so (tempdirs.py). Raises EnvironmentLimit when
    no writable temporary base gives paths short enough.
    """
    bases = tuple(_bases())
    key = (prefix, *bases)
    spare = _spare.pop(prefix, None)
    if spare is not None:
        if os.path.dirname(spare.name) == _fitting.get(key) and _pristine(spare.name):
            return spare
        spare.cleanup()
    if key in _fitting:
        try:
            return tempdirs.make(prefix, _fitting[key])
        except OSError:
            del _fitting[key]  # the base went away or filled up: look again
    tried: list[str] = []
    for base in bases:
        try:
            candidate = tempdirs.make(prefix, base)
        except OSError as exc:
            tried.append(f"{base} ({exc.strerror})")
            continue
        if _fits(candidate.name):
            _fitting[key] = base
            return candidate
        candidate.cleanup()
        tried.append(f"{base} (paths too long for AF_UNIX)")
    raise EnvironmentLimit(
        "no temporary directory gives AF_UNIX socket paths short enough "
        f"for sun_path; tried {', '.join(tried) or 'none'}")


def _pristine(path: str) -> bool:
    """Whether ``path`` is still an empty directory of ours (but for the marker that
    lets a later run sweep it, tempdirs.py) that only we can enter."""
    try:
        st = os.lstat(path)
        empty = not [name for name in os.listdir(path) if name != tempdirs.MARKER]
    except OSError:
        return False
    return (empty and stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
            and stat.S_IMODE(st.st_mode) == 0o700)


def release(directory: tempdirs.PrivateDir, prefix: str = "sc-") -> None:
    """Hand back a directory from ``unix_socket_dir``: its sockets and files are
    removed and it is kept, empty, for the next caller; one that holds a directory,
    or whose mode or owner changed, is removed whole instead."""
    if prefix in _spare:
        directory.cleanup()
        return
    try:
        entries = list(os.scandir(directory.name))
        if any(e.is_dir(follow_symlinks=False) for e in entries):
            directory.cleanup()
            return
        for entry in entries:
            if entry.name != tempdirs.MARKER:
                os.unlink(entry.path)
    except OSError:
        directory.cleanup()
        return
    if not _pristine(directory.name):
        directory.cleanup()
        return
    _spare[prefix] = directory

