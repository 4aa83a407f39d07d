"""Stress mode: ``run --repeat N`` finds every instance that was not the same every time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import repeat
from conformance.plugin.controller import ReportKeeper

# pytester re-imports the module for every session, so the count lives in a file.
TOGGLING = '''
from pathlib import Path

from conformance.case import case, posix

CITE = [posix("accept")]
COUNT = Path(__file__).with_name("count")

@case("fake.steady", "always the same", cites=CITE, params={"mode": ["a", "b"]})
def test_steady(mode, kit):
    """Steady."""
    kit.note(port=len(COUNT.read_text()) if COUNT.exists() else 0)  # volatile: may change
    return {"errno": "EAGAIN"}

@case("fake.toggles", "differs on every other run", cites=CITE)
def test_toggles(kit):
    """Toggles."""
    with COUNT.open("a") as f:
        f.write("x")
    return {"errno": "EAGAIN" if len(COUNT.read_text()) % 2 else "EINTR"}
'''

EXPECT = '''
[["fake.steady"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"
'''


def _result(case_id: str, verdict: str, observation: dict, **params: str) -> dict:
    return {"id": case_id, "params": params, "verdict": verdict, "observation": observation,
            "detail": {"port": 40000 + len(params)}, "duration_s": 0.001, "message": ""}


def test_identical_runs_have_no_difference():
    run = [_result("a.b", "conforms", {"errno": "EAGAIN"}, family="inet")]
    assert repeat.differences([run, run, run]) == []


def test_detail_duration_and_message_may_vary():
    one = _result("a.b", "conforms", {"errno": "EAGAIN"})
    two = dict(one, detail={"port": 1}, duration_s=9.0, message="bound to port 1")
    assert repeat.differences([[one], [two]]) == []


def test_changed_observation_names_each_variant_and_its_runs():
    ok = _result("a.b", "conforms", {"errno": "EAGAIN"}, family="inet6")
    bad = _result("a.b", "deviates", {"errno": "EINTR"}, family="inet6")
    (diff,) = repeat.differences([[ok], [ok], [bad], [ok]])
    text = "\n".join(diff.lines())
    assert diff.instance == "a.b[family=inet6]"
    assert 'runs 1-2,4 of 4: conforms {"errno": "EAGAIN"}' in text
    assert 'run 3 of 4: deviates {"errno": "EINTR"}' in text


def test_missing_instance_and_flaky_verdict_count_as_differences():
    ok = _result("a.b", "conforms", {"x": 1})
    flaky = _result("c.d", "flaky", {"x": 1})
    found = {d.instance: d for d in repeat.differences([[ok, flaky], [flaky]])}
    assert set(found) == {"a.b", "c.d"}
    assert found["a.b"].seen["(no result)"] == [2]


def test_repeated_sessions_report_the_toggling_instance_only(session):
    """Real pytest sessions, one per repetition, as the CLI runs them."""
    exp = session.mkdir("exp")
    (exp / "linux.toml").write_text(EXPECT)
    session.makepyfile(test_fake=TOGGLING)
    out = session.path / "out"
    out.mkdir()
    lines: list[str] = []

    def once() -> tuple[int, dict | None]:
        keep = ReportKeeper()
        result = session.runpytest_inprocess(
            "-p", "conformance.plugin", "--conformance-out", str(out),
            "--conformance-expectations", str(exp), "--conformance-reruns", "0",
            plugins=[keep],
        )
        return int(result.ret), keep.report

    code = repeat.repeat(3, once, lines.append)
    text = "\n".join(lines)
    assert code == 1, text
    assert "3 runs, 3 case instances, 1 differed" in text
    assert "fake.toggles:" in text and "fake.steady" not in text
    assert 'runs 1,3 of 3: undocumented {"errno": "EAGAIN"}' in text
    assert 'run 2 of 3: undocumented {"errno": "EINTR"}' in text


def test_cli_repeat_of_a_stable_selection_exits_zero(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "-q", "--repeat", "2", "-n", "0",
         "--out", "out", "-k", "test_accept and nonblocking"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "repeat: run 2 of 2: exit 0" in proc.stdout
    assert " 0 differed between runs" in proc.stdout
    (report,) = Path(tmp_path / "out").glob("*.json")
    assert json.loads(report.read_text())["results"]


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_cli_repeat_refuses_a_bad_count_in_one_line(tmp_path, bad):
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--repeat", bad, "--out", "out"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"socket-conformance: error: argument --repeat: --repeat takes a whole number >= 1, "
        f"got {bad!r}"
    ]
    assert not (tmp_path / "out").exists()
