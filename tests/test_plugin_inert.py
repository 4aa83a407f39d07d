"""The plugin is inert in a pytest session that did not ask for the suite.

The package installs a ``pytest11`` entry point, so pytest loads the plugin
in every session of the environment. A project with one unrelated test must
not notice: no output of ours, no process or thread started, no fixture
and no marker beyond the namespaced ``conformance_*`` ones.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

UNRELATED = "def test_unrelated():\n    assert 1 + 1 == 2\n"
# What the plugin prints when it is on; none of it may show when it is off.
OURS = re.compile(r"socket-conformance|capabilities:|expectations:|hypothesis profile")


def _pytest(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=project, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    return tmp_path


def test_unrelated_project_prints_nothing_of_ours(project):
    proc = _pytest(project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # pytest's own "plugins:" line names every installed plugin; that line is pytest's.
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if not ln.startswith("plugins:")]
    assert not [ln for ln in lines if OURS.search(ln)], proc.stdout


def test_unrelated_project_gets_no_unnamespaced_fixture_or_marker(project):
    fixtures = _pytest(project, "--fixtures").stdout
    assert not re.search(r"^(kit|expectations)\b", fixtures, re.M), fixtures
    markers = [ln for ln in _pytest(project, "--markers").stdout.splitlines()
               if ln.startswith("@pytest.mark.") and "conformance" in ln]
    assert all(ln.startswith("@pytest.mark.conformance_") for ln in markers), markers


def _processes_and_threads(project, *args: str) -> list[str]:
    """Every clone/fork/vfork/execve of a pytest session, as strace saw them."""
    log = project / "strace.log"
    subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e",
                    "trace=clone,clone3,fork,vfork,execve",
                    sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                   cwd=project, capture_output=True, timeout=120, check=True)
    calls = re.findall(r"\b(clone3?|v?fork|execve)\(", log.read_text())
    log.unlink()
    return calls


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_unrelated_project_starts_no_process_or_thread_of_ours(project):
    with_plugin = _processes_and_threads(project)
    without = _processes_and_threads(project, "-p", "no:conformance.plugin")
    assert with_plugin == without


def test_asking_for_the_suite_switches_it_on(project):
    """The explicit switch; ``run`` and collecting the shipped cases switch it on too."""
    (project / "test_unrelated.py").write_text(UNRELATED)
    proc = _pytest(project, "--conformance")
    assert "socket-conformance: platform" in proc.stdout
    (project / "pytest.ini").write_text("[pytest]\nconformance = true\n")
    assert "socket-conformance: platform" in _pytest(project).stdout


def test_collecting_the_shipped_cases_switches_it_on(project):
    from conformance.commands.run import cases_dir

    proc = _pytest(project, str(cases_dir() / "test_listen.py"), "-q", "--co")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fixture 'kit' not found" not in proc.stdout
