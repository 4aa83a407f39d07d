"""Shared fixtures for the framework's self-tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import case as case_mod
from conformance.report.model import validate

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def load_report():
    """Read a report the suite wrote and validate it against the shipped schema."""

    def load(path: Path) -> dict:
        data = json.loads(Path(path).read_text())
        validate(data, str(path))
        return data

    return load


@pytest.fixture
def session(pytester):
    """A pytester session for fake cases; the catalogue is restored afterwards."""
    saved = dict(case_mod.CATALOGUE)
    yield pytester
    case_mod.CATALOGUE.clear()
    case_mod.CATALOGUE.update(saved)


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """socket-conformance as a user runs it: a subprocess in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a run that refused its input with exit 2."""
    assert proc.returncode == 2, f"got exit {proc.returncode}, expected 2: {proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"got {len(lines)} lines on stderr, expected one: {proc.stderr}"
    assert "Traceback" not in proc.stderr
    return lines[0]
