"""Shared fixtures for the framework's self-tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
