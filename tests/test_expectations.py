"""Expectation files: validation errors name file and line; no stale entries."""

from __future__ import annotations

import pytest

from conformance import expectations
from conformance.case import load_catalogue
from conformance.errors import ExpectationError


def test_shipped_files_load():
    sets = expectations.load_all()
    assert sets["linux"].entries


@pytest.mark.parametrize("family", [*expectations.FAMILIES, expectations.BASELINE])
def test_every_expectation_names_a_catalogued_case(family):
    stale = expectations.load_all()[family].case_ids() - set(load_catalogue())
    assert not stale, f"got expectations for unknown case ids {sorted(stale)} in {family}.toml"


def test_every_expectation_has_a_source():
    for fam in expectations.load_all().values():
        for entries in fam.entries.values():
            assert all(e.source for e in entries)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[["a.b"]]\naccept = [{ x = 1 }]\n', "has no source"),
        ('\n\n[["a.b"]]\nsource = "s"\n', "needs accept"),
        ('[["a.b"]]\naccept = [{ x = 1 }]\nsource = "s"\nwhen = { planet = "mars" }\n', "'when'"),
        ('[["a.b"]]\naccept = [{ x = 1 }]\nsource = "s"\nwhen = { kernel = "new" }\n', "kernel"),
        ('[["a.b"]]\naccept = [{ x = 1 }]\nsource = "s"\nbogus = 1\n', "unknown key"),
        ('[["a.b"]\naccept = 1\n', "line 1"),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path, text, fragment):
    path = tmp_path / "linux.toml"
    path.write_text(text)
    with pytest.raises(ExpectationError) as err:
        expectations.load_file(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_semantic_error_points_at_the_entry_line(tmp_path):
    path = tmp_path / "linux.toml"
    path.write_text('# c\n\n[["a.b"]]\naccept = [{ x = 1 }]\n')
    with pytest.raises(ExpectationError, match=r"linux\.toml:3:"):
        expectations.load_file(path)
