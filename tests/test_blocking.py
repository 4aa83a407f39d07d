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
