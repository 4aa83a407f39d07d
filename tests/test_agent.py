"""The stack agent: it agrees with the libc backend, and its hangs and crashes are results.

Built against the host's libc, the agent makes the same calls the libc
backend makes through ctypes, on the same kernel; every case instance both
run must then give the same verdict and the same observation. The one
difference allowed is how blocking was proven (``method``): the agent's call
runs in another process, so its proof is the timed window, never /proc.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.commands.run import cases_dir
from tests.conftest import cli, one_line_error

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def _run_cases(stack: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    where = cases_dir()
    argv = [sys.executable, "-m", "pytest", str(where), "-p", "conformance.plugin",
            "-p", "no:cacheprovider", "--assert=plain", "--rootdir", str(where),
            "-c", str(where / "pytest.ini"), "--conformance-stack", stack,
            "--conformance-out", str(out), "-q", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


def _by_backend(report: dict) -> dict[tuple[str, str], dict[str, dict]]:
    pairs: dict[tuple[str, str], dict[str, dict]] = {}
    for r in report["results"]:
        params = dict(r["params"])
        backend = params.pop("backend", None)
        key = (r["id"], json.dumps(params, sort_keys=True))
        pairs.setdefault(key, {})[backend] = r
    return pairs


def _comparable(result: dict) -> tuple[str, dict]:
    """Verdict and observation, the proof method aside; a flaky result by its last attempt.

    Other processes on the machine share the kernel's port space, so a case
    can lose a port race once (reruns settle it) on either backend.
    """
    obs = dict(result["observation"] or {})
    obs.pop("method", None)
    verdict = result["verdict"]
    if verdict == "flaky":
        verdict = result["attempts"][-1]["verdict"]
    return verdict, obs


@needs_gcc
def test_agent_built_against_libc_agrees_with_the_libc_backend(tmp_path, load_report):
    proc = _run_cases("agent-libc", tmp_path)
    (path,) = tmp_path.glob("*.json")
    report = load_report(path)
    assert report["platform"]["stack"] == "agent-libc"
    both = [(k, v) for k, v in _by_backend(report).items() if {"agent", "libc"} <= set(v)]
    assert len(both) > 100, f"only {len(both)} instances ran on both backends: {proc.stdout}"
    differ = []
    for key, runs in both:
        agent, libc = runs["agent"], runs["libc"]
        if libc["verdict"] == "skipped" and "namespace" in libc["message"]:
            continue  # both skipped alike where namespaces are unavailable
        if agent["verdict"] == "skipped" and "stack agent" in agent["message"]:
            # What the agent cannot do, said in the result: enter a namespace, be
            # inspected through this process's descriptors, share a forked child's change.
            continue
        if _comparable(agent) != _comparable(libc):
            differ.append(f"{key}: agent {_comparable(agent)} != libc {_comparable(libc)}")
    assert not differ, "\n".join(differ)
    assert not [r for r in report["results"] if r["verdict"] == "error"], proc.stdout[-3000:]


HUNG_AND_CRASHED = '''
from conformance.backends import agent
from conformance.case import case, posix

CITE = [posix("socket")]


@case("fake.agent.hang", "a call that never returns", cites=CITE,
      params={"backend": ("agent",)})
def test_hang(backend, kit):
    """The agent is started through the backend; then one call hangs in it."""
    kit.socket("inet", "dgram")
    agent.running("libc").call("hang", deadline=0.5)
    return {"answered": True}


@case("fake.agent.crash", "a call that kills the agent", cites=CITE,
      params={"backend": ("agent",)})
def test_crash(backend, kit):
    """The stack crashes under the call."""
    kit.socket("inet", "dgram")
    agent.running("libc").call("crash")
    return {"answered": True}


@case("fake.agent.after", "a case after the hang and the crash", cites=CITE,
      params={"backend": ("agent",)})
def test_after(backend, kit):
    """A fresh agent serves it."""
    s = kit.bound("inet", "dgram")
    return {"bound": kit.outcome(s.getsockname)}
'''

EXPECT = '''
[["fake.agent.after"]]
accept = [{ bound = "ok" }]
source = "fake man page"
'''


@needs_gcc
def test_a_hung_call_is_timeout_a_crash_is_error_and_the_rest_runs(session, load_report):
    exp = session.mkdir("exp")
    (exp / "linux.toml").write_text(EXPECT)
    session.makepyfile(test_agent_faults=HUNG_AND_CRASHED)
    out = session.path / "out"
    result = session.runpytest(
        "-p", "conformance.plugin", "--conformance-out", str(out),
        "--conformance-expectations", str(exp), "--conformance-reruns", "0",
        "--conformance-stack", "agent-libc", "--timeout", "20",
    )
    (path,) = out.glob("*.json")
    results = {r["id"]: r for r in load_report(path)["results"]}
    assert {k: r["verdict"] for k, r in results.items()} == {
        "fake.agent.hang": "timeout",
        "fake.agent.crash": "error",
        "fake.agent.after": "conforms",
    }
    assert "hang did not return within 0.5s" in results["fake.agent.hang"]["message"]
    assert "died during crash" in results["fake.agent.crash"]["message"]
    assert "SIGABRT" in results["fake.agent.crash"]["message"]
    assert result.ret == 1


def test_missing_compiler_is_one_line_naming_the_package(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {"PATH": str(bare), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for platform, package in (("lwip", "gcc"), ("wine", "gcc-mingw-w64-x86-64-win32")):
        line = one_line_error(cli("run", "--platform", platform, "--out", str(tmp_path / "r"),
                                  cwd=tmp_path, env=env))
        assert package in line and "stack agent" in line, line
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@pytest.mark.skipif(shutil.which("gcc") is None or not os.path.exists(
    "/usr/include/lwip/lwip/sockets.h"), reason="gcc and liblwip-dev are not installed")
def test_lwip_report_says_what_the_stack_is(tmp_path, load_report):
    proc = cli("run", "-q", "--platform", "lwip", "-k", "test_accept and blocks",
               "--out", str(tmp_path), cwd=tmp_path)
    (path,) = tmp_path.glob("*.json")
    report = load_report(path)
    platform = report["platform"]
    assert platform["id"].startswith("lwip-2.1") and platform["stack"] == "lwip", platform
    assert "lwIP" in platform["description"] and "agent" in platform["description"]
    assert {r["params"].get("backend", "agent") for r in report["results"]} == {"agent"}
    assert not [r for r in report["results"] if r["verdict"] == "error"], proc.stdout[-2000:]
    blocks = [r for r in report["results"] if r["id"] == "accept.blocks"]
    assert blocks and all(r["observation"]["method"].startswith("timed-window")
                          for r in blocks if r["observation"])
