"""Running part of a case as another user, at a lowered limit, or in a child.

Some conditions can only be shown by changing the process itself: EACCES
needs an unprivileged user, EMFILE a lowered RLIMIT_NOFILE, EROFS a private
read-only mount. None of them may outlive the case: a worker that cannot
take its uid back, or sits at its descriptor limit, fails in unrelated places
afterwards. A forked child contains any change, but forking the big pytest
worker is costly in a sandbox (gVisor and User-Mode Linux copy its page
tables, then every page the parent writes afterwards: 60 to 190 ms a call,
against 5 ms on the host), so each condition is contained by the cheapest
means that still contains it:

- Descriptor limit (:func:`at_descriptor_limit`): in the calling process. A
  soft limit below the hard one can be raised again by anyone, so lowering it
  for one call and restoring it in ``finally`` leaves nothing behind.
- Other credentials (:func:`as_user`): on a thread of their own. Linux keeps
  credentials per thread; glibc's ``setuid()`` family (and so ``os.setuid``)
  broadcasts a change to every thread to give POSIX's per-process semantics,
  but the raw system calls change only the caller. A short-lived thread drops
  to the user with raw ``setgroups``/``setresgid``/``setresuid`` (real,
  effective and saved ids, so it cannot become root again), runs the function
  and ends; its credentials end with it. Changing a thread's ids makes the
  kernel mark the whole process non-dumpable (unless ``fs.suid_dumpable``
  says otherwise), so no process of that user can ptrace its way through the
  thread into the worker; the worker stays so afterwards (no core dump,
  ``/proc/self`` owned by root), which costs a root process nothing. Whether
  raw calls change one thread only is probed once per process (a probe
  thread drops reversibly and the main thread checks that its own ids did not
  move); where the probe fails, the machine's syscall numbers are unknown or
  the process is not root, :func:`as_user` forks as :func:`in_child` does (a
  caller that is not root runs as itself, as it would in the child).
- A private mount (:func:`on_read_only`): as root on a thread of its own,
  which ``unshare(CLONE_NEWNS)`` gives a mount namespace of its own; the
  namespace ends with the thread. A caller that is not root needs a new user
  namespace for it, and ``unshare(CLONE_NEWUSER)`` refuses a multi-threaded
  caller: there, a forked child (:func:`in_child`).

The child runs only the given function and ``os._exit``: no atexit handlers,
no pytest teardown, nothing of the parent's state is flushed twice. Its
JSON-safe result comes back through a pipe; the parent waits with a deadline
and kills a child that never answers. A thread cannot be killed: one that
misses its deadline is left behind, still the other user, while the case
gets ``timeout`` and its result, if any, is dropped. Either way the result
is the JSON round trip of the function's dict, so a case observes the same
thing by both means.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import platform
import resource
import select
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from conformance.descriptors import lowest_free
from conformance.errors import DeadlineExceeded, HarnessError, Unsupported

NOBODY = 65534

# Syscall numbers per machine, from the kernel's syscall tables
# (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h).
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {"setgroups": 116, "setresuid": 117, "setresgid": 119},
    "aarch64": {"setgroups": 159, "setresuid": 147, "setresgid": 149},
}

PROBE_S = 2.0

# What this process does to itself for a case, for code whose calls are made
# by another process (the stack agent's backend) and so would miss the change.
_limit_lowered = threading.Event()
_this_thread = threading.local()  # ``uid``: this thread runs as another user

# How a function's end is encoded: one JSON document, tagged with what happened.
_RESULT, _UNSUPPORTED, _SKIP, _CRASH = "result", "unsupported", "skip", "crash"


class ChildSkip(Exception):
    """Raised by the function given to :func:`in_child` or :func:`as_user`:
    a precondition is missing (becomes ``skipped``)."""


def as_user(
    fn: Callable[[], dict[str, Any]], user: int, *, timeout: float = 2.0
) -> dict[str, Any]:
    """Run ``fn`` as ``user`` (its uid and gid, no supplementary groups) and return its dict.

    On a thread of its own where the probe shows that credentials can be
    changed for one thread, otherwise in a forked child (:func:`in_child`);
    the contract is the same either way: ``Unsupported`` is re-raised here,
    ``ChildSkip`` turns into ``pytest.skip``, anything else that escapes
    ``fn`` (or the switch to ``user``) is a harness error, and a function
    that does not return within ``timeout`` raises ``DeadlineExceeded``.
    """
    if not _thread_credentials():
        return in_child(fn, user=user, timeout=timeout)

    def switch() -> None:
        _this_thread.uid = user
        _drop(user)

    return _on_thread(fn, switch, timeout, f"run as uid {user}")


def on_read_only(
    path: str, fn: Callable[[], dict[str, Any]], *, timeout: float = 2.0
) -> dict[str, Any]:
    """Run ``fn`` where ``path`` is covered by an empty read-only tmpfs that only
    ``fn`` sees (:func:`mount_read_only`); return its dict, as :func:`as_user` does.

    As root on a thread of its own: ``unshare(CLONE_NEWNS)`` gives the calling
    thread alone a mount namespace (with a file-system context of its own),
    and the namespace and its mount end with the thread. A caller that is not
    root needs a new user namespace for it, which a multi-threaded process may
    not make: it runs in a forked child.
    """
    if os.geteuid() != 0:
        def in_the_child() -> dict[str, Any]:
            mount_read_only(path)
            return fn()

        return in_child(in_the_child, timeout=timeout)

    def switch() -> None:
        _this_thread.mounts = path
        mount_read_only(path)

    return _on_thread(fn, switch, timeout, f"run with {path} read-only")


def _on_thread(fn: Callable[[], dict[str, Any]], switch: Callable[[], None], timeout: float,
               what: str) -> dict[str, Any]:
    """``switch`` then ``fn`` on a thread of their own, which then ends; ``fn``'s dict."""
    box: list[bytes] = []
    thread = threading.Thread(target=lambda: box.append(_outcome(fn, switch)),
                              name=what, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # It cannot be killed: it stays behind as it is, its result unread.
        raise DeadlineExceeded(f"the function {what} gave no result within {timeout}s "
                               f"(its thread is left running)")
    return _finish(box[0], f"the thread of the function {what}")


def changed_here() -> str | None:
    """What the calling thread runs with that another process would not share, if anything."""
    uid = getattr(_this_thread, "uid", None)
    if uid is not None:
        return f"this thread runs as uid {uid}"
    mounts = getattr(_this_thread, "mounts", None)
    if mounts is not None:
        return f"this thread has a mount namespace of its own ({mounts} read-only)"
    if _limit_lowered.is_set():
        return "this process is at a lowered RLIMIT_NOFILE"
    return None


def credentials_mechanism() -> str:
    """How :func:`as_user` switches users in this process: ``"thread"`` or ``"fork"``."""
    return "thread" if _thread_credentials() else "fork"


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
    return _finish(raw, "child process")


def _outcome(fn: Callable[[], dict[str, Any]], switch: Callable[[], None]) -> bytes:
    """``switch`` then ``fn``: what happened, encoded (a result that is not JSON is a crash)."""
    try:
        switch()
        msg = {"kind": _RESULT, "value": fn()}
    except Unsupported as exc:
        msg = {"kind": _UNSUPPORTED, "value": str(exc)}
    except ChildSkip as exc:
        msg = {"kind": _SKIP, "value": str(exc)}
    except BaseException:  # the caller must hear about any failure
        msg = {"kind": _CRASH, "value": traceback.format_exc(limit=3)}
    try:
        return json.dumps(msg).encode()
    except (TypeError, ValueError) as exc:
        return json.dumps({"kind": _CRASH, "value": f"the result is not JSON-safe: {exc}"}).encode()


def _finish(raw: bytes, where: str) -> dict[str, Any]:
    msg: dict[str, Any] = (json.loads(raw) if raw
                           else {"kind": _CRASH, "value": f"{where} ended without a result"})
    kind, value = msg["kind"], msg["value"]
    if kind == _RESULT:
        result: dict[str, Any] = value
        return result
    if kind == _UNSUPPORTED:
        raise Unsupported(value)
    if kind == _SKIP:
        import pytest

        pytest.skip(value)
    raise HarnessError(f"{where} failed: {value}")


def _child(fn: Callable[[], dict[str, Any]], user: int | None, w: int) -> None:  # pragma: no cover
    def switch() -> None:
        if user is not None and os.geteuid() == 0:
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)

    try:
        data = _outcome(fn, switch)
        while data:
            data = data[os.write(w, data):]
    finally:
        os._exit(0)


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


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _syscall(name: str, *args: int) -> None:
    """The raw system call, bypassing libc's wrapper (which would change every thread)."""
    number = SYSCALLS[platform.machine().lower()][name]
    if _libc().syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args)) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}(): {os.strerror(err)}")


