"""The plugin end to end, in real pytest sessions: each way a case can end."""

from __future__ import annotations

import json

EXPECT = '''
[["fake.errno"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"
'''

CASES = '''
import socket
from conformance.case import case, posix
from conformance.errors import DeadlineExceeded, Unsupported

CITE = [posix("accept")]

@case("fake.errno", "conforming", cites=CITE, params={"mode": ["ok"]})
def test_conforms(mode, kit):
    """Conforms."""
    return {"errno": "EAGAIN"}

@case("fake.errno_bad", "deviating", cites=CITE)
def test_deviates(kit):
    """Deviates."""
    return {"errno": "EINVAL"}

@case("fake.undocumented", "no expectation", cites=CITE)
def test_undocumented(kit):
    """Nothing documented."""
    return {"x": 1}

@case("fake.unsupported", "no feature", cites=CITE)
def test_unsupported(kit):
    """Unsupported."""
    raise Unsupported("no such family")

@case("fake.timeout", "hangs", cites=CITE)
def test_timeout(kit):
    """Times out."""
    raise DeadlineExceeded("accept did not return")

@case("fake.error", "broken harness", cites=CITE)
def test_error(kit):
    """Errors."""
    return "not a dict"

@case("fake.leak", "leaks a socket", cites=CITE)
def test_leak(kit):
    """Leaks."""
    global KEEP
    KEEP = socket.socket()
    return {"errno": "EAGAIN"}

@case("fake.skip", "precondition", cites=CITE)
def test_skip(kit):
    """Skipped."""
    import pytest
    pytest.skip("no namespace privilege")
'''

DEVIATING_EXPECT = EXPECT + '''
[["fake.errno_bad"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"
'''


def _run(pytester, *extra):
    exp = pytester.mkdir("exp")
    (exp / "linux.toml").write_text(DEVIATING_EXPECT)
    pytester.makepyfile(test_fake=CASES)
    out = pytester.path / "out"
    result = pytester.runpytest(
        "-p", "conformance.plugin", "--conformance-out", str(out),
        "--conformance-expectations", str(exp), *extra,
    )
    files = list(out.glob("*.json"))
    assert len(files) == 1, f"got {files}, expected one report"
    return result, json.loads(files[0].read_text()), files[0]


def test_each_ending_maps_to_its_verdict(session, load_report):
    result, report, path = _run(session)
    load_report(path)
    verdicts = {r["id"]: r["verdict"] for r in report["results"]}
    assert verdicts == {
        "fake.errno": "conforms",
        "fake.errno_bad": "deviates",
        "fake.undocumented": "undocumented",
        "fake.unsupported": "unsupported",
        "fake.timeout": "timeout",
        "fake.error": "error",
        "fake.leak": "error",
        "fake.skip": "skipped",
    }
    assert result.ret == 1


def test_deviation_message_says_got_and_expected(session):
    _, report, _ = _run(session)
    bad = next(r for r in report["results"] if r["id"] == "fake.errno_bad")
    assert "EINVAL" in bad["message"] and "EAGAIN" in bad["message"]
    assert bad["observation"] == {"errno": "EINVAL"}
    assert bad["expected"]["accept"] == [{"errno": "EAGAIN"}]


def test_leak_is_reported_on_the_leaking_case(session):
    _, report, _ = _run(session)
    leak = next(r for r in report["results"] if r["id"] == "fake.leak")
    assert "socket descriptor" in leak["message"]


def test_summary_counts_every_instance(session):
    _, report, _ = _run(session)
    assert sum(report["summary"].values()) == len(report["results"]) == 8


def test_params_are_a_dict_and_in_the_nodeid(session):
    _, report, _ = _run(session)
    ok = next(r for r in report["results"] if r["id"] == "fake.errno")
    assert ok["params"] == {"mode": "ok"}
    assert ok["nodeid"].endswith("[mode=ok]")


def test_only_conforming_results_exit_zero(session):
    result, _report, _ = _run(session, "-k", "conforms or undocumented or unsupported or skip")
    assert result.ret == 0


SEARCHES_LAST_IN_FILE = '''
from conformance.case import case, posix

CITE = [posix("accept")]

@case("plain.first", "plain", cites=CITE)
def test_plain_first(kit):
    """Plain."""
    return {}

@case("props.fake_search", "a search", cites=CITE)
def test_search(kit):
    """A search."""
    return {}

@case("plain.last", "plain", cites=CITE)
def test_plain_last(kit):
    """Plain."""
    return {}
'''


def test_searches_are_handed_out_first_and_plain_cases_keep_their_order(session):
    session.makepyfile(test_order=SEARCHES_LAST_IN_FILE)
    result = session.runpytest("-p", "conformance.plugin", "--conformance", "--collect-only", "-q")
    ids = [ln.split("::")[1] for ln in result.outlines if "::" in ln]
    assert ids == ["test_search", "test_plain_first", "test_plain_last"]


def test_deviation_and_missing_feature_build_no_traceback(session):
    # Their reports are one line each; a traceback's text (source read and parsed
    # per frame) would cost milliseconds per instance only to be thrown away.
    session.makeconftest(
        "def _refuse(excinfo, *args, **kwargs):\n"
        "    raise RuntimeError('a traceback was built')\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.repr_failure = _refuse\n"
    )
    result, report, _ = _run(session, "-rfs", "-k", "test_deviates or test_unsupported")
    result.assert_outcomes(failed=1, skipped=1, deselected=6)
    assert {r["verdict"] for r in report["results"]} == {"deviates", "unsupported"}
    text = result.stdout.str()
    assert 'deviates: got {"errno": "EINVAL"}' in text
    assert "unsupported: no such family" in text
