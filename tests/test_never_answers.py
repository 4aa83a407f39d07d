"""A stack that never answers costs the cases that wait on it, never the run.

The fake backend below is a listening socket whose ``accept()`` never returns
(it waits on an event that only closing the socket sets), and whose
descriptor never becomes readable, like a stack that lost the connection
request. Three cases wait on it in the three ways the suite allows:

- through a kit deadline helper (``kit.accept_within``: poll, then give up);
- on a truly blocking call on its own thread, watched with a deadline
  (the ``BlockedCall`` pattern of ``accept.blocks``);
- with no deadline at all, which only pytest-timeout, the last guard, stops.

Each must end as ``timeout`` close to its own deadline, the case after them
must still run and conform, and the report must hold every instance.
"""

from __future__ import annotations

import json

import pytest

DEADLINE_S = 0.3
LAST_GUARD_S = 2

CASES = f'''
import socket
import threading

from conformance.case import case, posix
from conformance.errors import DeadlineExceeded
from conformance.blocking import BlockedCall

CITE = [posix("accept")]
DEADLINE_S = {DEADLINE_S}


class NeverAnswers:
    """A fake backend's listener: never readable, and accept() never returns."""

    backend = "never"
    family = "inet"
    type = "stream"

    def __init__(self):
        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))
        self._s.listen(1)
        self._closed = threading.Event()

    def fileno(self):
        return self._s.fileno()

    def accept(self):
        self._closed.wait()  # no connection ever arrives; only close() ends the wait
        raise OSError(9, "closed while accepting")

    def close(self):
        self._closed.set()
        self._s.close()


def listener(kit):
    return kit.tracker.add(NeverAnswers())


@case("fake.never.helper", "kit deadline helper", cites=CITE)
def test_helper(kit):
    """accept_within gives up at its deadline."""
    kit.accept_within(listener(kit), timeout=DEADLINE_S)
    return {{"accepted": True}}


@case("fake.never.watched", "blocking call on a watched thread", cites=CITE)
def test_watched(kit):
    """A blocking accept on its own thread, abandoned at the deadline."""
    call = BlockedCall(listener(kit).accept).start()
    if not call.wait(DEADLINE_S):
        raise DeadlineExceeded(f"accept() did not return within {{DEADLINE_S}}s")
    return {{"accepted": True}}


@case("fake.never.unguarded", "no deadline at all", cites=CITE)
def test_unguarded(kit):
    """Only pytest-timeout can stop this one."""
    listener(kit).accept()
    return {{"accepted": True}}


@case("fake.never.after", "a case after the hung ones", cites=CITE)
def test_after(kit):
    """Runs normally: the run went on."""
    return {{"errno": "EAGAIN"}}
'''

EXPECT = '''
[["fake.never.after"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"
'''


@pytest.mark.parametrize("workers", ["0", "2"])
def test_hung_accepts_time_out_and_the_report_is_complete(session, workers):
    exp = session.mkdir("exp")
    (exp / "linux.toml").write_text(EXPECT)
    session.makepyfile(test_never=CASES)
    out = session.path / "out"
    result = session.runpytest(
        "-p", "conformance.plugin", "--conformance-out", str(out),
        "--conformance-expectations", str(exp), "--conformance-reruns", "0",
        "--timeout", str(LAST_GUARD_S), "-n", workers,
    )
    (path,) = out.glob("*.json")
    results = {r["id"]: r for r in json.loads(path.read_text())["results"]}
    assert {k: r["verdict"] for k, r in results.items()} == {
        "fake.never.helper": "timeout",
        "fake.never.watched": "timeout",
        "fake.never.unguarded": "timeout",
        "fake.never.after": "conforms",
    }
    assert "within 0.3s" in results["fake.never.helper"]["message"]
    assert "within 0.3s" in results["fake.never.watched"]["message"]
    assert results["fake.never.unguarded"]["message"].startswith("pytest-timeout:")
    # Each stopped at its own deadline, not at some later, larger one: the
    # messages above name which deadline fired; the durations show none ended
    # early. Upper bounds on wall time would only measure the machine's load
    # (issue 17 item 9): a run that hung would never get here at all.
    for case_id, limit in (("helper", DEADLINE_S), ("watched", DEADLINE_S),
                           ("unguarded", LAST_GUARD_S)):
        took = results[f"fake.never.{case_id}"]["duration_s"]
        # pytest-timeout's clock starts before the call phase that duration_s
        # measures, so the lower bound gets a little slack.
        assert took >= limit - 0.1, f"fake.never.{case_id} took {took}s"
    assert result.ret == 1  # a timeout is a failing verdict


def test_reruns_of_a_hung_case_stay_bounded(session):
    """A timeout is re-run (it may be a flake) until it repeats, and every attempt has its
    deadline."""
    exp = session.mkdir("exp")
    (exp / "linux.toml").write_text(EXPECT)
    session.makepyfile(test_never=CASES)
    out = session.path / "out"
    session.runpytest(
        "-p", "conformance.plugin", "--conformance-out", str(out),
        "--conformance-expectations", str(exp), "--conformance-reruns", "2",
        "--timeout", str(LAST_GUARD_S), "-k", "helper or unguarded",
    )
    (path,) = out.glob("*.json")
    results = {r["id"]: r for r in json.loads(path.read_text())["results"]}
    helper = results["fake.never.helper"]
    assert helper["verdict"] == "timeout"
    assert [a["verdict"] for a in helper["attempts"]] == ["timeout"] * 2
    # pytest-timeout's budget is spent: no attempt after the last guard fired.
    assert "attempts" not in results["fake.never.unguarded"]
