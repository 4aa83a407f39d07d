"""The suite's temporary directories: private, marked and locked by their owner, and
removed by a later run once their owner is gone, however it ended.

Theory of operation. A run removes its directories when it ends, even on Ctrl-C
or SIGTERM; a process killed outright (SIGKILL, the OOM killer, a watchdog
killing a stopped worker) cannot, so the next process that makes one sweeps
the directories left behind. It must never take a live run's directory, nor
anything it did not make, so a directory is removed only when each of these
holds:

- its name starts with one of the suite's prefixes (``PREFIXES``);
- it is a directory, not a symbolic link, and belongs to this user;
- it holds the marker (``MARKER``), a regular file of this user's;
- no process holds its lock. The owner opens the directory and takes an
  exclusive ``flock`` on it *before* it creates the marker, and keeps that
  descriptor until it removes the directory or dies; the kernel drops a
  dead process's locks however it died. So a marked directory is locked
  for as long as its owner lives, and a lock the sweeper can take proves
  the owner is gone (a process id could be reused; a lock cannot outlive
  its holder). The sweeper keeps the lock while it removes the directory,
  so two sweepers never race.

A process sweeps each temporary base once, when it makes its first
directory there. Inside a gVisor or UML sandbox the host's locks are
invisible (each keeps its own lock table), so a guest would take every live
host directory for dead: a sandboxed process (:func:`sandboxed`) neither
sweeps nor marks, and the sandbox runner points its TMPDIR into the run's own
work directory, which the host owns and sweeps.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import weakref
from types import TracebackType

from conformance.errors import UsageError

try:
    import fcntl
except ImportError:  # Windows: no flock, so nothing is marked and nothing swept
    fcntl = None  # type: ignore[assignment]

PREFIXES = ("sc-", "socket-conformance-")
MARKER = ".socket-conformance-owner"

_swept: set[str] = set()
_sandboxed = False


def sandboxed() -> None:
    """This process runs inside a sandbox whose lock table is not the host's: from
    now on it neither sweeps nor marks its directories (see the module docstring)."""
    global _sandboxed
    _sandboxed = True


def require() -> str:
    """The temporary base (TMPDIR, else the system's), or one UsageError line when
    there is no writable one: the run needs it before anything starts."""
    try:
        return tempfile.gettempdir()
    except OSError as exc:
        raise UsageError(f"no writable temporary directory ({exc.strerror or exc}); "
                         "set TMPDIR to a directory you can write") from None


class PrivateDir:
    """A directory (0700) made under ``base`` by :func:`make`; :meth:`cleanup` removes it."""

    def __init__(self, prefix: str, base: str | None = None):
        if not prefix.startswith(PREFIXES):
            raise ValueError(f"{prefix!r} is not one of the suite's prefixes {PREFIXES}")
        where = base if base is not None else tempfile.gettempdir()
        if where not in _swept and not _sandboxed:
            _swept.add(where)
            sweep(where)
        self.name = tempfile.mkdtemp(prefix=prefix, dir=where)
        # As for tempfile.TemporaryDirectory: removed when forgotten, and at exit.
        self._finalizer = weakref.finalize(self, _remove, self.name,
                                           None if _sandboxed else _mark(self.name))

    def cleanup(self) -> None:
        """Remove the directory and everything in it (idempotent), then drop the lock."""
        self._finalizer()

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()


def _remove(name: str, lock: int | None) -> None:
    # The lock goes first: a process at its descriptor limit needs that descriptor
    # to remove anything (a sweeper taking the lock meanwhile removes the same).
    if lock is not None:
        os.close(lock)
    shutil.rmtree(name, ignore_errors=True)
    if os.path.lexists(name):
        # rmtree holds two descriptors at once; listing by name takes one, and
        # unlinking and rmdir none.
        try:
            for entry in os.listdir(name):
                os.unlink(os.path.join(name, entry))
        except OSError:
            pass
        try:
            os.rmdir(name)
        except OSError:
            pass


def make(prefix: str, base: str | None = None) -> PrivateDir:
    """A new private directory named ``prefix...`` under ``base`` (default: the
    temporary base), swept by a later run if this process dies without removing it."""
    return PrivateDir(prefix, base)


def _mark(path: str) -> int | None:
    """Lock ``path`` for this process's lifetime, then mark it; the lock's descriptor,
    or None (the directory stays unmarked, so never swept) where locks are not to be had."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(os.open(os.path.join(path, MARKER),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600))
    except OSError:
        os.close(fd)
        return None
    return fd


def sweep(base: str) -> list[str]:
    """Remove the suite's directories in ``base`` whose owner is gone; their paths."""
    if fcntl is None or _sandboxed:
        return []
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(PREFIXES)]
    except OSError:
        return []
    removed = []
    for e in entries:
        if _remove_if_orphaned(e.path):
            removed.append(e.path)
    return removed


def _ours(st: os.stat_result, kind: int) -> bool:
    return stat.S_IFMT(st.st_mode) == kind and st.st_uid == os.geteuid()


def _remove_if_orphaned(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False  # gone, a symbolic link, not a directory, or not ours to open
    try:
        if not _ours(os.fstat(fd), stat.S_IFDIR):
            return False
        try:
            marker = os.stat(MARKER, dir_fd=fd, follow_symlinks=False)
        except OSError:
            return False  # not made by the suite, or made before the marker existed
        if not _ours(marker, stat.S_IFREG):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its owner is alive (or the lock cannot be had: no proof)
        # rmtree never follows a symbolic link.
        shutil.rmtree(path, ignore_errors=True)
        return not os.path.lexists(path)
    finally:
        os.close(fd)

