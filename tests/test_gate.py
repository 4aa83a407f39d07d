"""The gate: each outcome from crafted reports, bad inputs, and run --baseline end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli
from conformance.errors import ReportError
from conformance.probe import Platform, fingerprint
from conformance.report import gate, model

EXPECTED = {"accept": [{"errno": "EAGAIN"}], "source": "fake(2)", "url": None, "when": {},
            "open": False}


def result(case_id: str, verdict: str = "conforms", observation: dict | None = None,
           **params: str) -> dict:
    obs = {"errno": "EAGAIN"} if observation is None else observation
    return {
        "id": case_id, "params": params,
        "nodeid": f"cases/test_x.py::test_x[{'-'.join(params.values())}]",
        "title": "t", "level": "must", "area": case_id.split(".")[0], "citations": [],
        "verdict": verdict, "observation": obs, "detail": {"port": 40000},
        "expected": EXPECTED, "portable": True, "sources": [{"text": "fake(2)"}],
        "duration_s": 0.01, "message": "",
    }


def flaky(case_id: str, **params: str) -> dict:
    r = result(case_id, "flaky", **params)
    r["attempts"] = [
        {"verdict": "deviates", "observation": {"errno": "EINVAL"}, "message": "m",
         "duration_s": 0.01},
        {"verdict": "conforms", "observation": {"errno": "EAGAIN"}, "message": "",
         "duration_s": 0.01},
    ]
    r["message"] = "failed, then conforms on a re-run: deviates -> conforms"
    return r


def report(results: list[dict], **platform: str) -> dict:
    fields = dict(id="linux-6.18-x86_64-host", os="linux", release="6.18.4", kernel="6.18",
                  arch="x86_64", libc="glibc 2.36", python="cpython 3.11.7", stack="host",
                  capabilities={"ipv6": True})
    fields.update(platform)
    rep = model.build(Platform(**fields), results, "2025-01-01T00:00:00+00:00")
    model.validate(rep, "crafted")
    return rep


BASE = [
    result("accept.a", family="inet"),
    result("accept.a", family="inet6"),
    result("bind.b", "deviates", {"errno": "EINVAL"}),
    result("bind.c", "unsupported", {"feature": "absent"}),
]


def kinds(outcome: gate.Outcome) -> list[tuple[str, str]]:
    return [(f.kind, f.name) for f in outcome.findings]


def test_a_report_against_itself_has_no_findings():
    out = gate.compare(report(BASE), report(BASE))
    assert out.findings == [] and out.exit_code == 0 and out.compared == 4


def test_conforms_to_deviates_is_a_regression_that_fails():
    new = [*BASE[:1], result("accept.a", "deviates", {"errno": "EINVAL"}, family="inet6"),
           *BASE[2:]]
    out = gate.compare(report(BASE), report(new))
    assert kinds(out) == [("regression", "accept.a [family=inet6]")]
    assert out.exit_code == 1
    assert "conforms -> deviates: observed errno=EINVAL, was errno=EAGAIN; expected errno=EAGAIN" \
        in gate.text(out)[1]


@pytest.mark.parametrize("old", ["unsupported", "skipped", "undocumented", "flaky"])
@pytest.mark.parametrize("new", ["timeout", "error"])
def test_any_acceptable_verdict_turning_failing_is_a_regression(old, new):
    out = gate.compare(report([result("x.y", old)]), report([result("x.y", new)]))
    assert kinds(out) == [("regression", "x.y")] and out.exit_code == 1


def test_observation_change_while_conforming_fails_only_when_strict():
    new = [result("accept.a", observation={"errno": "EAGAIN", "extra": 1}, family="inet"),
           *BASE[1:]]
    loose, strict = (gate.compare(report(BASE), report(new), strict=s) for s in (False, True))
    assert kinds(loose) == [("changed", "accept.a [family=inet]")]
    assert loose.exit_code == 0 and strict.exit_code == 1
    assert "conforms: observed errno=EAGAIN, extra=1, was errno=EAGAIN" in gate.describe(
        loose.findings[0])


def test_a_known_deviation_that_moves_is_a_change_not_a_regression():
    new = [*BASE[:2], result("bind.b", "timeout", None), *BASE[3:]]
    out = gate.compare(report(BASE), report(new))
    assert kinds(out) == [("changed", "bind.b")] and out.exit_code == 0


def test_verdict_change_between_acceptable_verdicts_is_a_change():
    new = [*BASE[:3], result("bind.c", "conforms")]
    out = gate.compare(report(BASE), report(new))
    assert kinds(out) == [("changed", "bind.c")]


def test_detail_message_and_timings_are_not_behaviour():
    new = [dict(r, detail={"port": 51234}, duration_s=9.0, message="other", nodeid="n")
           for r in BASE]
    assert gate.compare(report(BASE), report(new)).findings == []


def test_new_instance_is_reported_and_does_not_fail():
    out = gate.compare(report(BASE), report([*BASE, result("listen.l")]))
    assert kinds(out) == [("new", "listen.l")] and out.exit_code == 0


def test_new_instance_that_fails_is_a_regression():
    out = gate.compare(report(BASE), report([*BASE, result("listen.l", "deviates")]))
    assert kinds(out) == [("regression", "listen.l")] and out.exit_code == 1
    assert "(new instance)" in gate.describe(out.findings[0])


def test_removed_instance_fails():
    out = gate.compare(report(BASE), report(BASE[1:]))
    assert kinds(out) == [("removed", "accept.a [family=inet]")] and out.exit_code == 1
    assert "now absent" in gate.text(out)[1]


def test_newly_conforming_is_reported_as_fixed_and_does_not_fail():
    new = [*BASE[:2], result("bind.b", "conforms"), *BASE[3:]]
    out = gate.compare(report(BASE), report(new), strict=True)
    assert kinds(out) == [("fixed", "bind.b")] and out.exit_code == 0
    assert gate.describe(out.findings[0]).startswith("deviates -> conforms")


def test_flaky_passes_the_gate_unless_strict():
    new = [flaky("accept.a", family="inet"), *BASE[1:]]
    loose, strict = (gate.compare(report(BASE), report(new), strict=s) for s in (False, True))
    assert kinds(loose) == [("flaky", "accept.a [family=inet]")]
    assert loose.exit_code == 0 and strict.exit_code == 1
    line = gate.describe(loose.findings[0])
    assert "deviates errno=EINVAL, conforms errno=EAGAIN" in line


def test_baseline_flake_that_settled_is_fixed():
    old = [flaky("accept.a", family="inet"), *BASE[1:]]
    out = gate.compare(report(old), report(BASE), strict=True)
    assert kinds(out) == [("fixed", "accept.a [family=inet]")] and out.exit_code == 0


def test_findings_come_in_a_fixed_order_and_the_summary_counts_them():
    new = [flaky("accept.a", family="inet"), result("bind.b", "conforms"),
           result("bind.c", "deviates"), result("new.n")]
    out = gate.compare(report(BASE), report(new))
    assert [f.kind for f in out.findings] == ["regression", "removed", "flaky", "new", "fixed"]
    assert gate.text(out)[-1] == ("gate: FAIL: regression 1, removed 1, flaky 1, changed 0, "
                                  "new 1, fixed 1; 3 instances in both reports")


def test_text_is_aligned_one_line_per_finding():
    new = [result("bind.c", "deviates"), result("a.much.longer.case.id", family="inet6")]
    out = gate.compare(report(BASE), report(new))
    body = gate.text(out)[1:-1]
    assert len(body) == len(out.findings) == 5
    pairs = list(zip(body, out.findings, strict=True))
    assert {line.index(f.name) for line, f in pairs} == {len("! REGRESSION  ")}
    assert len({line.index(gate.describe(f)) for line, f in pairs}) == 1
    # "!" marks exactly the findings that fail the gate.
    assert [line[0] for line in body] == ["!" if f.fails(False) else " " for f in out.findings]


def test_a_kernel_or_python_upgrade_is_the_same_platform():
    new = report(BASE, id="linux-6.19-x86_64-host", release="6.19.1", kernel="6.19",
                 python="cpython 3.13.1")
    out = gate.compare(report(BASE), new)
    assert out.exit_code == 0
    assert gate.text(out)[1] == ("platform changes: release 6.18.4 -> 6.19.1, "
                                 "python cpython 3.11.7 -> cpython 3.13.1")


@pytest.mark.parametrize("field,value", [("stack", "gvisor"), ("arch", "arm64"),
                                         ("os", "darwin")])
def test_different_platforms_are_refused_naming_both(field, value):
    with pytest.raises(ReportError, match=r"baseline linux-6.18-x86_64-host and new other-id"):
        gate.compare(report(BASE), report(BASE, id="other-id", **{field: value}))


def test_a_report_listing_an_instance_twice_is_refused():
    with pytest.raises(ReportError, match=r"lists accept.a \[family=inet\] twice"):
        gate.compare(report(BASE), report([*BASE, BASE[0]]))


def test_markdown_has_counts_and_one_row_per_finding():
    new = [*BASE[:1], result("accept.a", "deviates", {"errno": "EINVAL"}, family="inet6"),
           *BASE[2:], result("p.q|r")]
    md = gate.markdown(gate.compare(report(BASE), report(new)))
    assert md.startswith("## socket-conformance gate: FAIL\n")
    assert "| 1 | 0 | 0 | 0 | 1 | 0 |" in md
    assert "| fails | **regression** | `accept.a` | family=inet6 | conforms -> deviates" in md
    assert "`p.q\\|r`" in md


def test_markdown_without_findings_says_so():
    assert "No differences." in gate.markdown(gate.compare(report(BASE), report(BASE)))


# --- the command line -------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    def write(name: str, rep: dict | str) -> str:
        path = tmp_path / name
        path.write_text(rep if isinstance(rep, str) else json.dumps(rep, indent=2))
        return str(path)

    return write


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_exit_zero_against_itself(files, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    path = files("a.json", report(BASE))
    assert cli.main(["gate", "--baseline", path, path]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("gate: ok:")


def test_cli_exit_one_names_the_regressed_case(files, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    new = [*BASE[:1], result("accept.a", "deviates", {"errno": "EINVAL"}, family="inet6"),
           *BASE[2:]]
    code = cli.main(["gate", "--baseline", files("a.json", report(BASE)),
                     files("b.json", report(new))])
    assert code == 1
    assert "REGRESSION  accept.a [family=inet6]" in capsys.readouterr().out


def test_cli_strict_flag(files, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    old, new = files("a.json", report(BASE)), files("b.json", report(
        [flaky("accept.a", family="inet"), *BASE[1:]]))
    assert cli.main(["gate", "--baseline", old, new]) == 0
    assert cli.main(["gate", "--strict", "--baseline", old, new]) == 1


def test_cli_writes_markdown_and_appends_to_the_job_summary(files, tmp_path, monkeypatch):
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    path = files("a.json", report(BASE))
    md = tmp_path / "gate.md"
    assert cli.main(["gate", "--baseline", path, path, "--markdown", str(md)]) == 0
    assert md.read_text().startswith("## socket-conformance gate: ok")
    assert summary.read_text() == "earlier step\n" + md.read_text()


def _newer() -> dict:
    rep = report(BASE)
    rep["schema"] = "socket-conformance/report/2"
    # A newer writer may also have changed fields; the version must be what is named.
    rep["results"][0]["verdict"] = "some-new-verdict"
    del rep["summary"]
    return rep


@pytest.mark.parametrize("bad,expect", [
    (lambda: json.dumps(report(BASE))[:300], "not JSON"),
    (lambda: "hello, world", "not JSON"),
    (lambda: "", "not JSON"),
    (lambda: json.dumps(_newer()), "written by a newer socket-conformance"),
    (lambda: json.dumps({"schema": "something/else"}), "not a socket-conformance report"),
    (lambda: json.dumps([1, 2]), "not a socket-conformance report"),
])
def test_bad_baseline_is_one_line_and_exit_two(bad, expect, files, capsys):
    good = files("good.json", report(BASE))
    code = cli.main(["gate", "--baseline", files("bad.json", bad()), good])
    assert code == 2
    line = one_line(capsys)
    assert line.startswith("socket-conformance: error: baseline ") and expect in line, line


def test_missing_new_report_is_one_line(files, tmp_path, capsys):
    code = cli.main(["gate", "--baseline", files("a.json", report(BASE)),
                     str(tmp_path / "nope.json")])
    assert code == 2 and "new report" in one_line(capsys)


def test_different_platforms_are_one_line_naming_both_ids(files, capsys):
    code = cli.main(["gate", "--baseline", files("a.json", report(BASE)),
                     files("b.json", report(BASE, id="linux-4.4-gvisor", stack="gvisor"))])
    assert code == 2
    line = one_line(capsys)
    assert "linux-6.18-x86_64-host" in line and "linux-4.4-gvisor" in line


def test_markdown_into_a_missing_directory_is_refused_before_reading(files, tmp_path, capsys):
    path = files("a.json", report(BASE))
    code = cli.main(["gate", "--baseline", path, path, "--markdown",
                     str(tmp_path / "no" / "such" / "g.md")])
    assert code == 2 and "does not exist" in one_line(capsys)


# --- run --baseline ------------------------------------------------------------------------


def test_run_refuses_a_bad_baseline_before_running_or_writing(files, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "--out", str(out), "--baseline",
                     files("bad.json", json.dumps(report(BASE))[:200])])
    assert code == 2 and "baseline" in one_line(capsys)
    assert not out.exists()


def test_run_refuses_a_baseline_of_another_platform_before_running(files, tmp_path, capsys):
    out = tmp_path / "out"
    other = report(BASE, id="linux-6.18-x86_64-gvisor", stack="gvisor")
    code = cli.main(["run", "--out", str(out), "--baseline", files("g.json", other)])
    assert code == 2 and "linux-6.18-x86_64-gvisor" in one_line(capsys)
    assert not out.exists()


def test_run_refuses_a_junit_path_in_a_missing_directory(tmp_path, capsys):
    code = cli.main(["run", "--out", str(tmp_path / "out"), "--junit",
                     str(tmp_path / "missing" / "j.xml")])
    assert code == 2 and "--junit" in one_line(capsys)


def test_run_rejects_a_bad_reruns_value(capsys):
    assert cli.main(["run", "--reruns", "-1"]) == 2
    assert "--reruns" in one_line(capsys)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": ""})


def test_run_with_baseline_gates_in_one_step(tmp_path, load_report):
    """A narrow real run, gated against its own report, then against an edited one."""
    select = ["-q", "-k", "port_zero_ephemeral", "--out", "out"]
    first = _cli("run", *select, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    assert path.stem == fingerprint("host").id
    baseline = load_report(path)

    again = _cli("run", *select, "--baseline", str(path), "--junit", "j.xml", cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr
    assert "gate: ok:" in again.stdout and (tmp_path / "j.xml").exists()

    # The baseline says one instance deviated and one observed something else:
    # now it conforms (fixed, passes) and its observation changed (fails --strict).
    edited = json.loads(json.dumps(baseline))
    edited["results"][0]["verdict"] = "deviates"
    edited["results"][1]["observation"] = {"errno": "EADDRINUSE"}
    old = tmp_path / "edited.json"
    old.write_text(json.dumps(edited))
    loose = _cli("run", *select, "--baseline", str(old), cwd=tmp_path)
    assert loose.returncode == 0, loose.stdout[-2000:]
    assert "FIXED" in loose.stdout and "CHANGED" in loose.stdout
    strict = _cli("run", *select, "--baseline", str(old), "--strict", cwd=tmp_path)
    assert strict.returncode == 1, strict.stdout[-2000:]
    assert "gate: FAIL (strict)" in strict.stdout
