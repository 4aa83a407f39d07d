"""What the sandbox runners leave on disk (issue 17 item 6).

The guest needs a few of the caller's environment variables; the job file
that carries them must hold nothing else (no token, no password), must be
gone as soon as the guest has read it, and a run killed outright must not
leave its work directory behind for good.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conformance.runners import sandbox
from tests.test_runners import suite_argv

SPY = """
import json, shutil, subprocess, sys
from pathlib import Path
seen, workdir, guest = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
shutil.copy(workdir / "job.json", seen / "job.json")
code = subprocess.call(guest)
(seen / "left.json").write_text(json.dumps(sorted(p.name for p in workdir.iterdir())))
sys.exit(code)
"""


def test_job_file_holds_only_what_the_guest_needs_and_is_gone_once_read(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-key")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_s3cr3t")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    spy = tmp_path / "spy.py"
    spy.write_text(SPY)
    seen = tmp_path / "seen"
    seen.mkdir()

    def command(tool: str, guest: list[str], workdir: Path) -> list[str]:
        return [sys.executable, str(spy), str(seen), str(workdir), *guest]

    runner = sandbox.Runner(stack="fake", tool=Path(sys.executable).name, what="fake",
                            install="-", command=command, kernel_hint=lambda: "9.9")
    code, _report = sandbox.run(runner, suite_argv(), tmp_path / "out", deadline_s=120,
                                echo=None)
    assert code == 0
    job = (seen / "job.json").read_text()
    assert "s3cr3t" not in job
    env = json.loads(job)["env"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["SOCKET_CONFORMANCE_STACK"] == "fake"
    assert "PATH" in env
    assert "job.json" not in json.loads((seen / "left.json").read_text())


def test_work_directory_of_a_killed_run_is_swept_by_the_next_one():
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    orphan = Path(tempfile.mkdtemp(prefix=f"socket-conformance-fake-{dead}-"))
    (orphan / "job.json").write_text("{}")
    mine = Path(tempfile.mkdtemp(prefix=f"socket-conformance-fake-{os.getpid()}-"))
    try:
        sandbox.sweep_work_dirs("fake")
        assert not orphan.exists(), "a killed run's job file stayed on disk"
        assert mine.exists(), "a running run's work directory was removed under it"
    finally:
        sandbox.shutil.rmtree(mine, ignore_errors=True)
        sandbox.shutil.rmtree(orphan, ignore_errors=True)
