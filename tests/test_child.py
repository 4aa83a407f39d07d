"""Other credentials and other limits are the case's alone, and gone after it.

``as_user`` runs a function as uid 65534 on a thread of its own where the
probe shows credentials can change for one thread, and in a forked child
otherwise; both give the same contract. ``at_descriptor_limit`` lowers
RLIMIT_NOFILE in the calling process for one call and puts it back.
"""

from __future__ import annotations

import errno
import os
import resource
import threading

import pytest

from conformance import child
from conformance.child import NOBODY, ChildSkip, as_user, at_descriptor_limit
from conformance.errors import DeadlineExceeded, HarnessError, Unsupported

needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="switching users needs root")

WAIT_S = 5.0


@pytest.fixture(params=["thread", "fork"])
def mechanism(request, monkeypatch):
    """Each contract test runs both ways; the thread only where the probe allows it."""
    if request.param == "fork":
        monkeypatch.setattr(child, "_thread_credentials", lambda: False)
    elif not child._thread_credentials():
        pytest.skip("credentials cannot be changed for one thread here")
    return request.param


def _ids() -> tuple[int, int, list[int]]:
    return os.geteuid(), os.getegid(), sorted(os.getgroups())


@needs_root
def test_other_credentials_apply_to_one_thread_only():
    if not child._thread_credentials():
        pytest.skip("credentials cannot be changed for one thread here")
    before = _ids()
    running, checked = threading.Event(), threading.Event()
    outcome: dict = {}

    def as_nobody() -> dict:
        seen = {"ids": list(_ids()), "pid": os.getpid()}
        running.set()
        checked.wait(WAIT_S)  # hold uid 65534 while the caller looks at its own ids
        return seen

    caller = threading.Thread(target=lambda: outcome.update(as_user(as_nobody, NOBODY)))
    caller.start()
    try:
        assert running.wait(WAIT_S), "the function never ran"
        during = _ids()
    finally:
        checked.set()
        caller.join(WAIT_S)
    assert outcome == {"ids": [NOBODY, NOBODY, []], "pid": os.getpid()}
    assert during == before
    assert _ids() == before
    assert child.credentials_mechanism() == "thread"


@needs_root
def test_the_thread_cannot_take_root_back():
    if not child._thread_credentials():
        pytest.skip("credentials cannot be changed for one thread here")

    def regain() -> dict:
        try:
            child._syscall("setresuid", 0, 0, 0)
        except OSError as exc:
            return {"errno": exc.errno, "euid": os.geteuid()}
        return {"errno": 0, "euid": os.geteuid()}

    assert as_user(regain, NOBODY) == {"errno": errno.EPERM, "euid": NOBODY}


@needs_root
def test_fork_is_used_when_the_probe_says_no(monkeypatch):
    monkeypatch.setattr(child, "_thread_credentials", lambda: False)
    seen = as_user(lambda: {"euid": os.geteuid(), "pid": os.getpid()}, NOBODY)
    assert seen["euid"] == NOBODY
    assert seen["pid"] != os.getpid()
    assert os.geteuid() == 0
    assert child.credentials_mechanism() == "fork"


@needs_root
def test_probe_says_no_and_undoes_a_change_that_reached_every_thread(monkeypatch):
    # glibc's wrappers change every thread: the probe must notice, and take
    # this thread's ids back, rather than leave the worker as uid 65534.
    broadcast = {"setgroups": lambda *_: os.setgroups([]),
                 "setresgid": os.setresgid, "setresuid": os.setresuid}
    monkeypatch.setattr(child, "_syscall", lambda name, *args: broadcast[name](*args))
    before = _ids()
    assert child._thread_credentials.__wrapped__() is False
    assert _ids() == before


@needs_root
def test_a_probe_that_is_refused_says_no(monkeypatch):
    def refuse(name, *args):
        raise PermissionError(1, f"{name}(): Operation not permitted")

    monkeypatch.setattr(child, "_syscall", refuse)
    assert child._thread_credentials.__wrapped__() is False


@needs_root
def test_a_function_that_never_returns_gives_deadline_exceeded(mechanism):
    release = threading.Event()
    try:
        with pytest.raises(DeadlineExceeded, match=r"no result within 0\.2s"):
            as_user(lambda: {"released": release.wait(WAIT_S)}, NOBODY, timeout=0.2)
    finally:
        release.set()  # the left-behind thread may end now; a child was killed
    assert os.geteuid() == 0


