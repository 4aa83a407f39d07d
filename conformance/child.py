"""Running part of a case in a forked child: other credentials, other limits.

Some conditions can only be shown by changing the process itself: EACCES
needs an unprivileged user, EMFILE a lowered RLIMIT_NOFILE. Doing that in the
test process would break every later case (a uid cannot be taken back, and a
worker at its descriptor limit fails in unrelated places), so the case hands
a function to :func:`in_child`: it runs in a fork, which inherits the case's
sockets, and its JSON-safe result comes back through a pipe. The parent
waits with a deadline and kills a child that never answers.

The child runs only the given function and ``os._exit``: no atexit handlers,
no pytest teardown, nothing of the parent's state is flushed twice.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

from conformance.errors import DeadlineExceeded, HarnessError, Unsupported

NOBODY = 65534

# How the child's end is encoded: one JSON document, tagged with what happened.
_RESULT, _UNSUPPORTED, _SKIP, _CRASH = "result", "unsupported", "skip", "crash"


class ChildSkip(Exception):
    """Raised inside the child: a precondition is missing (becomes ``skipped``)."""


def in_child(
    fn: Callable[[], dict[str, Any]], *, user: int | None = None, timeout: float = 2.0
) -> dict[str, Any]:
    """Run ``fn`` in a forked child (as ``user`` if given) and return its dict.

    ``Unsupported`` raised in the child is re-raised here; ``ChildSkip`` turns
    into ``pytest.skip``; anything else that escapes ``fn`` is a harness error.
    Switching to ``user`` needs root: without it the caller is expected to
    be unprivileged already, and the child runs as the caller.
    """
    if not hasattr(os, "fork"):
        raise Unsupported("this platform cannot fork a child process")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        _child(fn, user, w)
    os.close(w)
    try:
        raw = _read_all(r, pid, timeout)
    finally:
        os.close(r)
    msg: dict[str, Any] = (json.loads(raw) if raw
                           else {"kind": _CRASH, "value": "child exited without a result"})
    kind, value = msg["kind"], msg["value"]
    if kind == _RESULT:
        result: dict[str, Any] = value
        return result
    if kind == _UNSUPPORTED:
        raise Unsupported(value)
    if kind == _SKIP:
        import pytest

        pytest.skip(value)
    raise HarnessError(f"child process failed: {value}")


def _child(fn: Callable[[], dict[str, Any]], user: int | None, w: int) -> None:  # pragma: no cover
    code = 0
    try:
        if user is not None and os.geteuid() == 0:
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)
        msg = {"kind": _RESULT, "value": fn()}
    except Unsupported as exc:
        msg = {"kind": _UNSUPPORTED, "value": str(exc)}
    except ChildSkip as exc:
        msg = {"kind": _SKIP, "value": str(exc)}
    except BaseException:  # the parent must hear about any failure
        msg = {"kind": _CRASH, "value": traceback.format_exc(limit=3)}
        code = 1
    try:
        data = json.dumps(msg).encode()
        while data:
            data = data[os.write(w, data):]
    finally:
        os._exit(code)


def _read_all(r: int, pid: int, timeout: float) -> bytes:
    end = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        left = end - time.monotonic()
        ready, _, _ = select.select([r], [], [], max(left, 0))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise DeadlineExceeded(f"child process gave no result within {timeout}s")
        chunk = os.read(r, 65536)
        if not chunk:
            os.waitpid(pid, 0)
            return b"".join(chunks)
        chunks.append(chunk)



def _lowest_free_fd() -> int:
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    return fd


def at_descriptor_limit(call: Callable[[], Any]) -> dict[str, Any]:
    """In a child: lower RLIMIT_NOFILE so no descriptor is free, run ``call``, restore.

    The soft limit is set to the lowest free descriptor number, so every
    number below it is in use and the next descriptor would exceed it: EMFILE
    then comes from the case's own limit. Running ``call`` again after
    raising the limit shows it was that limit, not an environment already
    out of descriptors. Returns both outcomes (``"ok"`` or an errno name)
    and the limit used.
    """
    from conformance.kit import Kit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = _lowest_free_fd()
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        at_limit = Kit.outcome(call)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return {"at_limit": at_limit, "after_raising": Kit.outcome(call), "limit": limit}


def mount_read_only(path: str) -> None:
    """In a child: cover ``path`` with an empty read-only tmpfs seen by this process only.

    The child moves to a private mount namespace first (inside a new user
    namespace when it is not root), so neither the host nor the parent sees
    the mount, and it disappears with the child. ``ChildSkip`` says why when
    the platform or the privileges do not allow it.
    """
    import ctypes
    import errno

    clone_newns, clone_newuser = 0x00020000, 0x10000000
    ms_rdonly, ms_rec, ms_private = 1, 0x4000, 0x40000
    lib = ctypes.CDLL(None, use_errno=True)
    if not hasattr(lib, "unshare") or not hasattr(lib, "mount"):
        raise ChildSkip("no unshare()/mount() here: a private read-only mount cannot be made")
    if lib.unshare(clone_newns) != 0 and lib.unshare(clone_newuser | clone_newns) != 0:
        err = errno.errorcode.get(ctypes.get_errno(), "?")
        raise ChildSkip(f"cannot enter a private mount namespace (unshare: {err})")
    if lib.mount(b"none", b"/", None, ms_rec | ms_private, None) != 0:
        err = errno.errorcode.get(ctypes.get_errno(), "?")
        raise ChildSkip(f"cannot make mounts private (mount: {err})")
    if lib.mount(b"sc-ro", os.fsencode(path), b"tmpfs", ms_rdonly, None) != 0:
        err = errno.errorcode.get(ctypes.get_errno(), "?")
        raise ChildSkip(f"cannot mount a read-only tmpfs (mount: {err})")