def _drop(user: int) -> None:
    """This thread only becomes ``user``: groups first (that needs root), then gid, then uid.

    Real, effective and saved ids all change, so the kernel clears the
    thread's capabilities and nothing lets it become root again.
    """
    _syscall("setgroups", 0, 0)
    _syscall("setresgid", user, user, user)
    _syscall("setresuid", user, user, user)


def _ids() -> tuple[int, int, list[int]]:
    return os.geteuid(), os.getegid(), sorted(os.getgroups())


@functools.cache
def _thread_credentials() -> bool:
    """Probe, once per process: do raw set*id calls change the calling thread only?

    A probe thread drops its effective ids to ``NOBODY``; the main thread
    checks, while the probe thread still holds them, that its own ids did not
    move. Only the effective ids change (the saved uid stays 0), so should the
    change have reached every thread, this thread takes its ids back.
    """
    if (not hasattr(os, "geteuid") or os.geteuid() != 0
            or platform.machine().lower() not in SYSCALLS or not hasattr(_libc(), "syscall")):
        return False
    before = _ids()
    seen: list[tuple[int, int, list[int]]] = []
    dropped, checked = threading.Event(), threading.Event()

    def probe() -> None:
        try:
            _syscall("setgroups", 0, 0)
            _syscall("setresgid", -1, NOBODY, -1)
            _syscall("setresuid", -1, NOBODY, -1)
            seen.append(_ids())
        except OSError:
            pass  # not allowed here: the probe says no
        finally:
            dropped.set()
            checked.wait(PROBE_S)

    thread = threading.Thread(target=probe, name="credentials-probe", daemon=True)
    thread.start()
    alone = dropped.wait(PROBE_S) and seen == [(NOBODY, NOBODY, [])] and _ids() == before
    checked.set()
    thread.join(PROBE_S)
    if _ids() != before:  # the change reached this thread too: undo it for every thread
        os.seteuid(0)
        os.setegid(before[1])
        os.setgroups(before[2])
    return alone


