"""Outputs: regular files the user asked for, replaced whole, a report as a set.

Each test is an attack on where or how the suite writes (issue 17 items 1, 3
and 7; issue 16 item 5): a device or a symbolic link in place of an output,
a planted link on the way, a kill between two renames, a full disk, a
umask. The good file that was there before must survive every one of them.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli
from conformance.errors import OutputError
from conformance.probe import fingerprint
from conformance.report import write
from tests.conftest import cli as run_cli
from tests.conftest import one_line_error
from tests.test_gate import BASE, report


def _report() -> dict:
    results = [dict(r, sources=[{"text": "fake(2)", "url": None}]) for r in BASE]
    return report(results)


def write_report(path: Path, rep: dict) -> Path:
    path.write_text(json.dumps(rep))
    return path


def _good_set(out: Path) -> dict[str, bytes]:
    paths = write.write_all(_report(), out)
    return {p.name: p.read_bytes() for p in paths.values()}


def _contents(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def _other_uid() -> int:
    if os.geteuid() != 0:
        pytest.skip("planting a link owned by another user needs root")
    return 65534


@pytest.fixture
def old_umask():
    saved = os.umask(0o022)
    yield
    os.umask(saved)


def test_report_files_follow_the_umask(tmp_path, old_umask):
    os.umask(0o027)
    paths = write.write_all(_report(), tmp_path)
    for p in paths.values():
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p


def test_replaced_report_keeps_its_0644_mode_and_does_not_turn_0600(tmp_path, old_umask):
    paths = write.write_all(_report(), tmp_path)
    for p in paths.values():
        p.chmod(0o644)
    os.umask(0o077)
    write.write_all(_report(), tmp_path)
    for p in paths.values():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_full_disk_replaces_nothing_and_says_so(tmp_path, monkeypatch):
    before = _good_set(tmp_path)
    real = os.fsync
    calls = []

    def enospc(fd):
        calls.append(fd)
        if len(calls) == 2:  # the md: the json's temporary is already complete
            raise OSError(28, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", enospc)
    with pytest.raises(OutputError, match=r"No space left on device.*nothing was replaced"):
        write.write_all(_report(), tmp_path)
    assert _contents(tmp_path) == before, "a file of the set was replaced, or a temporary left"


def test_kill_between_renames_is_finished_by_the_next_writer(tmp_path, monkeypatch):
    """A writer killed after renaming the json but before the md and html leaves
    its note; whoever next checks the directory completes the set."""
    old = _good_set(tmp_path)
    new_report = _report()
    new_report["finished"] = "2030-01-01T00:00:00+00:00"
    real = os.replace
    renames = []

    def die_after_first_report_rename(src, dst):
        real(src, dst)
        if not Path(dst).name.startswith("."):
            renames.append(dst)
            if len(renames) == 1:
                raise SystemExit("killed")

    monkeypatch.setattr(os, "replace", die_after_first_report_rename)
    monkeypatch.setattr(write, "_writer_gone", lambda *a: True)
    with pytest.raises(SystemExit):
        write.write_all(new_report, tmp_path)
    monkeypatch.setattr(os, "replace", real)
    mixed = _contents(tmp_path)
    assert sum(mixed.get(n) != old[n] for n in old) == 1, "the kill came after one rename"
    write.check_directory(tmp_path)
    done = _contents(tmp_path)
    assert set(done) == set(old), f"left behind: {set(done) - set(old)}"
    assert all(done[n] != old[n] for n in old), "the set was not completed"
    assert json.loads(done[f"{new_report['platform']['id']}.json"])["finished"].startswith("2030")


def test_stale_temporaries_of_a_dead_writer_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = tmp_path / f"{write.TMP_PREFIX}{dead}-abcd1234.linux-host.json"
    orphan.write_text("{")
    live = tmp_path / f"{write.TMP_PREFIX}{os.getpid()}-abcd1234.linux-host.md"
    live.write_text("x")
    write.check_directory(tmp_path)
    assert not orphan.exists(), "a dead writer's temporary was left"
    assert live.exists(), "a live writer's temporary was removed under it"


def test_killed_report_writer_leaves_no_temporary_behind_for_long(tmp_path):
    """kill -9 in the middle of writing: whatever it left, the next check removes."""
    script = (
        "import os, sys\n"
        "from conformance.report import write\n"
        "from tests.test_outputs import _report\n"
        "real = os.replace\n"
        "def kill(src, dst):\n"
        "    real(src, dst)\n"
        "    os.kill(os.getpid(), 9)\n"
        "os.replace = kill\n"
        f"write.write_all(_report(), __import__('pathlib').Path({str(tmp_path)!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent,
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert any(p.name.startswith(".") for p in tmp_path.iterdir())
    write.check_directory(tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_partial_report_goes_beside_the_complete_one(tmp_path):
    before = _good_set(tmp_path)
    paths = write.write_all(_report(), tmp_path, partial="interrupted")
    assert paths["json"].parent == tmp_path / write.PARTIAL_DIR
    assert _contents(tmp_path) == before
    note = write.partial_note(paths, "interrupted")
    assert "did not complete (interrupted)" in note and str(paths["json"]) in note


def test_interrupted_run_keeps_previous_report(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    previous = out / f"{fingerprint('host').id}.json"
    previous.write_text("the last complete report\n")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "-q", "--out",
                             str(out)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    proc.stdout.read(1)  # the first result's progress mark: the run is under way
    proc.send_signal(signal.SIGINT)
    output = proc.stdout.read().decode()
    proc.wait(timeout=120)
    assert previous.read_text() == "the last complete report\n", output[-2000:]
    partial = out / write.PARTIAL_DIR / previous.name
    assert partial.exists(), output[-2000:]
    assert "did not complete (interrupted)" in output


def test_keyword_matching_nothing_keeps_the_previous_report(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    previous = out / f"{fingerprint('host').id}.json"
    previous.write_text("the last complete report\n")
    proc = run_cli("run", "-q", "--out", str(out), "-k", "no_such_case_anywhere", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no case instance matched" in proc.stderr
    assert previous.read_text() == "the last complete report\n"
    assert sorted(p.name for p in out.iterdir()) == [previous.name]


@pytest.mark.parametrize("device", ["/dev/null", "/dev/stdout"])
def test_junit_to_a_device_or_its_link_is_refused_not_replaced(tmp_path, device):
    before = os.lstat(device)
    proc = run_cli("run", "--out", str(tmp_path / "out"), "--junit", device, cwd=tmp_path)
    line = one_line_error(proc)
    assert device in line and ("device" in line or "symbolic link" in line)
    after = os.lstat(device)
    assert (after.st_mode, after.st_ino, after.st_rdev) == \
        (before.st_mode, before.st_ino, before.st_rdev)
    assert not (tmp_path / "out").exists(), "something was written before the refusal"


def test_junit_to_dev_null_is_refused_not_replaced(tmp_path):
    with pytest.raises(OutputError, match="character device"):
        write.check_file(Path("/dev/null"), "--junit")
    with pytest.raises(OutputError, match="character device"):
        write.atomic_write(Path("/dev/null"), "<testsuites/>", "--junit")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_gate_markdown_to_a_device_or_fifo_is_refused(tmp_path, capsys):
    base = write_report(tmp_path / "old.json", _report())
    fifo = tmp_path / "summary.fifo"
    os.mkfifo(fifo)
    for target in ("/dev/null", str(fifo)):
        code = cli.main(["gate", "--baseline", str(base), str(base), "--markdown", target])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is a" in err[0], err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_file_that_is_a_symlink_is_refused(tmp_path):
    target = tmp_path / "elsewhere.xml"
    target.write_text("keep")
    link = tmp_path / "results.xml"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        write.check_file(link, "--junit")
    with pytest.raises(OutputError, match="symbolic link"):
        write.atomic_write(link, "x", "--junit")
    assert link.is_symlink() and target.read_text() == "keep"


def test_out_through_a_symlink_planted_in_a_world_writable_directory_is_refused(tmp_path):
    uid = _other_uid()
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.mkdir()
    planted = shared / "reports"
    planted.symlink_to(victim)
    os.lchown(planted, uid, uid)
    proc = run_cli("run", "--out", str(planted), cwd=tmp_path)
    line = one_line_error(proc)
    assert "symbolic link owned by another user" in line
    assert list(victim.iterdir()) == []


def test_own_symlinked_out_directory_is_still_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert write.check_directory(tmp_path / "link") == tmp_path / "link"


def _unwritable(tmp_path, name):
    """A path in a directory this user cannot write to."""
    if os.geteuid() == 0:
        return Path("/proc") / name  # root may write anywhere a file system allows
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return locked / name


def test_junit_into_unwritable_directory_is_refused_up_front(tmp_path):
    target = _unwritable(tmp_path, "results.xml")
    proc = run_cli("run", "--out", str(tmp_path / "out"), "--junit", str(target), cwd=tmp_path)
    line = one_line_error(proc)
    assert "--junit" in line and "cannot write" in line
    assert not (tmp_path / "out").exists()


def test_report_under_a_platform_id_that_is_a_path_is_refused(tmp_path):
    rep = _report()
    rep["platform"]["id"] = "../escaped"
    with pytest.raises(OutputError, match="not a plain file name"):
        write.write_all(rep, tmp_path / "out")
    assert not (tmp_path / "escaped.json").exists()


def test_compare_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    base = write_report(tmp_path / "old.json", _report())

    def enospc(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", enospc)
    assert cli.main(["compare", str(base), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0], err
    assert not [p for p in (tmp_path / "m").iterdir()]


def test_cases_into_dev_full_is_one_line_not_a_traceback(tmp_path):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "conformance", "cases"], cwd=tmp_path,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "socket-conformance: standard output failed (No space left on device); the rest of "
        "it was dropped and the command went on without it"]


def test_cases_into_a_closed_pipe_is_one_line_not_a_traceback(tmp_path):
    read, write_end = os.pipe()
    os.close(read)  # `cases | head -3` once head has exited
    try:
        proc = subprocess.run([sys.executable, "-m", "conformance", "cases"], cwd=tmp_path,
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Broken pipe" in proc.stderr


def test_run_into_a_closed_pipe_still_writes_its_report(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--out", str(out),
                             "-k", "test_bind"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "Traceback" not in err and "Broken pipe" in err, err
    (report,) = out.glob("*.json")
    assert json.loads(report.read_text())["results"]



def test_run_into_dev_full_still_writes_its_report(tmp_path):
    """`run ... > /dev/full` once aborted in the report model (KeyError: None) and
    wrote nothing: standard output is lost, the report is not."""
    out = tmp_path / "out"
    # Block-buffered, as a user's standard output is: unbuffered, nothing is left
    # for the interpreter's last flush, which once failed (exit 120) after
    # pytest's capturing put the failing descriptor back.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--out", str(out),
                               "-k", "test_bind"], cwd=tmp_path, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=300, env=env)
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr, \
        proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("*.json")
    assert json.loads(path.read_text())["results"]


def _mount_namespace() -> list[str]:
    for prefix in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0:
                return prefix
        except OSError:
            break
    pytest.skip("unshare --mount is not permitted here")


def test_junit_on_a_full_file_system_is_one_line_and_the_report_stays(tmp_path):
    """A JUnit file on a file system that fills up while it is written: one line
    saying nothing was replaced, and the report (on another disk) is written."""
    full = tmp_path / "full"
    full.mkdir()
    # 8 KiB of tmpfs: room for the up-front check, not for a hundred test cases.
    script = 'mount -t tmpfs -o size=8k none "$0" && exec "$@"'
    proc = subprocess.run(
        [*_mount_namespace(), "sh", "-c", script, str(full), sys.executable, "-m",
         "conformance", "run", "-q", "--out", str(tmp_path / "out"), "-k", "test_bind",
         "--junit", str(full / "results.xml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    line = one_line_error(proc)
    assert "results.xml" in line and "No space left on device" in line, line
    assert "nothing was replaced" in line
    (path,) = (tmp_path / "out").glob("*.json")
    assert json.loads(path.read_text())["results"]


def test_gate_markdown_into_unwritable_directory_is_refused_up_front(tmp_path):
    target = _unwritable(tmp_path, "summary.md")
    base = write_report(tmp_path / "old.json", _report())
    line = one_line_error(run_cli("gate", "--baseline", str(base), str(base), "--markdown",
                                  str(target), cwd=tmp_path))
    assert "--markdown" in line and "cannot write" in line, line

def _nproc_limit(n: int):
    def preexec() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))

    return preexec


def test_low_process_limit_runs_in_process_with_one_line_and_a_report(tmp_path):
    """`ulimit -u 8` with -n 2: the workers could never start (pages of
    INTERNALERROR, no report); the run says so in one line and runs in-process."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "-q", "-n", "2",
                           "--out", str(out), "-k", "test_bind"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_nproc_limit(8))
    assert "INTERNALERROR" not in proc.stdout + proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "ulimit -u 8" in ln]
    assert len(warnings) == 1 and "running the cases in this process" in warnings[0]
    (report,) = out.glob("*.json")
    assert json.loads(report.read_text())["results"]


def test_worker_room_counts_the_tasks_a_worker_needs(monkeypatch):
    import resource

    from conformance import checks

    monkeypatch.setattr(resource, "getrlimit", lambda what: (8, 8))
    monkeypatch.setattr(checks, "_tasks_of", lambda uid: 2)
    assert "ulimit -u 8" in checks.worker_room(2)
    assert checks.worker_room(0) is None
    monkeypatch.setattr(resource, "getrlimit", lambda what: (4096, 4096))
    assert checks.worker_room(8) is None
