"""Self-tests of the sandbox runners (conformance/runners/).

Most tests use a fake platform whose "sandbox" is a plain subprocess, so
the deadline, the journal and the salvaged report are proven without gVisor
or User-Mode Linux; the last tests run the real tools when installed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conformance import cli
from conformance.commands import run as run_command
from conformance.result import RUN_ID
from conformance.runners import gvisor, journal, salvage, sandbox, supervision, uml, umlinit

# Two quick instances, so a crash can come after one finished and while one runs.
TWO = "test_accept.py and test_dgram and unix"


def fake_runner(command: list[str] | None = None, stack: str = "fake") -> sandbox.Runner:
    """A runner whose sandbox is a plain subprocess (``command``, or the guest itself)."""

    def build(tool: str, guest: list[str], workdir: Path) -> list[str]:
        return command if command is not None else guest

    return sandbox.Runner(stack=stack, tool=Path(sys.executable).name, what="a fake platform",
                          install="nothing to install", command=build,
                          kernel_hint=lambda: "9.9")


def suite_argv(stack: str = "fake", keyword: str = TWO) -> list[str]:
    """The guest's pytest command line, as `run --platform` builds it."""
    # The real parser, so every option of `run` has its default.
    args = cli.build_parser().parse_args(["run", "-q", "--platform", stack, "-k", keyword])
    return run_command.pytest_args(args, None)


def _instance(n: int) -> dict:
    return {"nodeid": f"a.py::t[{n}]", "id": "fake.t", "params": {"n": str(n)}}


@pytest.mark.parametrize(("platform", "package"), [("gvisor", "runsc"),
                                                    ("uml", "user-mode-linux")])