def at_descriptor_limit(call: Callable[[], Any]) -> dict[str, Any]:
    """Lower RLIMIT_NOFILE so no descriptor is free, run ``call``, restore the limit.

    The soft limit is set to the lowest free descriptor number, so every
    number below it is in use and the next descriptor would exceed it: EMFILE
    then comes from the case's own limit. Running ``call`` again after
    raising the limit shows it was that limit, not an environment already
    out of descriptors. Returns both outcomes (``"ok"`` or an errno name)
    and the limit used; ``ChildSkip`` from ``call`` skips the case, as it
    would from :func:`in_child`.

    It runs in the calling process: only the soft limit is lowered, which any
    process may raise again up to its hard limit, and ``finally`` does so
    whatever ``call`` raised. For the length of that one call every thread of
    the process is at the limit, not only the caller.
    """
    from conformance.kit import Kit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = lowest_free()
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    _limit_lowered.set()
    try:
        at_limit = Kit.outcome(call)
    except ChildSkip as exc:
        import pytest

        pytest.skip(str(exc))
    finally:
        _limit_lowered.clear()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return {"at_limit": at_limit, "after_raising": Kit.outcome(call), "limit": limit}


def mount_read_only(path: str) -> None:
    """Cover ``path`` with an empty read-only tmpfs seen by the calling thread (on a
    thread of :func:`on_read_only`) or process (in a child) only.

    The caller moves to a private mount namespace first (inside a new user
    namespace when it is not root), so no one else sees the mount, and it
    disappears with the caller. ``ChildSkip`` says why when the platform or the
    privileges do not allow it.
    """
    import errno

    clone_newns, clone_newuser = 0x00020000, 0x10000000
    ms_rdonly, ms_rec, ms_private = 1, 0x4000, 0x40000
    lib = _libc()
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
