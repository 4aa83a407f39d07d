"""A user's own cases and expectations, run beside the shipped ones.

The example is the README's: its case module, expectations overlay and
command are copied out of README.md, so the documentation cannot drift from
what works.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from conformance import expectations
from conformance.errors import ExpectationError
from tests.conftest import cli, one_line_error

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Your own cases, in your own repository"


def readme_example() -> tuple[dict[str, str], list[str]]:
    """The files (path -> text) and the command of the README's example."""
    text = README.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    files: dict[str, str] = {}
    command: list[str] = []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        first, _, rest = body.partition("\n")
        if lang == "sh":
            command = shlex.split(body.strip())
        else:
            assert first.startswith("# "), f"a {lang} block must start with '# <path>'"
            files[first[2:].strip()] = rest
    assert files and command, "the README example lost its files or its command"
    return files, command


def test_readme_user_case_runs_beside_the_shipped_cases(tmp_path):
    files, command = readme_example()
    repo = tmp_path / "their-repo"
    for name, body in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(body)
    assert command[:2] == ["socket-conformance", "run"]
    # -k keeps the shipped side to one area; --out keeps the report out of the repo.
    proc = cli(*command[1:], "-k", "test_mine or test_listen", "--out", str(tmp_path / "out"),
               cwd=repo)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    results = json.loads(path.read_text())["results"]
    mine = [r for r in results if r["id"] == "mine.udp.loopback_roundtrip"]
    assert {r["params"]["family"] for r in mine} >= {"inet"}
    ran = [r for r in mine if r["verdict"] != "unsupported"]
    assert ran and all(r["observation"] == {"received": "ping"} for r in ran), mine
    if path.name.startswith("linux-"):
        assert all(r["verdict"] in ("conforms", "unsupported") for r in mine), mine
    shipped = [r for r in results if r["id"].startswith("listen.")]
    assert shipped, "the shipped cases did not run beside the user's"
    assert all(r["verdict"] != "undocumented" for r in shipped if r["verdict"] != "unsupported")


def _overlay(tmp_path: Path, body: str, name: str = "linux.toml") -> Path:
    d = tmp_path / "mine"
    d.mkdir(exist_ok=True)
    (d / name).write_text(body)
    return d


def test_user_entry_replaces_the_shipped_one_for_its_case_id_only(tmp_path):
    shipped = expectations.load_family("linux")
    taken, kept = sorted(shipped.entries)[:2]
    d = _overlay(tmp_path, f'[["{taken}"]]\naccept = [{{ mine = true }}]\nsource = "mine"\n')
    overlaid = expectations.load_family("linux", d)
    assert [e.source for e in overlaid.entries[taken]] == ["mine"]
    assert overlaid.entries[kept] == shipped.entries[kept]
    assert set(overlaid.entries) == set(shipped.entries)


@pytest.mark.parametrize(("make", "says"), [
    (lambda t: t / "absent", "no such directory"),
    (lambda t: _overlay(t, "") / "linux.toml", "not a directory"),
    (lambda t: (t / "empty").mkdir() or t / "empty", "holds no expectation files"),
    (lambda t: _overlay(t, "", name="linx.toml"), "linx.toml names no platform family"),
])
def test_an_overlay_that_cannot_be_meant_is_refused(tmp_path, make, says):
    with pytest.raises(ExpectationError, match=says):
        expectations.load_all(make(tmp_path))


def test_missing_expectations_is_one_line_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    env_line = one_line_error(cli("run", "--out", str(out), cwd=tmp_path,
                                  env={"SOCKET_CONFORMANCE_EXPECTATIONS": str(tmp_path / "typo")}))
    assert "typo" in env_line and "no such directory" in env_line
    flag_line = one_line_error(cli("run", "--out", str(out), "--expectations",
                                   str(tmp_path / "typo"), cwd=tmp_path))
    assert "typo" in flag_line
    assert not out.exists() or not list(out.iterdir())


def test_missing_case_directory_is_one_line_and_exit_2(tmp_path):
    assert "nowhere" in one_line_error(cli("run", "--cases", str(tmp_path / "nowhere"),
                                           cwd=tmp_path))


def test_missing_expectations_in_a_pytest_session_is_a_usage_error(session):
    session.makepyfile(test_fake=(
        "from conformance.api import case, posix\n\n"
        "@case('fake.any', 'anything', cites=[posix('socket')])\n"
        "def test_any(kit):\n"
        "    return {'ran': True}\n"))
    result = session.runpytest("-p", "conformance.plugin",
                               "--conformance-expectations", str(session.path / "typo"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no such directory" in result.stderr.str()
    assert "fake.any" not in result.stdout.str()
