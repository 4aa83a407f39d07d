"""Runs that do not finish normally still leave a report the tools accept.

A worker killed or stopped, a session stopped by ``-x``, Ctrl-C, SIGTERM, a
deadline: the instances that never reported keep their case id and params
and say why, the report validates, and ``gate`` accepts it against itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance import cli
from conformance.report.model import validate

EXPECT = '''
[["fake.fine"]]
accept = [{ errno = "EAGAIN" }]
source = "fake man page"
'''

CASES = '''
import os
import signal
import time
from conformance.case import case, posix

CITE = [posix("accept")]


@case("fake.fails", "deviates", cites=CITE)
def test_fails(kit):
    """Deviates (no expectation admits EINVAL); first, so -x leaves the rest unrun."""
    return {"errno": "EINVAL"}


@case("fake.fine", "conforms", cites=CITE, params={"n": ["1", "2", "3", "4"]})
def test_fine(n, kit):
    """Conforms."""
    return {"errno": "EAGAIN"}


@case("fake.dies", "its process dies", cites=CITE, params={"how": ["stop"]})
def test_dies(how, kit):
    """Kills or stops the process running it (an xdist worker)."""
    os.kill(os.getpid(), getattr(signal, os.environ["FAKE_SIGNAL"]))
    time.sleep(30)
    return {"errno": "EAGAIN"}

'''


def _session(pytester, signal_name: str, *extra: str, subprocess: bool = True):
    exp = pytester.mkdir("exp")
    (exp / "linux.toml").write_text(EXPECT + EXPECT.replace("fake.fine", "fake.fails"))
    pytester.makepyfile(test_fake=CASES)
    out = pytester.path / "out"
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    os.environ["FAKE_SIGNAL"] = signal_name
    try:
        result = run("-p", "conformance.plugin", "--conformance-out", str(out),
                     "--conformance-expectations", str(exp), "--conformance-reruns", "0",
                     *extra)
    finally:
        del os.environ["FAKE_SIGNAL"]
    (path,) = out.rglob("*.json")
    return result, path


def _gate_accepts_itself(path: Path, capsys) -> dict:
    report = json.loads(path.read_text())
    validate(report, str(path))
    assert cli.main(["gate", "--baseline", str(path), str(path)]) == 0
    assert "gate: ok" in capsys.readouterr().out
    return {(r["id"], json.dumps(r["params"])): r for r in report["results"]}


def test_killed_worker_instance_is_an_error_with_its_case_id(session, capsys):
    result, path = _session(session, "SIGKILL", "-n", "2", "-k", "not fails")
    by = _gate_accepts_itself(path, capsys)
    dead = by["fake.dies", '{"how": "stop"}']
    assert dead["verdict"] == "error" and "crashed while it ran" in dead["message"]
    assert [by["fake.fine", json.dumps({"n": n})]["verdict"] for n in "1234"] == \
        ["conforms"] * 4
    assert result.ret == 1


def test_stopped_worker_ends_as_timeout_and_run_completes(session, capsys):
    started = time.monotonic()
    result, path = _session(session, "SIGSTOP", "-n", "2", "-k", "not fails", "--timeout", "1")
    # The guard (1 s) plus the watchdog's grace, plus start-up: never a hang.
    assert time.monotonic() - started < 60
    by = _gate_accepts_itself(path, capsys)
    stopped = by["fake.dies", '{"how": "stop"}']
    assert stopped["verdict"] == "timeout", stopped["message"]
    assert "gave no sign of life" in stopped["message"]
    assert {r["verdict"] for k, r in by.items() if k[0] == "fake.fine"} == {"conforms"}
    assert result.ret == 1


def test_session_stopped_by_x_says_what_never_ran(session, capsys):
    _result, path = _session(session, "SIGKILL", "-x", "-k", "fails or fine",
                             subprocess=False)
    assert path.parent.name == "partial"
    by = _gate_accepts_itself(path, capsys)
    assert by["fake.fails", "{}"]["verdict"] == "deviates"
    not_run = [r for k, r in by.items() if k[0] == "fake.fine"]
    assert len(not_run) == 4
    assert all(r["verdict"] == "skipped" and r["message"].startswith("not run: the session "
                                                                     "stopped early")
               for r in not_run), not_run
    report = json.loads(path.read_text())
    assert report["interrupted"] is None


def test_bad_keyword_expression_writes_no_report(session):
    session.makepyfile(test_fake=CASES)
    out = session.path / "out"
    result = session.runpytest("-p", "conformance.plugin", "--conformance-out", str(out),
                               "-k", "(")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not list(out.rglob("*.json"))


def _start_run(tmp_path: Path, *extra: str, **env_extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmp_path / "tmp"), **env_extra)
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--out",
                             str(tmp_path / "out"), *extra], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    # Wait for the line that counts the collected instances: the run is under way.
    for line in iter(proc.stdout.readline, b""):
        if b"case instances" in line:
            break
    return proc


def test_ctrl_c_stops_promptly_with_an_interrupted_report_and_exit_130(tmp_path, capsys):
    """The whole catalogue and a case that waits 600 s: only the interrupt ends this run,
    so ending it, well within that, is the proof of promptness."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "test_mine.py").write_text(WAITS)
    ready = tmp_path / "ready"
    proc = _start_run(tmp_path, "-n", "2", "--cases", str(cases), SC_TEST_READY=str(ready))
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert time.monotonic() < deadline and proc.poll() is None, \
                "the waiting case never started"
            time.sleep(0.02)
    finally:
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    assert proc.wait(timeout=120) == 130, output[-3000:]
    # Bounds a hang only: the waiting case alone would have taken 600 s.
    assert time.monotonic() - sent < 120, "Ctrl-C did not stop the run"
    (path,) = (tmp_path / "out").rglob("*.json")
    report = json.loads(path.read_text())
    assert report["interrupted"] == "interrupted"
    # What finished is printed: the summary line counts the results.
    assert f"{report['platform']['id']}: {len(report['results'])} results" in output
    by = _gate_accepts_itself(path, capsys)
    waited = by["mine.waits", "{}"]
    assert waited["verdict"] == "skipped", waited
    assert waited["message"] == "stopped while it ran: interrupted", waited["message"]
    # Every instance, run or not, under its case id and params (once, the ones that
    # never ran carried their test function's name).
    from conformance.case import load_catalogue

    known = {*load_catalogue(), "mine.waits"}
    assert {case_id for case_id, _ in by} <= known, {i for i, _ in by} - known