def test_missing_tool_is_one_line_and_exit_2(platform, package, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = cli.main(["run", "--platform", platform, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"apt-get install {package}" in err
    assert not list((tmp_path / "r").glob("*.json"))


def test_unknown_platform_is_refused(tmp_path, capsys):
    assert cli.main(["run", "--platform", "qemu", "--out", str(tmp_path)]) == 2
    assert "expected one of host, gvisor, uml" in capsys.readouterr().err


def test_deadline_stops_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    # The command starts a grandchild and hangs: both must be gone after the deadline.
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(60)
    """)
    (ended,) = supervision.run_with_deadline([supervision.Launch([sys.executable, "-c", script])],
                                         deadline_s=2.0)
    assert ended.timed_out and ended.returncode is None
    assert ended.elapsed_s < 2.0 + supervision.GRACE_S
    assert "started" in ended.tail
    child = int(pidfile.read_text())
    for _ in range(50):  # the grandchild was signalled; give the kernel a moment to reap it
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the grandchild outlived the deadline")


def test_deadline_passes_exit_code_and_output_through(tmp_path):
    (ended,) = supervision.run_with_deadline(
        [supervision.Launch([sys.executable, "-c",
                             "print('one'); print('two'); raise SystemExit(3)"])],
        30.0,
    )
    assert (ended.returncode, ended.timed_out, ended.tail) == (3, False, ("one", "two"))


def test_launches_run_side_by_side_each_pinned_and_labelled():
    script = "import os; print(sorted(os.sched_getaffinity(0)))"
    cpu = min(os.sched_getaffinity(0))
    echo = io.StringIO()
    ended = supervision.run_with_deadline(
        [supervision.Launch([sys.executable, "-c", script], cpu=cpu, label=f"[{i}] ")
         for i in (1, 2)], 30.0, echo,
    )
    assert [e.tail for e in ended] == [(f"[{cpu}]",), (f"[{cpu}]",)]
    assert sorted(echo.getvalue().splitlines()) == [f"[1] [{cpu}]", f"[2] [{cpu}]"]
    # A last line without its newline (a process killed mid-line) still ends a line.
    echo = io.StringIO()
    cut = supervision.Launch([sys.executable, "-c", "print('cut', end='')"], label="[x] ")
    supervision.run_with_deadline([cut], 30.0, echo)
    assert echo.getvalue() == "[x] cut\n"
    # Pinning is for the children only: this process keeps every CPU it had.
    assert len(os.sched_getaffinity(0)) >= 1 and cpu in os.sched_getaffinity(0)


@pytest.mark.parametrize(("workers", "mine", "cpus"), [
    ("auto", {0, 1, 2}, [0, 1, 2]), ("auto", {5}, [5]), ("auto", set(range(64)), list(range(8))),
    ("0", {0, 1}, [0]),
    ("1", {0, 1}, [0]), ("3", {2, 7}, [2, 7, 2]),
])
def test_one_sandbox_per_worker_each_on_a_cpu_of_this_process(workers, mine, cpus, monkeypatch):
    monkeypatch.setattr(sandbox.os, "sched_getaffinity", lambda pid: mine)
    assert sandbox.cpus_for(workers) == cpus


def test_completed_guest_run_yields_the_platform_report(tmp_path, monkeypatch, load_report):
    # Run from a directory holding a decoy conformance/ (as a checkout does next to an
    # installed wheel): the guest must still import the installed package.
    (tmp_path / "conformance").mkdir()
    (tmp_path / "conformance" / "__init__.py").write_text("raise ImportError('decoy')\n")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports"
    code, _report = sandbox.run(fake_runner(), suite_argv(), out, deadline_s=120, echo=None)
    assert code == 0
    (path,) = out.glob("*.json")
    report = load_report(path)
    assert report["platform"]["stack"] == "fake"
    assert report["platform"]["id"].endswith("-fake") and path.stem == report["platform"]["id"]
    assert [r["verdict"] for r in report["results"]] == ["conforms", "conforms"]


def test_crash_mid_run_salvages_what_completed(tmp_path, monkeypatch, load_report):
    # A pytest plugin that kills the guest as the second instance starts: a crashing sandbox.
    (tmp_path / "crash_second.py").write_text(textwrap.dedent("""
        import os, signal
        seen = []
        def pytest_runtest_call(item):
            seen.append(item.nodeid)
            if len(seen) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
    """))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    out = tmp_path / "reports"
    argv = [*suite_argv(), "-p", "crash_second"]
    code, _report = sandbox.run(fake_runner(), argv, out, deadline_s=120, echo=None)
    assert code == 1
    report = load_report(next((out / "partial").glob("*.json")))
    assert report["platform"]["stack"] == "fake"
    by_backend = {r["params"]["backend"]: r for r in report["results"]}
    first, second = by_backend["python"], by_backend["libc"]  # the order they ran in
    assert first["verdict"] == "conforms"
    assert second["verdict"] == "error" and second["id"] == first["id"] == "accept.dgram"
    assert "interrupted while this case ran" in second["message"]
    assert "killed by signal 9" in second["message"]
    assert "1 instance(s) finished, 0 never started" in second["message"]


def test_sandbox_that_never_starts_still_yields_a_report(tmp_path, load_report):
    runner = fake_runner([sys.executable, "-c", "print('no sandbox for you'); raise SystemExit(3)"])
    out = tmp_path / "reports"
    code, _report = sandbox.run(runner, suite_argv(), out, deadline_s=30, echo=None)
    assert code == 1
    report = load_report(out / "partial" / f"linux-9.9-{os.uname().machine.lower()}-fake.json")
    (only,) = report["results"]
    assert (only["id"], only["verdict"]) == (RUN_ID, "error")
    assert "exited with code 3 before the suite finished" in only["message"]
    assert "no sandbox for you" in only["message"]


def test_shards_share_the_instances_and_one_report_holds_them_all(tmp_path, load_report):
    out = tmp_path / "reports"
    echo = io.StringIO()
    code, _report = sandbox.run(fake_runner(), suite_argv(), out, deadline_s=120, workers="2",
                       echo=echo)
    assert code == 0
    report = load_report(next(out.glob("*.json")))
    assert sorted(r["params"]["backend"] for r in report["results"]) == ["libc", "python"]
    assert {r["verdict"] for r in report["results"]} == {"conforms"}
    # Each sandbox collected both instances, and said so under its own label.
    lines = echo.getvalue().splitlines()
    for name in ("1/2", "2/2"):
        assert any(ln.startswith(f"[fake {name}] socket-conformance: ")
                   and ": 2 case instances (" in ln for ln in lines), lines


def test_a_shard_left_without_instances_is_not_an_error(tmp_path, load_report):
    out = tmp_path / "reports"
    code, _report = sandbox.run(fake_runner(), suite_argv(), out, deadline_s=120, workers="3",
                       echo=None)
    assert code == 0
    report = load_report(next(out.glob("*.json")))
    assert [r["verdict"] for r in report["results"]] == ["conforms", "conforms"]


def test_no_instance_matched_writes_no_report_and_says_so_by_exit_5(tmp_path):
    out = tmp_path / "reports"
    argv = suite_argv(keyword="no_case_is_called_this")
    assert sandbox.run(fake_runner(), argv, out, deadline_s=120, workers="2",
                       echo=None) == (5, None)
    assert not out.exists() or not list(out.iterdir())


def test_a_crashed_shard_keeps_the_other_shards_results(tmp_path, monkeypatch, load_report):
    # Kills whichever sandbox runs the libc instance, as that instance starts.
    (tmp_path / "crash_libc.py").write_text(textwrap.dedent("""
        import os, signal
        def pytest_runtest_call(item):
            if "libc" in item.nodeid:
                os.kill(os.getpid(), signal.SIGKILL)
    """))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    out = tmp_path / "reports"
    argv = [*suite_argv(), "-p", "crash_libc"]
    assert sandbox.run(fake_runner(), argv, out, deadline_s=120, workers="2", echo=None)[0] == 1
    report = load_report(next((out / "partial").glob("*.json")))
    by_backend = {r["params"]["backend"]: r for r in report["results"]}
    assert by_backend["python"]["verdict"] == "conforms"
    assert by_backend["libc"]["verdict"] == "error"
    assert "interrupted while this case ran" in by_backend["libc"]["message"]
    assert "killed by signal 9" in by_backend["libc"]["message"]


def test_every_sandbox_that_never_starts_has_its_own_run_error(tmp_path, load_report):
    runner = fake_runner([sys.executable, "-c", "raise SystemExit(3)"])
    out = tmp_path / "reports"
    assert sandbox.run(runner, suite_argv(), out, deadline_s=30, workers="2", echo=None)[0] == 1
    report = load_report(next((out / "partial").glob("*.json")))
    assert [(r["id"], r["params"], r["verdict"]) for r in report["results"]] == [
        (RUN_ID, {"shard": "1/2"}, "error"), (RUN_ID, {"shard": "2/2"}, "error"),
    ]


def test_sandboxes_that_saw_the_platform_differently_are_an_error(tmp_path, load_report):
    seen = {"id": "linux-1.0-x86_64-fake", "os": "linux", "release": "1.0", "kernel": "1.0",
            "arch": "x86_64", "libc": "glibc", "python": "cpython 3", "stack": "fake",
            "capabilities": {"ipv6": True}}
    other = dict(seen, capabilities={"ipv6": False})
    ok = supervision.Ended(0, False, 1.0, ())
    # Each journal: the platform, one instance collected (never reported), pytest's exit.
    shards = [sandbox.Shard(i, 2, tmp_path, [{"platform": plat}, {"collected": [_instance(i)]},
                                             {"exit": 0}], ok)
              for i, plat in enumerate((seen, other))]
    out = tmp_path / "reports"
    assert sandbox.finish(fake_runner(), shards, out, 7.0, "", None)[0] == 1
    # Incomplete (each shard's instance never reported): beside the last complete report.
    report = load_report(out / "partial" / "linux-1.0-x86_64-fake.json")
    assert report["platform"]["capabilities"] == {"ipv6": True}
    (run,) = [r for r in report["results"] if r["id"] == RUN_ID]
    assert (run["params"], run["verdict"]) == ({"shard": "2/2"}, "error")
    assert "capabilities {'ipv6': False} against {'ipv6': True}" in run["message"]


def test_deadline_message_and_partial_journal(tmp_path, load_report):
    """finish() on a journal cut by the deadline: a torn last line is ignored."""
    platform = {"id": "linux-1.0-x86_64-fake", "os": "linux", "release": "1.0", "kernel": "1.0",
                "arch": "x86_64", "libc": "glibc", "python": "cpython 3", "stack": "fake",
                "capabilities": {"ipv6": False}}
    path = tmp_path / sandbox.JOURNAL
    lines = [{"platform": platform}, {"collected": [_instance(n) for n in (1, 2, 3)]},
             {"start": "a.py::t[1]"}]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"result": {"nodeid": "a.py::t')
    shard = sandbox.Shard(0, 1, tmp_path, journal.read(path),
                          supervision.Ended(None, True, 7.0, ("collected 3 items",)))
    out = tmp_path / "reports"
    assert sandbox.finish(fake_runner(), [shard], out, 7.0, "", None)[0] == 1
    report = load_report(out / "partial" / "linux-1.0-x86_64-fake.json")
    running, *never = report["results"]
    assert running["verdict"] == "error" and running["nodeid"] == "a.py::t[1]"
    assert (running["id"], running["params"]) == ("fake.t", {"n": "1"})
    assert "did not finish within its 7 s deadline" in running["message"]
    assert "0 instance(s) finished, 2 never started" in running["message"]
    # The instances never started keep their case id and params, and say why.
    assert [(r["params"], r["verdict"]) for r in never] == [({"n": "2"}, "skipped"),
                                                           ({"n": "3"}, "skipped")]
    assert all(r["message"].startswith("not run: the fake run did not finish") for r in never)


def test_uml_modules_load_dependencies_first(tmp_path):
    for name in ("kernel/lib/crc.ko", "kernel/net/ipv6/ipv6.ko"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "modules.dep").write_text(
        "kernel/net/ipv6/ipv6.ko: kernel/lib/crc.ko\nkernel/lib/crc.ko:\n"
    )
    assert umlinit._with_dependencies(tmp_path, "kernel/net/ipv6/ipv6.ko") == [
        tmp_path / "kernel/lib/crc.ko", tmp_path / "kernel/net/ipv6/ipv6.ko",
    ]
    assert umlinit._with_dependencies(tmp_path / "absent", "kernel/net/ipv6/ipv6.ko") == []


def test_uml_command_boots_hostfs_into_the_guest(tmp_path):
    (tmp_path / sandbox.JOB).write_text(json.dumps({"env": {"PYTHONPATH": "/a b", "X": "1"}}))
    argv = uml.command("linux.uml", ["/py", "-m", "conformance.runners.guest", "/w d"], tmp_path)
    assert {"root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw"} <= set(argv)
    # No boot-time benchmark of RAID-6 routines, which no socket call uses (0.85 s).
    assert "initcall_blacklist=raid6_select_algo" in argv
    assert argv[-1] == f"init={tmp_path / 'init'}"
    # The kernel starts init with almost no environment: the caller's is set before Python.
    assert (f"cd {tmp_path} && exec env -i 'PYTHONPATH=/a b' X=1 "
            "/py -m conformance.runners.guest '/w d'") in (tmp_path / "init").read_text()
    assert os.access(tmp_path / "init", os.X_OK)


@pytest.mark.parametrize("runner", [gvisor.RUNNER, uml.RUNNER], ids=lambda r: r.stack)
def test_real_sandbox_writes_its_platform_report(runner, tmp_path, load_report):
    """The real tool, two sandboxes with one instance each: one report, marked with its stack."""
    if shutil.which(runner.tool) is None:
        pytest.skip(f"{runner.tool} is not installed")
    out = tmp_path / "reports"
    # Two sandboxes side by side, one instance each.
    code = cli.main(["run", "-q", "--platform", runner.stack, "--out", str(out), "-k", TWO,
                     "-n", "2", "--deadline", "120"])
    (path,) = out.glob("*.json")
    report = load_report(path)
    assert report["platform"]["stack"] == runner.stack
    assert report["platform"]["id"].endswith(f"-{runner.stack}")
    assert len(report["results"]) == 2, [r["message"] for r in report["results"]]
    assert code == (1 if report["summary"]["deviates"] + report["summary"]["error"] else 0)


def test_clue_skips_a_kernel_stack_dump():
    tail = ["collected 5 items", ".", "Kernel panic - not syncing: Attempted to kill init!",
            "CPU: 0 PID: 1 Comm: python3 Not tainted 6.1.176 #1", "Stack:",
            " 606944ba 607e7fcd 61493c60 6067bb96", "Call Trace:",
            " [<606944ba>] ? _printk+0x0/0x94", " [<6002c0dd>] new_thread_handler+0xae/0xb0"]
    assert salvage._clue(tail) == "Kernel panic - not syncing: Attempted to kill init!"
    assert salvage._clue(["one", "two", ""]) == "two"
    assert salvage._clue([]) == ""


def test_journal_pushes_with_sync_file_range_and_falls_back_to_fsync(tmp_path, monkeypatch):
    from conformance.runners import journal as journal_mod

    fsynced: list[int] = []
    monkeypatch.setattr(journal_mod.os, "fsync", fsynced.append)
    j = journal_mod.Journal(tmp_path / "journal.jsonl", "host")
    try:
        j.write({"start": "a"})
        if journal_mod._sync_file_range() is not None:
            assert fsynced == []  # the guest's page cache went to the file without a disk flush
        monkeypatch.setattr(journal_mod, "_sync_file_range", lambda: None)
        j.write({"start": "b"})
        assert fsynced == [j.file.fileno()]
    finally:
        j.close()
    assert [e["start"] for e in journal_mod.read(tmp_path / "journal.jsonl")] == ["a", "b"]


CLAIMED_SUITE = {
    "test_one.py": "import pytest\n"
                   "@pytest.fixture(scope='module')\n"
                   "def log():\n"
                   "    with open('ran.txt', 'a') as f:\n"
                   "        yield f\n"
                   "@pytest.mark.parametrize('n', [0, 1, 2])\n"
                   "def test_a(n, log):\n"
                   "    log.write(f'a{n} ')\n",
    "test_two.py": "from test_one import log\n"
                   "def test_b(log):\n"
                   "    log.write('b ')\n"
                   "def test_c(log):\n"
                   "    log.write('c ')\n",
}


def test_a_sandbox_runs_only_the_instances_it_claims(pytester, monkeypatch):
    from conformance.runners.guest import Claims

    monkeypatch.setattr(Claims, "PLAIN_PER_CLAIM", 1)
    pytester.makepyfile(**CLAIMED_SUITE)
    claims = pytester.mkdir("claims")
    for taken in (0, 2, 3):  # another sandbox's: test_a[0], test_a[2], test_b
        (claims / str(taken)).mkdir()
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[Claims(claims)])
    result.assert_outcomes(passed=2)
    assert (pytester.path / "ran.txt").read_text() == "a1 c "
    assert sorted(int(p.name) for p in claims.iterdir()) == [0, 1, 2, 3, 4]


def test_a_sandbox_that_finds_every_instance_claimed_runs_none(pytester):
    from conformance.runners.guest import Claims

    pytester.makepyfile(**CLAIMED_SUITE)
    claims = pytester.mkdir("claims")
    first = pytester.runpytest("-p", "no:cacheprovider", plugins=[Claims(claims)])
    first.assert_outcomes(passed=5)
    second = pytester.runpytest("-p", "no:cacheprovider", plugins=[Claims(claims)])
    assert second.parseoutcomes().get("passed", 0) == 0


def test_plain_instances_are_claimed_a_few_at_a_time_and_a_search_alone(monkeypatch):
    import types

    from conformance import case as case_module
    from conformance.runners import guest

    names = ["props.a", "state.b", "x.1", "x.2", "x.3", "props.c", "x.4", "x.5", "x.6", "x.7",
             "x.8", "x.9"]
    items = [types.SimpleNamespace(name=n) for n in names]
    monkeypatch.setattr(case_module, "case_info",
                        lambda item: types.SimpleNamespace(area=item.name.split(".")[0]))
    assert guest._units(items, 4) == [[0], [1], [2, 3, 4], [5], [6, 7, 8, 9], [10, 11]]
