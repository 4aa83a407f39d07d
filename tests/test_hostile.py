"""Hostile environments: the run still ends cleanly, with reasons, and exit 0.

Each test starts ``socket-conformance run`` in a subprocess inside a changed
environment: no IPv6, no privilege for network namespaces, a read-only
working directory, a user's HYPOTHESIS_* variables. What the environment
takes away must show up as ``unsupported`` or ``skipped`` results with a
reason, never as ``error``, ``timeout``, ``deviates`` or ``flaky``, and the
exit status must be 0. The environments come from Linux namespaces
(``unshare``) and ``setpriv``; where this machine does not permit them, the
test is skipped and says why. ``-k`` keeps each run short, but always keeps
the instances the environment concerns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conformance.repeat import stable_part

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the environments are built with Linux namespaces")

HYPOTHESIS_CASES = "test_props or test_state"
CLEAN = {"conforms", "undocumented", "unsupported", "skipped"}


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin",
                                                     "/sbin"]))
    if found is None:
        pytest.skip(f"`{name}` is not installed")
    return found


def _permitted(prefix: list[str], command: tuple[str, ...] = ("true",)) -> bool:
    try:
        return subprocess.run([*prefix, *command], capture_output=True,
                              timeout=30).returncode == 0
    except OSError:
        return False


def _run(out: Path, keyword: str, *, prefix: list[str] = (), cwd: Path, workers: str = "0",
         env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    """``prefix... python -m conformance run`` and the report it wrote."""
    argv = [*prefix, sys.executable, "-m", "conformance", "run", "-q", "-n", workers,
            "--out", str(out), "-k", keyword]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    files = list(out.glob("*.json"))
    assert len(files) == 1, f"no report; exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    return proc, json.loads(files[0].read_text())


def _assert_clean(proc: subprocess.CompletedProcess, report: dict) -> dict[str, list[dict]]:
    """Exit 0 and only clean verdicts, each unsupported/skipped one with a reason."""
    by_verdict: dict[str, list[dict]] = {}
    for r in report["results"]:
        by_verdict.setdefault(r["verdict"], []).append(r)
    bad = [f"{r['id']}{r['params']}: {r['verdict']}: {r['message']}"
           for r in report["results"] if r["verdict"] not in CLEAN]
    assert not bad, "\n".join(bad)
    for r in by_verdict.get("unsupported", []) + by_verdict.get("skipped", []):
        assert r["message"].strip(), f"{r['id']}{r['params']}: {r['verdict']} without a reason"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return by_verdict


def test_ipv6_disabled_gives_unsupported_inet6_instances(tmp_path):
    ip = _tool("ip")
    prefix = next((p for p in (["unshare", "--net"], ["unshare", "--user", "--map-root-user",
                                                      "--net"]) if _permitted(p)), None)
    if prefix is None:
        pytest.skip("unshare --net is not permitted here (no root, no user namespaces)")
    script = ('"$0" link set lo up && echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 '
              '&& exec "$@"')
    proc, report = _run(tmp_path / "out", f"inet6 or {HYPOTHESIS_CASES}", cwd=tmp_path,
                        prefix=[*prefix, "sh", "-c", script, ip])
    assert report["platform"]["capabilities"]["ipv6"] is False
    results = _assert_clean(proc, report)
    inet6 = [r for r in report["results"] if r["params"].get("family") == "inet6"]
    assert inet6, "the selection has no inet6 instance"
    for r in inet6:
        assert r["verdict"] == "unsupported", f"{r['id']}{r['params']}: {r['verdict']}"
        assert "ipv6" in r["message"]
    assert any(r["id"].startswith(("props.", "state.")) for r in results.get("conforms", []))


def _no_namespaces_prefix() -> list[str]:
    """A user namespace that may create no nested one, entered with no capabilities left."""
    _tool("setpriv")
    inner = ('echo 0 > /proc/sys/user/max_user_namespaces && '
             'exec setpriv --bounding-set=-all --inh-caps=-all "$@"')
    prefix = ["unshare", "--user", "--map-root-user", "sh", "-c", inner, "sh"]
    if not _permitted(prefix):
        pytest.skip("cannot build a user namespace without namespace privilege here")
    return prefix


def test_no_namespace_privilege_skips_topology_cases_with_a_reason(tmp_path):
    prefix = _no_namespaces_prefix()
    proc, report = _run(tmp_path / "out", "test_nic or test_ports or test_accept",
                        cwd=tmp_path, prefix=prefix, workers="2")
    assert report["platform"]["capabilities"]["netns"] is False
    results = _assert_clean(proc, report)
    skipped = results.get("skipped", [])
    assert {r["id"].split(".")[0] for r in skipped} >= {"ports", "bind"}, skipped
    for r in skipped:
        assert "namespace" in r["message"], r["message"]
    assert results.get("conforms"), "nothing ran outside the namespaces"


def test_unprivileged_user_gets_clean_verdicts():
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: the other tests cover this user")
    setpriv = _tool("setpriv")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if not _permitted(prefix):
        pytest.skip("setpriv cannot switch to uid 65534 here")
    # The topology helper is a fresh interpreter; a Python installed where only
    # root may enter (a pyenv under /root) cannot be started by that user at all.
    reexec = "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True)"
    if not _permitted(prefix, (sys.executable, "-c", reexec)):
        pytest.skip(f"uid 65534 cannot start {sys.executable} from a child process here")
    # pytest's tmp_path lies under a directory only root may enter.
    with tempfile.TemporaryDirectory(prefix="sc-nobody-") as tmp:
        home = Path(tmp)
        home.chmod(0o777)
        proc, report = _run(home / "out", "test_nic or test_ports or test_accept", cwd=home,
                            prefix=prefix, env={"HOME": tmp})
    _assert_clean(proc, report)


def _read_only_cwd(tmp_path: Path) -> tuple[Path, list[str]]:
    """A directory the run cannot write to, and the command prefix that makes it so."""
    cwd = tmp_path / "ro"
    cwd.mkdir()
    if os.geteuid() != 0:
        cwd.chmod(0o555)
        return cwd, []
    # Root ignores modes, so the directory is made read-only by a mount.
    prefix = ["unshare", "--mount", "sh", "-c",
              'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && cd "$0" '
              '&& ! touch probe 2>/dev/null && exec "$@"', str(cwd)]
    if not _permitted(prefix):
        pytest.skip("unshare --mount is not permitted here")
    return cwd, prefix


def test_read_only_working_directory_with_out_elsewhere(tmp_path):
    cwd, prefix = _read_only_cwd(tmp_path)
    proc, report = _run(tmp_path / "out", f"unix or test_bind or {HYPOTHESIS_CASES}",
                        cwd=cwd, prefix=prefix, workers="2")
    results = _assert_clean(proc, report)
    assert results.get("conforms")
    assert list(cwd.iterdir()) == []


def test_read_only_working_directory_without_out_is_one_line_and_exit_2(tmp_path):
    cwd, prefix = _read_only_cwd(tmp_path)
    proc = subprocess.run([*prefix, sys.executable, "-m", "conformance", "run", "-q"],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("socket-conformance: error: --out reports: not a writable directory")


def test_user_hypothesis_variables_change_nothing(tmp_path):
    keyword = f"{HYPOTHESIS_CASES} or test_accept"
    plain, plain_report = _run(tmp_path / "plain", keyword, cwd=tmp_path)
    _assert_clean(plain, plain_report)
    hostile = {
        "HYPOTHESIS_PROFILE": "nonexistent",
        "HYPOTHESIS_STORAGE_DIRECTORY": "/proc/x",
        "HYPOTHESIS_DATABASE_FILE": "/proc/y",
        "HYPOTHESIS_EXPERIMENTAL_OBSERVABILITY": "1",
        "HYPOTHESIS_NO_PLUGINS": "1",
    }
    proc, report = _run(tmp_path / "hostile", keyword, cwd=tmp_path, workers="2", env=hostile)
    _assert_clean(proc, report)

    def stable(rep: dict) -> dict[str, str]:
        return {r["nodeid"]: stable_part(r) for r in rep["results"]}

    assert stable(report) == stable(plain_report)
    assert any(r["id"].startswith(("props.", "state.")) for r in report["results"])
