"""BlockedCall's threads: a call runs on a thread of its own, kept for the next call
once it returns, and never shared with a call still running."""

from __future__ import annotations

import os
import threading

from conformance.blocking import BlockedCall


def test_a_returned_call_leaves_its_thread_for_the_next_call():
    first = BlockedCall(threading.get_native_id).start()
    assert first.wait(5)
    second = BlockedCall(threading.get_native_id).start()
    assert second.wait(5)
    assert first.result == first.tid == second.result == second.tid
    assert first.tid != threading.get_native_id()


def test_a_call_still_blocked_keeps_its_thread_and_the_next_call_gets_another():
    release = threading.Event()
    stuck = BlockedCall(lambda: release.wait(5)).start()
    try:
        other = BlockedCall(threading.get_native_id).start()
        assert other.wait(5)
        assert other.result != stuck.tid
        assert not stuck.done.is_set()
    finally:
        release.set()
        assert stuck.wait(5)


def test_an_error_reaches_the_caller_and_the_thread_serves_again():
    def boom() -> None:
        raise OSError(9, "Bad file descriptor")

    failed = BlockedCall(boom).start()
    assert failed.wait(5)
    assert isinstance(failed.error, OSError)
    after = BlockedCall(lambda: 42).start()
    assert after.wait(5) and after.result == 42 and after.error is None


def test_a_forked_child_starts_its_own_threads():
    warm = BlockedCall(lambda: None).start()
    assert warm.wait(5)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        call = BlockedCall(lambda: 7).start()
        os.write(w, b"ok" if call.wait(2) and call.result == 7 else b"no")
        os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 2) == b"ok"
    finally:
        os.close(r)
        os.waitpid(pid, 0)


def _without_syscall_files(monkeypatch):
    import builtins

    real_open = builtins.open

    def no_syscall_file(path, *args, **kwargs):
        if str(path).endswith("/syscall"):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_syscall_file)


def test_without_a_syscall_file_a_sleeping_call_is_proven_blocked(monkeypatch):
    from conformance.blocking import prove_blocked

    _without_syscall_files(monkeypatch)
    gate = threading.Event()
    call = BlockedCall(lambda: gate.wait(5)).start()
    try:
        proof = prove_blocked(call, "recv")
    finally:
        gate.set()
        call.wait(5)
    assert proof == {"blocked": True, "method": "asleep-after-10ms"}


def test_without_a_syscall_file_a_thread_not_yet_asleep_is_not_taken_for_blocked(monkeypatch):
    # A thread still runnable (a loaded machine has not given it a CPU) or caught
    # once waiting for the interpreter lock on its way: the call then returns.
    from conformance import blocking

    _without_syscall_files(monkeypatch)
    gate = threading.Event()
    states = iter(["R", "R", "S", "R"])

    def observed(tid: int) -> str:
        state = next(states, None)
        if state is None:
            gate.set()
            call.wait(5)
            return "S"
        return state

    monkeypatch.setattr(blocking, "_task_state", observed)
    call = BlockedCall(lambda: gate.wait(5)).start()
    proof = blocking.prove_blocked(call, "recv")
    assert proof == {"blocked": False, "method": "asleep-after-10ms"}


def test_without_a_syscall_file_a_call_that_returns_at_once_is_not_blocked(monkeypatch):
    from conformance.blocking import prove_blocked

    _without_syscall_files(monkeypatch)
    call = BlockedCall(lambda: None).start()
    assert prove_blocked(call, "recv")["blocked"] is False


def test_a_call_started_by_a_thread_running_as_another_user_runs_as_that_user():
    import pytest

    from conformance import child

    if os.geteuid() != 0 or child.credentials_mechanism() != "thread":
        pytest.skip("needs root and per-thread credentials")
    warm = BlockedCall(lambda: None).start()  # an idle caller thread, running as root
    assert warm.wait(5)

    def as_nobody() -> dict[str, int]:
        call = BlockedCall(os.geteuid).start()
        assert call.wait(5)
        return {"euid": call.result}

    assert child.as_user(as_nobody, child.NOBODY) == {"euid": child.NOBODY}
