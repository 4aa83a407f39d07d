"""Flake control in real pytest sessions: failing instances are re-run; flip-floppers are flaky."""

from __future__ import annotations

import json

import pytest

from conformance.report.model import validate

EXPECT = '''
[["fake.flip"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"

[["fake.stable_bad"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"

[["fake.wobbly_bad"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"

[["fake.drifting_bad"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"

[["fake.fresh_kit"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"

[["fake.good"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"
'''

# Each case counts its own attempts in a file, so an attempt can behave
# differently from the previous one, the way a flaky stack does.
CASES = '''
import json
import os
from pathlib import Path

from conformance.case import case, posix
from conformance.errors import DeadlineExceeded

CITE = [posix("accept")]
STATE = Path(os.environ["FAKE_STATE"])


def attempt(name):
    path = STATE / name
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


@case("fake.flip", "deviates once, then conforms", cites=CITE, params={"mode": ["a", "b"]})
def test_flip(mode, kit):
    """Flaky."""
    return {"errno": "EINVAL"} if attempt("flip-" + mode) == 1 else {"errno": "EAGAIN"}


@case("fake.stable_bad", "deviates every time", cites=CITE)
def test_stable_bad(kit):
    """Deviates on every attempt."""
    attempt("stable_bad")
    return {"errno": "EINVAL"}


@case("fake.wobbly_bad", "fails every time, differently", cites=CITE)
def test_wobbly_bad(kit):
    """Times out, then deviates."""
    if attempt("wobbly_bad") == 1:
        raise DeadlineExceeded("accept did not return")
    return {"errno": "EINVAL"}


@case("fake.drifting_bad", "deviates every time, never the same way", cites=CITE)
def test_drifting_bad(kit):
    """Deviates with a different observation on each attempt."""
    return {"errno": "EINVAL", "attempt": attempt("drifting_bad")}


KITS = []


@case("fake.fresh_kit", "sees the previous attempt's sockets closed", cites=CITE)
def test_fresh_kit(kit):
    """Records whether the previous attempt's kit socket was closed."""
    sock = kit.socket("inet", "dgram")
    if KITS:
        (STATE / "fresh_kit").write_text(json.dumps({
            "new_kit": KITS[-1][0] is not kit,
            "old_socket_closed": KITS[-1][1].fileno() == -1,
        }))
    KITS.append((kit, sock))
    return {"errno": "EINVAL"} if len(KITS) == 1 else {"errno": "EAGAIN"}


@case("fake.good", "conforms at once", cites=CITE)
def test_good(kit):
    """Never re-run."""
    attempt("good")
    return {"errno": "EAGAIN"}
'''


@pytest.fixture
def session(session, monkeypatch):
    monkeypatch.setenv("FAKE_STATE", str(session.mkdir("state")))
    return session


def _run(pytester, *extra, subprocess=False):
    exp = pytester.mkdir("exp")
    (exp / "linux.toml").write_text(EXPECT)
    pytester.makepyfile(test_fake=CASES)
    out = pytester.path / "out"
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run(
        "-p", "conformance.plugin", "--conformance-out", str(out),
        "--conformance-expectations", str(exp), *extra,
    )
    files = list(out.glob("*.json"))
    assert len(files) == 1, f"got {files}, expected one report: {result.outlines[-20:]}"
    report = json.loads(files[0].read_text())
    validate(report, str(files[0]))
    return result, {(r["id"], r["params"].get("mode")): r for r in report["results"]}


def _attempts(pytester, name):
    return int((pytester.path / "state" / name).read_text())


def test_failed_then_passed_is_flaky_with_every_attempt(session):
    _result, by = _run(session)
    flip = by["fake.flip", "a"]
    assert flip["verdict"] == "flaky"
    assert [(a["verdict"], a["observation"]) for a in flip["attempts"]] == [
        ("deviates", {"errno": "EINVAL"}), ("conforms", {"errno": "EAGAIN"}),
    ]
    assert flip["observation"] == {"errno": "EAGAIN"}
    assert "deviates -> conforms" in flip["message"]


def test_stable_failure_is_rerun_until_it_repeats_and_keeps_its_verdict(session):
    _result, by = _run(session)
    bad = by["fake.stable_bad", None]
    assert bad["verdict"] == "deviates"
    # The second attempt failed exactly as the first: a third would say it again.
    assert [a["verdict"] for a in bad["attempts"]] == ["deviates"] * 2
    assert _attempts(session, "stable_bad") == 2


def test_failure_that_varies_is_not_a_flake(session):
    _result, by = _run(session)
    wobbly = by["fake.wobbly_bad", None]
    assert wobbly["verdict"] == "deviates"
    assert [a["verdict"] for a in wobbly["attempts"]] == ["timeout", "deviates", "deviates"]
    assert "attempts differed" in wobbly["message"]


def test_passing_instance_runs_once_and_has_no_attempts(session):
    _result, by = _run(session)
    assert by["fake.good", None]["verdict"] == "conforms"
    assert "attempts" not in by["fake.good", None]
    assert _attempts(session, "good") == 1


def test_each_attempt_gets_a_fresh_kit_and_the_old_sockets_are_closed(session):
    _result, by = _run(session)
    assert by["fake.fresh_kit", None]["verdict"] == "flaky"
    seen = json.loads((session.path / "state" / "fresh_kit").read_text())
    assert seen == {"new_kit": True, "old_socket_closed": True}


def test_flaky_alone_does_not_fail_the_session(session):
    result, by = _run(session, "-k", "flip or good")
    assert {r["verdict"] for r in by.values()} == {"flaky", "conforms"}
    assert result.ret == 0


def test_reruns_zero_turns_rerunning_off(session):
    result, by = _run(session, "--conformance-reruns", "0")
    assert by["fake.flip", "a"]["verdict"] == "deviates"
    assert all("attempts" not in r for r in by.values())
    assert _attempts(session, "stable_bad") == 1
    assert result.ret == 1


def test_failure_that_never_repeats_uses_every_rerun(session):
    _result, by = _run(session)
    assert len(by["fake.drifting_bad", None]["attempts"]) == 3
    assert _attempts(session, "drifting_bad") == 3


def test_reruns_limit_is_honoured(session):
    _result, by = _run(session, "--conformance-reruns", "1")
    assert len(by["fake.drifting_bad", None]["attempts"]) == 2


def test_bad_reruns_value_names_where_it_came_from(session, monkeypatch):
    monkeypatch.setenv("SOCKET_CONFORMANCE_RERUNS", "many")
    session.makepyfile(test_fake=CASES)
    result = session.runpytest("-p", "conformance.plugin", "--conformance")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "SOCKET_CONFORMANCE_RERUNS: expected a whole number >= 0, got 'many'" in str(
        result.stderr)


def test_reruns_work_under_xdist(session):
    pytest.importorskip("xdist")
    result, by = _run(session, "-n", "2", subprocess=True)
    assert by["fake.flip", "a"]["verdict"] == by["fake.flip", "b"]["verdict"] == "flaky"
    assert len(by["fake.flip", "b"]["attempts"]) == 2
    assert by["fake.stable_bad", None]["verdict"] == "deviates"
    assert result.ret == 1
