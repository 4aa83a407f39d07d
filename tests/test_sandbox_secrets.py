"""What the sandbox runners leave on disk (issue 17 item 6).

The guest needs a few of the caller's environment variables; the job file
that carries them must hold nothing else (no token, no password), must be
gone as soon as the guest has read it, and a run killed outright must not
leave its work directory behind for good.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conformance import tempdirs
from conformance.runners import sandbox
from tests.test_runners import suite_argv

SPY = """
import json, shutil, subprocess, sys
from pathlib import Path
seen, workdir, guest = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
shutil.copy(workdir / "job.json", seen / "job.json")
(seen / "workdir").write_text(str(workdir))
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
    # The guest's temporary files stay inside the run's own work directory (tempdirs.py:
    # a sandbox's locks are invisible to the host's sweep).
    assert Path(env["TMPDIR"]).parent == Path((seen / "workdir").read_text())


KILLED = """
import sys
from pathlib import Path
from conformance import tempdirs
from conformance.runners import sandbox

started = Path(sys.argv[1])
# The "sandbox" says where its work directory is, then runs until it is killed.
HANG = ("import pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text(sys.argv[2]); "
        "time.sleep(300)")


def command(tool, guest, workdir):
    return [sys.executable, "-c", HANG, str(started), str(workdir)]


runner = sandbox.Runner(stack="fake", tool=Path(sys.executable).name, what="fake",
                        install="-", command=command, kernel_hint=lambda: "9.9")
sandbox.run(runner, [], Path(sys.argv[2]), deadline_s=600, echo=None)
"""


def test_work_directory_of_a_run_killed_outright_is_swept_by_the_next_one(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    started = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(started), str(tmp_path / "out")],
                            env=dict(os.environ, TMPDIR=str(tmp)), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    workdir = Path(started.read_text())
    root = workdir.parent
    assert (workdir / "job.json").exists(), "the kill left no job file: nothing to prove"
    assert root.parent == tmp
    # What the next run does first (tempdirs.make sweeps its base once per process).
    assert tempdirs.sweep(str(tmp)) == [str(root)]
    assert not root.exists(), "a killed run's job file stayed on disk"


def test_sigterm_of_a_gvisor_run_leaves_no_work_directory_and_no_secret(tmp_path):
    if shutil.which("runsc") is None:
        pytest.skip("runsc (gVisor) is not installed")
    # runsc puts sockets of its own in TMPDIR: it must be short (sun_path), so not
    # under pytest's base directory.
    tmp = Path(tempfile.mkdtemp(prefix="sigterm-gvisor-"))
    try:
        _sigterm_gvisor(tmp, tmp_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sigterm_gvisor(tmp: Path, tmp_path: Path) -> None:
    secret = "s3cr3t-" + os.urandom(8).hex()
    env = dict(os.environ, TMPDIR=str(tmp), CALLERS_TOKEN=secret)
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "-q", "--platform",
                             "gvisor", "--out", str(tmp_path / "out")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # Signal once a guest is under way (its journal exists), not after a guess.
        deadline = time.monotonic() + 120
        while not list(tmp.glob("socket-conformance-gvisor-*/shard-*/journal.jsonl")):
            assert time.monotonic() < deadline and proc.poll() is None, "no guest started"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    assert proc.wait(timeout=120) == 130, output[-3000:]
    assert not list(tmp.glob("socket-conformance-*")), "SIGTERM left the work directory"
    for path in [*tmp.rglob("*"), *(tmp_path / "out").rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{path} holds the secret"
