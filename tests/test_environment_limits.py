"""Harness faults and environment limits are never recorded as the stack's behaviour.

A misspelt socket type is a bug in a case (``error``, the name quoted), not a
feature the platform lacks. A descriptor limit or a TMPDIR too long for
AF_UNIX paths belongs to the machine: the run names the limit or works
around it, and no result claims the stack deviated.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import limits, tempdirs
from conformance.errors import EnvironmentLimit
from tests.conftest import one_line_error

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the limits are set up the Linux way")

MISSPELT = '''
from conformance.api import case, posix

@case("fake.misspelt_type", "opens a socket of a type that does not exist", cites=[posix("socket")])
def test_misspelt(kit):
    """A typo in the case, not a missing feature."""
    kit.socket("inet", "strem")
    return {"opened": True}
'''


def test_misspelt_socket_type_is_error(session):
    session.makepyfile(test_fake=MISSPELT)
    out = session.path / "out"
    session.runpytest("-p", "conformance.plugin", "--conformance-out", str(out),
                      "--conformance-reruns", "0")
    (path,) = out.glob("*.json")
    (result,) = json.loads(path.read_text())["results"]
    assert result["verdict"] == "error"
    assert "'strem'" in result["message"] and "HarnessError" in result["message"]


@pytest.mark.parametrize("name", ["MSG_PEKK", "SO_REUSEADDRR"])
def test_misspelt_flag_or_option_is_a_harness_error_not_unsupported(name):
    from conformance.backends import flag_bits, option_numbers
    from conformance.errors import HarnessError

    with pytest.raises(HarnessError, match=name):
        flag_bits([name]) if name.startswith("MSG_") else option_numbers(name)


@pytest.mark.parametrize("name", ["MSG_NOSIGNAL", "SO_NOSIGPIPE"])
def test_a_documented_name_this_host_lacks_is_unsupported(name, monkeypatch):
    import socket

    from conformance.backends import flag_bits, option_numbers
    from conformance.errors import Unsupported

    monkeypatch.delattr(socket, name, raising=False)
    with pytest.raises(Unsupported, match=name):
        flag_bits([name]) if name.startswith("MSG_") else option_numbers(name)


def _run(out: Path, keyword: str, *, env: dict[str, str] | None = None,
         nofile: int | None = None) -> dict:
    """``socket-conformance run`` in a subprocess, optionally at a descriptor limit."""

    def lower_limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "-q", "-n", "0", "--reruns", "0",
         "--out", str(out), "-k", keyword],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
        preexec_fn=lower_limit,
    )
    files = list(out.glob("*.json"))
    assert len(files) == 1, f"no report; exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    return json.loads(files[0].read_text())


@linux_only
def test_descriptor_limit_of_15_gives_no_deviation_and_leaves_no_directory(tmp_path):
    # The lifecycle machine, a topology case and cases that accept and bind:
    # each ran into EMFILE somewhere else before the limit was recognised.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    report = _run(tmp_path / "out", "test_state or test_accept or test_nic or test_bind",
                  nofile=15, env={"TMPDIR": str(tmp)})
    # Removing a directory takes a descriptor too: none may be left behind for want of one.
    assert [p.name for p in tmp.iterdir() if p.name.startswith(tempdirs.PREFIXES)] == []
    hit = [r for r in report["results"] if r["verdict"] != "conforms"]
    assert hit, "a limit of 15 descriptors stopped nothing: the test shows nothing"
    # Named as the limit, or at least as the errno a call outside the kit raised.
    named = ("descriptor limit (EMFILE", os.strerror(errno.EMFILE))
    wrong = [f"{r['id']}{r['params']}: {r['verdict']}: {r['message']}" for r in hit
             if r["verdict"] != "error" or not any(n in r["message"] for n in named)]
    assert not wrong, "\n".join(wrong)


@linux_only
def test_99_character_tmpdir_gives_no_unix_error_and_no_namespace_skip(tmp_path):
    long_tmp = tmp_path / ("t" * (99 - len(str(tmp_path)) - 1))
    long_tmp.mkdir()
    assert len(str(long_tmp)) == 99
    report = _run(tmp_path / "out", "unix or test_nic", env={"TMPDIR": str(long_tmp)})
    unix = [r for r in report["results"] if r["params"].get("family") == "unix"]
    assert unix, "no AF_UNIX instance ran"
    bad = [f"{r['id']}{r['params']}: {r['verdict']}: {r['message']}"
           for r in report["results"] if r["verdict"] in ("error", "deviates")
           or "namespace helper" in r["message"]]
    assert not bad, "\n".join(bad)


def test_emfile_at_the_starting_limit_names_the_limit():
    with pytest.raises(EnvironmentLimit, match="descriptor limit"):
        limits.check_errno(OSError(errno.EMFILE, "Too many open files"))


def test_enfile_names_the_system_file_table():
    with pytest.raises(EnvironmentLimit, match="file table"):
        limits.check_errno(OSError(errno.ENFILE, "Too many open files in system"))


def test_emfile_after_a_case_lowered_the_limit_is_the_stacks_answer(monkeypatch):
    # A case that provokes EMFILE lowers RLIMIT_NOFILE itself for one call:
    # then EMFILE is what the case set out to observe.
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    monkeypatch.setattr(limits, "_NOFILE_AT_START", now + 1)
    limits.check_errno(OSError(errno.EMFILE, "Too many open files"))


def test_unix_socket_dir_is_short_and_private_under_a_long_tmpdir(tmp_path, monkeypatch):
    long_tmp = tmp_path / ("t" * 120)
    long_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    d = limits.unix_socket_dir()
    try:
        assert not d.name.startswith(str(long_tmp))
        assert stat.S_IMODE(os.stat(d.name).st_mode) == 0o700
        assert len(os.fsencode(os.path.join(d.name, "s" * 11))) < 104
    finally:
        d.cleanup()


def test_no_short_enough_base_is_an_environment_limit(tmp_path, monkeypatch):
    long_base = tmp_path / ("t" * 120)
    long_base.mkdir()
    monkeypatch.setattr(limits, "_bases", lambda: [str(long_base)])
    with pytest.raises(EnvironmentLimit, match="sun_path"):
        limits.unix_socket_dir()
    assert list(long_base.iterdir()) == []


def test_a_unix_path_too_long_for_sun_path_is_enametoolong_by_name():
    # Not a number: 36 is ENAMETOOLONG on Linux but EINPROGRESS on the BSDs.
    from conformance.backends.libc import pack_sockaddr

    with pytest.raises(OSError) as raised:
        pack_sockaddr("unix", "/" + "x" * 200)
    assert raised.value.errno == errno.ENAMETOOLONG


def test_deleted_working_directory_is_one_line_and_exit_2(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(
        ["sh", "-c", 'cd "$1" && rmdir "$1" && exec "$0" -m conformance run -q',
         sys.executable, str(gone)],
        capture_output=True, text=True, timeout=120,
    )
    assert "working directory no longer exists" in one_line_error(proc)


def test_unix_socket_dir_probes_a_base_once_then_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "_bases", lambda: [str(tmp_path)])
    monkeypatch.setattr(limits, "_fitting", {})
    probes = []
    real_fits = limits._fits
    monkeypatch.setattr(limits, "_fits", lambda d: probes.append(d) or real_fits(d))
    first, second = limits.unix_socket_dir(), limits.unix_socket_dir()
    try:
        assert len(probes) == 1
        assert os.path.dirname(second.name) == str(tmp_path)
        assert first.name != second.name
    finally:
        first.cleanup()
        second.cleanup()


def _entries(path: str) -> list[str]:
    """What a case left in its directory: all but the suite's marker (tempdirs.py)."""
    return [name for name in os.listdir(path) if name != tempdirs.MARKER]


