"""A platform's run is judged by whether it broke, never by how the platform differs.

The rule (conformance/report/judge.py) is the one CI's judging step
(.github/judge_run.py, tests/test_judge_run.py) and tox's platform envs
(`run --judge`) apply.
"""

from __future__ import annotations

import json

import pytest

from conformance.report.judge import judge
from tests.conftest import cli, one_line_error


def _report(stack: str, *verdicts: str) -> dict:
    return {"platform": {"stack": stack},
            "results": [{"id": f"x.case{i}", "params": {"family": "inet"}, "verdict": v,
                         "message": "boom\x1b[2J" if v == "error" else ""}
                        for i, v in enumerate(verdicts)]}


@pytest.mark.parametrize("stack", ["host", "gvisor", "uml", "lwip", "wine"])
def test_deviations_and_timeouts_are_findings_not_failures(stack):
    assert judge(1, _report(stack, "conforms", "deviates", "timeout", "flaky")) == (False, [])


@pytest.mark.parametrize("code", [2, 130, -9])
def test_a_broken_run_fails_whatever_it_reported(code):
    failed, why = judge(code, _report("lwip", "conforms"))
    assert failed and f"exited {code}" in why[0]


def test_no_report_fails():
    assert judge(0, None) == (True, ["the run produced no report"])


def test_an_error_result_fails_a_gated_stack_naming_it_without_terminal_control():
    failed, why = judge(1, _report("gvisor", "conforms", "error"))
    assert failed
    assert any("x.case1" in line and "boom\\x1b[2J" in line for line in why), why


def test_a_partial_report_fails_a_gated_stack_even_without_an_error():
    failed, why = judge(1, _report("host", "conforms", "timeout", "skipped"), complete=False)
    assert failed and "partial" in why[0]


@pytest.mark.parametrize("stack", ["lwip", "wine"])
def test_an_observed_stack_lists_its_errors_without_failing(stack):
    failed, why = judge(1, _report(stack, "error"), complete=False)
    assert not failed
    assert "observed, not gated" in why[0] and "partial" in why[1]
    assert any("x.case0" in line for line in why)


CASES = '''
import threading

from conformance.api import HarnessError, case, posix


@case("mine.judged.deviates", "a case whose claim this machine breaks",
      cites=[posix("socket")])
def test_deviates(kit):
    """Observes one thing; the overlay below expects another."""
    return {"seen": "this"}


@case("mine.judged.slow", "a case still running when the run's deadline passes",
      cites=[posix("socket")])
def test_slow(kit):
    """Waits far past the run's deadline, which stops the run."""
    threading.Event().wait(60)
    return {"seen": "late"}


@case("mine.judged.broken", "a case whose harness breaks", cites=[posix("socket")])
def test_broken(kit):
    """The harness, not the stack, fails here."""
    raise HarnessError("the harness broke on purpose")
'''

EXPECTED = '''
[["mine.judged.deviates"]]
accept = [{ seen = "that" }]
source = "a test overlay"

[["mine.judged.broken"]]
accept = [{ seen = "anything" }]
source = "a test overlay"
'''


@pytest.fixture
def judged(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "test_judged.py").write_text(CASES)
    (tmp_path / "exp").mkdir()
    for family in ("linux", "posix"):
        (tmp_path / "exp" / f"{family}.toml").write_text(EXPECTED)

    def run(keyword: str, *extra: str):
        return cli("run", "-q", "--reruns", "0", "--judge", "--cases", str(tmp_path / "mine"),
                   "--expectations", str(tmp_path / "exp"), "-k", keyword,
                   "--out", str(tmp_path / "out"), *extra, cwd=tmp_path)
    return run


def test_run_judge_passes_a_run_that_only_deviates(judged, tmp_path):
    proc = judged("test_deviates")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    assert [r["verdict"] for r in json.loads(path.read_text())["results"]] == ["deviates"]
    assert "judged: passes" in proc.stdout


def test_run_judge_fails_a_run_with_an_error_result(judged):
    proc = judged("test_deviates or test_broken")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "judged: fails" in proc.stdout and "mine.judged.broken" in proc.stdout


def test_run_judge_fails_a_run_its_deadline_stopped(judged, tmp_path):
    # The deadline ends the slow case as `timeout`: no `error` result, but the
    # report is a partial one, so the run did not give a complete answer.
    proc = judged("test_slow", "--deadline", "3")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "judged: fails" in proc.stdout and "partial" in proc.stdout
    assert list((tmp_path / "out" / "partial").glob("*.json"))


def test_run_judge_does_not_combine_with_repeat(judged):
    assert "--repeat" in one_line_error(judged("test_deviates", "--repeat", "2"))