WAITS = '''
import os
import time

from conformance.api import Kit, case, posix


@case("mine.waits", "holds its worker until the run is stopped", cites=[posix("bind")])
def test_waits(kit: Kit) -> dict[str, str]:
    """Makes its AF_UNIX directory, says it has, then waits for the run to be stopped."""
    kit.address("unix")
    if os.environ.get("SC_TEST_READY"):
        open(os.environ["SC_TEST_READY"], "w").close()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return {"waited": "out"}
'''


def _namespaces_here() -> bool:
    from conformance import topology

    try:
        topology.Helper().close()
    except topology.TopologyUnavailable:
        return False
    return True


def test_sigterm_removes_the_runs_temporary_directories(tmp_path):
    from conformance import tempdirs

    # The controller's run directory, the Hypothesis store, a case's socket directory
    # and, where namespaces can be made, the namespace helper's.
    expected = {"socket-conformance-run", "socket-conformance-hypothesis", "sc"}
    if _namespaces_here():
        expected.add("sc-topo")
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "test_mine.py").write_text(WAITS)
    proc = _start_run(tmp_path, "-n", "2", "--cases", str(cases), "-k", "waits or test_nic")
    tmp = tmp_path / "tmp"

    def ours() -> list[str]:
        # pytest's own base directory (pytest-of-<user>) is pytest's to keep.
        return [p.name for p in tmp.iterdir() if p.name.startswith(tempdirs.PREFIXES)]

    def kinds() -> set[str]:
        return {name.rsplit("-", 1)[0] for name in ours()}

    try:
        # Signal once every kind of directory exists, not after a guessed delay.
        deadline = time.monotonic() + 120
        while not expected <= kinds() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert expected <= kinds(), f"the run made only {sorted(kinds())}"
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    assert proc.wait(timeout=60) == 130, output[-3000:]
    # Workers may finish their clean-up just after the controller exits.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ours():
        time.sleep(0.05)
    assert not ours(), ours()
    (path,) = (tmp_path / "out").rglob("*.json")
    assert json.loads(path.read_text())["interrupted"] == "interrupted by SIGTERM"


