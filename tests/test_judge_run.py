"""The CI judging step: a platform job fails on breakage or regression, never on deviation."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

JUDGE = Path(__file__).resolve().parent.parent / ".github" / "judge_run.py"


@pytest.fixture
def judge():
    main = runpy.run_path(str(JUDGE))["main"]
    return lambda *args: main([str(a) for a in args])


def _report(directory: Path, verdicts: list[str]) -> Path:
    directory.mkdir(exist_ok=True)
    results = [{"id": f"x.case{i}", "params": {"family": "inet"}, "verdict": v,
                "message": "boom" if v == "error" else ""} for i, v in enumerate(verdicts)]
    path = directory / "linux-6.18-x86_64-host.json"
    path.write_text(json.dumps({"platform": {"stack": "host"}, "results": results,
                                "summary": {}}))
    return path


def test_a_deviating_platform_passes(tmp_path, judge):
    _report(tmp_path / "r", ["conforms", "deviates"])
    assert judge(1, tmp_path / "r", tmp_path / "none.json") == 0


@pytest.mark.parametrize("code", [2, 130, "", "x"])
def test_a_broken_run_fails(tmp_path, judge, code):
    _report(tmp_path / "r", ["conforms"])
    assert judge(code, tmp_path / "r", tmp_path / "none.json") == 1


def test_an_error_result_fails_and_is_named(tmp_path, judge, capsys):
    _report(tmp_path / "r", ["conforms", "error"])
    assert judge(1, tmp_path / "r", tmp_path / "none.json") == 1
    assert "x.case1" in capsys.readouterr().out


def test_no_report_fails(tmp_path, judge):
    (tmp_path / "r").mkdir()
    assert judge(0, tmp_path / "r", tmp_path / "none.json") == 1


def test_a_missing_baseline_is_said_in_the_summary(tmp_path, judge, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _report(tmp_path / "r", ["conforms"])
    assert judge(0, tmp_path / "r", tmp_path / "none.json") == 0
    assert "regression check skipped" in summary.read_text()


def test_two_reports_in_one_directory_fail(tmp_path, judge):
    path = _report(tmp_path / "r", ["conforms"])
    path.with_name("other-platform.json").write_text(path.read_text())
    assert judge(0, tmp_path / "r", tmp_path / "none.json") == 1
