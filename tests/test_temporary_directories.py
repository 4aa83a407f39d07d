"""The suite's temporary directories do not outlive their run for long (issue 17 item 1).

A run removes its directories however it ends, short of being killed outright;
then the next run removes them (conformance/tempdirs.py). It must never take
a live run's directory, nor one the suite did not make.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance import tempdirs

pytestmark = pytest.mark.skipif(tempdirs.fcntl is None, reason="no flock() on this platform")

HOLDER = """
import sys
from conformance import tempdirs
d = tempdirs.make(sys.argv[1], sys.argv[2])
print(d.name, flush=True)
sys.stdin.read()  # until the test closes it, or kills this process
"""


def _holder(base: Path, prefix: str = "sc-test-") -> tuple[subprocess.Popen[str], Path]:
    """Another process that made a directory under ``base`` and is still running."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, prefix, str(base)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    made = Path(proc.stdout.readline().strip())
    assert made.is_dir(), "the holder made no directory"
    return proc, made


def test_directory_of_a_killed_process_is_swept_by_the_next_one(tmp_path):
    proc, made = _holder(tmp_path)
    (made / "s0").write_text("left behind")
    proc.kill()
    proc.wait()
    assert made.is_dir(), "SIGKILL left nothing behind: the sweep has nothing to prove"
    assert tempdirs.sweep(str(tmp_path)) == [str(made)]
    assert not made.exists()


def test_directory_of_a_live_process_is_kept(tmp_path):
    proc, made = _holder(tmp_path)
    try:
        assert tempdirs.sweep(str(tmp_path)) == []
        assert made.is_dir()
    finally:
        proc.kill()
        proc.wait()
    mine = tempdirs.make("sc-test-", str(tmp_path))
    try:
        assert tempdirs.sweep(str(tmp_path)) == []
        assert Path(mine.name).is_dir()
    finally:
        mine.cleanup()
    assert not Path(mine.name).exists()


def test_directories_the_suite_did_not_make_are_kept(tmp_path):
    proc, dead = _holder(tmp_path, "socket-conformance-test-")
    proc.kill()
    proc.wait()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / tempdirs.MARKER).write_text("")
    foreign = {
        # The suite's prefix, but no marker: someone else's.
        "sc-no-marker": lambda p: p.mkdir(),
        # A marker that is a symbolic link, not the suite's regular file.
        "sc-linked-marker": lambda p: (p.mkdir(),
                                       (p / tempdirs.MARKER).symlink_to(outside / "x")),
        # A symbolic link to a dead run's directory: never followed.
        "socket-conformance-link": lambda p: p.symlink_to(dead),
        # A file, not a directory.
        "sc-file": lambda p: p.write_text(""),
        # Marked, but not the suite's prefix.
        "elsewhere-marked": lambda p: (p.mkdir(), (p / tempdirs.MARKER).write_text("")),
    }
    for name, build in foreign.items():
        build(tmp_path / name)
    if os.geteuid() == 0:
        other = tmp_path / "sc-other-user"
        other.mkdir()
        (other / tempdirs.MARKER).write_text("")
        os.chown(other / tempdirs.MARKER, 65534, 65534)
        os.chown(other, 65534, 65534)
        foreign["sc-other-user"] = None  # type: ignore[assignment]
    assert tempdirs.sweep(str(tmp_path)) == [str(dead)]
    for name in foreign:
        assert os.path.lexists(tmp_path / name), f"{name} was removed"
    assert (outside / tempdirs.MARKER).exists()


def test_a_sandboxed_process_neither_marks_nor_sweeps(tmp_path):
    proc, dead = _holder(tmp_path)
    proc.kill()
    proc.wait()
    code = ("import sys; from conformance import tempdirs; tempdirs.sandboxed(); "
            "d = tempdirs.make('sc-guest-', sys.argv[1]); "
            "import os; print(sorted(os.listdir(d.name)), tempdirs.sweep(sys.argv[1]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout
    # Its host's locks are invisible in a sandbox: a guest sweeping would take
    # live directories for dead, and a guest's lock would not hold for the host.
    assert out.strip() == "[] []"
    assert dead.is_dir()


CASES = '''
import os
import time

from conformance.api import Kit, case, posix


@case("mine.waits", "holds a socket directory until the run is killed", cites=[posix("bind")])
def test_waits(kit: Kit) -> dict[str, str]:
    """Makes its AF_UNIX directory, says where, then waits to be killed."""
    path = kit.address("unix")
    with open(os.environ["SC_TEST_READY"], "w") as f:
        f.write(str(path))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return {"waited": "out"}


@case("mine.quick", "makes a socket directory and returns", cites=[posix("bind")])
def test_quick(kit: Kit) -> dict[str, str]:
    """Makes its AF_UNIX directory (so its base is swept) and returns."""
    kit.address("unix")
    return {"done": "yes"}
'''


def _wait_for(what: str, found, deadline_s: float = 120):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"{what} did not happen within {deadline_s} s")


def test_a_run_killed_outright_leaves_directories_the_next_run_removes(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "test_mine.py").write_text(CASES)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp / "sc-foreign").mkdir()
    ready = tmp_path / "ready"
    env = dict(os.environ, TMPDIR=str(tmp), SC_TEST_READY=str(ready))

    def run(*extra: str, **kwargs):
        argv = [sys.executable, "-m", "conformance", "run", "-q", "--cases", str(cases),
                "--out", str(tmp_path / "out"), *extra]
        return argv, dict(cwd=tmp_path, env=env, **kwargs)

    argv, kw = run("-n", "2", "-k", "waits")
    killed = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, **kw)
    try:
        socket_path = Path(_wait_for("the case's socket directory",
                                     lambda: ready.exists() and ready.read_text()))
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    # pytest's own base (pytest-of-<user>) is pytest's to keep or clean.
    ours = [p for p in tmp.iterdir() if p.name.startswith(tempdirs.PREFIXES)]
    left = {socket_path.parent, *(p for p in ours if p.name != "sc-foreign")}
    names = sorted(p.name.rsplit("-", 1)[0] for p in left)
    # The controller's run directory, the Hypothesis store, the worker's socket directory.
    assert {"socket-conformance-run", "socket-conformance-hypothesis", "sc"} <= set(names), \
        names
    argv, kw = run("-n", "0", "-k", "quick")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [p for p in left if p.exists()] == []
    assert (tmp / "sc-foreign").is_dir(), "a directory the suite did not make was removed"