def test_two_runs_into_one_out_each_report_their_own_results(tmp_path):
    """Run side by side with different selections into one --out: each run's JUnit holds
    its own instances, never the other's (the report is handed back in memory)."""
    import xml.etree.ElementTree as ET

    procs = {}
    for keyword in ("test_shutdown", "test_socket_errors"):
        procs[keyword] = subprocess.Popen(
            [sys.executable, "-m", "conformance", "run", "-q", "--out", "out", "-k", keyword,
             "--junit", f"{keyword}.xml"], cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    names = {}
    for keyword, proc in procs.items():
        output = proc.communicate(timeout=300)[0].decode()
        assert proc.returncode == 0, output[-3000:]
        tree = ET.parse(tmp_path / f"{keyword}.xml")
        names[keyword] = {tc.get("name", "") for tc in tree.iter("testcase")}
    shutdown, socket_errors = names.values()
    assert shutdown and socket_errors and not shutdown & socket_errors
    assert any(n.startswith("shutdown.") for n in shutdown), shutdown
    assert all(n.startswith("socket.") for n in socket_errors), socket_errors


HANGS = '''
import time
from conformance.case import case, posix

CITE = [posix("accept")]


@case("fake.hangs", "never returns", cites=CITE)
def test_hangs(kit):
    """Sleeps far past the run's deadline (and the guard is set higher still)."""
    time.sleep(600)
    return {"errno": "EAGAIN"}


@case("fake.after", "never reached", cites=CITE)
def test_after(kit):
    """Comes after the hang."""
    return {"errno": "EAGAIN"}
'''


@pytest.mark.parametrize("workers", ["0", "2"])
def test_run_deadline_ends_the_running_instance_as_timeout(pytester, workers, capsys):
    pytester.makepyfile(test_hangs=HANGS)
    out = pytester.path / "out"
    started = time.monotonic()
    # The deadline counts from the start of the run, so it must leave room for the
    # start-up (workers collecting: 17 s was seen on a loaded machine) before the
    # hang begins; the hang is far longer still.
    result = pytester.runpytest_subprocess(
        "-p", "conformance.plugin", "--conformance-out", str(out), "--timeout", "900",
        "--conformance-deadline", "30", "-n", workers)
    # Ended by the deadline (plus clean-up), not by the case's sleep or the guard.
    assert time.monotonic() - started < 300
    (path,) = out.rglob("*.json")
    by = _gate_accepts_itself(path, capsys)
    hang = by["fake.hangs", "{}"]
    assert hang["verdict"] == "timeout"
    assert "deadline of 30 s passed" in hang["message"]
    assert json.loads(path.read_text())["interrupted"] is None
    assert result.ret != 0


def test_ctrl_c_swallowed_by_a_callback_is_raised_again():
    """Python drops a KeyboardInterrupt raised inside a weakref callback or a
    destructor; the watchdog raises it again until the run says it arrived."""
    from conformance.plugin.watchdog import REPEAT_S, Watchdog

    stops = []
    dog = Watchdog(stops.append, lambda *a: None, dict, dict, None, None)
    dog.start()
    try:
        first = time.monotonic()
        try:
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for_interrupt()
        except KeyboardInterrupt:
            pass  # swallowed, as a callback would
        with pytest.raises(KeyboardInterrupt):
            _wait_for_interrupt()
        # Not before the interrupt had its time to arrive.
        assert time.monotonic() - first >= REPEAT_S
        dog.arrived()
    finally:
        while True:
            try:
                dog.close()
                break
            except KeyboardInterrupt:
                continue  # one more the thread sent before it saw arrived()
    assert stops and stops[0].why == "interrupted" and stops[0].interrupted


def _wait_for_interrupt() -> None:
    # Bounds a hang only: the interrupt comes within REPEAT_S and a tick or two.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.01)
    pytest.fail("no interrupt arrived within 60 s")


def test_an_interrupt_traceback_entry_without_a_line_number_is_left_out():
    # CPython 3.11 can leave such an entry when the signal lands between lines;
    # pytest's reporter then raised TypeError inside its interrupt handling and
    # the run died with exit 1 instead of 130 (seen in a loaded tox run).
    from types import SimpleNamespace

    from _pytest._code.code import ExceptionInfo, Traceback, TracebackEntry

    from conformance.plugin.controller import drop_lineless_entries

    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        excinfo = ExceptionInfo.from_current()
    real = list(excinfo.traceback)
    lineless = TracebackEntry(SimpleNamespace(tb_lineno=None, tb_frame=real[-1]._rawentry.tb_frame,
                                              tb_lasti=-1, tb_next=None))
    excinfo.traceback = Traceback([*real, lineless])
    with pytest.raises(TypeError):
        excinfo.getrepr(funcargs=True)
    drop_lineless_entries(excinfo)
    assert list(excinfo.traceback) == real
    assert "KeyboardInterrupt" in str(excinfo.getrepr(funcargs=True))