def test_a_released_unix_socket_dir_is_the_next_one_emptied(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "_bases", lambda: [str(tmp_path)])
    monkeypatch.setattr(limits, "_fitting", {})
    monkeypatch.setattr(limits, "_spare", {})
    first = limits.unix_socket_dir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.path.join(first.name, "s0"))
    os.symlink("s0", os.path.join(first.name, "s1"))
    limits.release(first)
    second = limits.unix_socket_dir()
    try:
        assert second.name == first.name
        assert _entries(second.name) == []
        assert stat.S_IMODE(os.stat(second.name).st_mode) == 0o700
    finally:
        second.cleanup()


@pytest.mark.parametrize("change", ["subdirectory", "mode"])
def test_a_released_unix_socket_dir_a_case_changed_is_removed(change, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "_bases", lambda: [str(tmp_path)])
    monkeypatch.setattr(limits, "_fitting", {})
    monkeypatch.setattr(limits, "_spare", {})
    first = limits.unix_socket_dir()
    if change == "subdirectory":
        os.mkdir(os.path.join(first.name, "locked"), 0o555)
    else:
        os.chmod(first.name, 0o755)
    limits.release(first)
    assert not os.path.exists(first.name)
    second = limits.unix_socket_dir()
    try:
        assert second.name != first.name
        assert _entries(second.name) == []
    finally:
        second.cleanup()


# Every temporary base Python would try (TMPDIR, /tmp, /var/tmp, /usr/tmp, then the
# working directory) made unwritable, in a private mount namespace. Read-only
# over itself, not hidden: the interpreter may live there (tox in a clone in /tmp).
NO_TMP = ('for d in /tmp /var/tmp /usr/tmp; do if [ -d "$d" ]; then '
          'mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 1; fi; done; '
          'cd /proc && ! touch /tmp/probe 2>/dev/null && exec "$@"')


@linux_only
def test_no_writable_temporary_directory_is_one_line_and_exit_2(tmp_path):
    """The run needs a temporary directory (worker run directory, Hypothesis store,
    AF_UNIX paths): without one it says so up front instead of a worker's traceback."""
    prefix = next((p for p in (["unshare", "--mount"],
                               ["unshare", "--user", "--map-root-user", "--mount"])
                   if subprocess.run([*p, "true"], capture_output=True).returncode == 0), None)
    if prefix is None:
        pytest.skip("unshare --mount is not permitted here")
    env = {k: v for k, v in os.environ.items() if k not in ("TEMP", "TMP")}
    env["TMPDIR"] = str(tmp_path / "missing")
    out = Path("/dev/shm") / f"sc-no-tmp-test-{os.getpid()}"
    proc = subprocess.run(
        [*prefix, "sh", "-c", NO_TMP, "sh", sys.executable, "-m", "conformance", "run",
         "-q", "-n", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=120, env=env)
    line = one_line_error(proc)
    assert "no writable temporary directory" in line and "set TMPDIR" in line, line
    assert not out.exists(), "the run wrote its output directory before refusing"


def test_plugin_without_a_temporary_directory_is_a_usage_error(session, monkeypatch):
    import tempfile

    def unusable() -> str:
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp']")

    monkeypatch.setattr(tempfile, "gettempdir", unusable)
    session.makepyfile(test_fake=MISSPELT)
    # pytest's own output capturing needs a temporary file: without it (-s) the
    # session gets as far as the plugin, which must say what is missing.
    result = session.runpytest("-s", "-p", "conformance.plugin", "--conformance")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no writable temporary directory" in result.stderr.str()