def test_the_result_is_its_json_round_trip(mechanism):
    assert as_user(lambda: {"pair": (1, 2)}, NOBODY) == {"pair": [1, 2]}


def test_a_result_that_is_not_json_is_a_harness_error(mechanism):
    with pytest.raises(HarnessError, match="not JSON-safe"):
        as_user(lambda: {"raw": object()}, NOBODY)


def test_unsupported_raised_as_the_other_user_reaches_the_caller(mechanism):
    def lacking() -> dict:
        raise Unsupported("no such option here")

    with pytest.raises(Unsupported, match="no such option here"):
        as_user(lacking, NOBODY)


def test_child_skip_raised_as_the_other_user_skips_the_case(mechanism):
    def precondition() -> dict:
        raise ChildSkip("no port is privileged here")

    with pytest.raises(pytest.skip.Exception, match="no port is privileged here"):
        as_user(precondition, NOBODY)


def test_any_other_exception_is_a_harness_error(mechanism):
    def broken() -> dict:
        raise KeyError("typo")

    with pytest.raises(HarnessError, match="KeyError: 'typo'"):
        as_user(broken, NOBODY)


def _open_and_close() -> None:
    os.close(os.open(os.devnull, os.O_RDONLY))


def test_descriptor_limit_is_restored_after_the_case():
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    during: list[tuple[int, int]] = []

    def call() -> None:
        during.append(resource.getrlimit(resource.RLIMIT_NOFILE))
        _open_and_close()

    seen = at_descriptor_limit(call)
    assert seen["at_limit"] == "EMFILE"
    assert seen["after_raising"] == "ok"
    assert during[0] == (seen["limit"], before[1])  # lowered here, in this process
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before


def test_descriptor_limit_is_restored_when_the_call_raises():
    before = resource.getrlimit(resource.RLIMIT_NOFILE)

    def broken() -> None:
        raise KeyError("typo")

    with pytest.raises(KeyError):
        at_descriptor_limit(broken)
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before


@needs_root
def test_code_run_elsewhere_hears_of_the_change():
    # The stack agent's backend asks before each call: its calls run in
    # another process, which neither the user nor the limit reaches.
    if not child._thread_credentials():
        pytest.skip("credentials cannot be changed for one thread here")
    seen = as_user(lambda: {"changed": child.changed_here()}, NOBODY)
    assert seen == {"changed": f"this thread runs as uid {NOBODY}"}
    during: list[str | None] = []
    at_descriptor_limit(lambda: during.append(child.changed_here()))
    assert during[0] == "this process is at a lowered RLIMIT_NOFILE"
    assert child.changed_here() is None


def test_child_skip_at_the_descriptor_limit_skips_the_case():
    before = resource.getrlimit(resource.RLIMIT_NOFILE)

    def elsewhere() -> None:
        raise ChildSkip("the stack agent does not share the limit")

    with pytest.raises(pytest.skip.Exception, match="does not share the limit"):
        at_descriptor_limit(elsewhere)
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="a mount namespace on a thread needs root")
def test_a_read_only_mount_is_seen_by_the_function_alone(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()

    def write_there() -> dict[str, object]:
        try:
            (locked / "f").write_text("x")
        except OSError as exc:
            return {"errno": errno.errorcode[exc.errno or 0], "mark": child.changed_here()}
        return {"errno": "ok", "mark": child.changed_here()}

    got = child.on_read_only(str(locked), write_there)
    if got["errno"] != "EROFS":
        pytest.skip(f"no private read-only mount here: {got}")
    assert "mount namespace of its own" in str(got["mark"])
    (locked / "f").write_text("x")  # the caller never saw the mount
    assert child.changed_here() is None


def test_without_root_a_read_only_mount_is_made_in_a_child(monkeypatch):
    forked: list[object] = []

    def fake_in_child(fn, **kwargs):
        forked.append(fn)
        return {"errno": "EROFS"}

    monkeypatch.setattr(child.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(child, "in_child", fake_in_child)
    assert child.on_read_only("/nowhere", lambda: {"errno": "ok"}) == {"errno": "EROFS"}
    assert len(forked) == 1
