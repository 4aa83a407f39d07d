"""The catalogue: unique ids, citations on every case, a deviation for every case."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import expectations
from conformance.case import (
    CASE_ID,
    CATALOGUE,
    DuplicateCaseId,
    case,
    load_catalogue,
    posix,
    seed,
    seed_quote,
)
from tests.deviations import DEVIATIONS


def test_every_case_has_a_valid_id_title_and_citation():
    for info in load_catalogue().values():
        assert CASE_ID.match(info.id), info.id
        assert info.title, f"{info.id} has no title"
        assert info.citations, f"{info.id} has no citation"


def test_every_case_has_a_docstring_claim():
    import importlib

    for info in load_catalogue().values():
        fn = getattr(importlib.import_module(info.module), info.function)
        assert (fn.__doc__ or "").strip(), f"{info.id}: {info.function} has no docstring"


def test_every_case_has_a_named_deviation():
    missing = set(load_catalogue()) - set(DEVIATIONS)
    assert not missing, f"cases with no deviating observation in tests/deviations.py: {missing}"


def test_duplicate_case_id_is_refused():
    load_catalogue()
    some_id = next(iter(CATALOGUE))

    with pytest.raises(DuplicateCaseId, match=some_id):

        @case(some_id, "a clash", cites=[posix("bind")])
        def test_clash(kit):
            """Clash."""


def test_case_without_citation_is_refused():
    with pytest.raises(ValueError, match="no citation"):
        case("x.uncited", "uncited", cites=[])


def test_case_id_must_be_dotted():
    with pytest.raises(ValueError, match="dotted"):
        case("NotDotted", "bad", cites=[posix("bind")])


def test_seed_citations_quote_the_tutorial_in_english():
    seeds = [c for info in load_catalogue().values() for c in info.citations
             if c.kind == "seed"]
    assert seeds
    for c in seeds:
        assert "line" not in c.ref and c.section.startswith("\u201c"), c
        # The rendering is English prose, not the Chinese original.
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in c.section), c


def test_seed_line_without_a_rendering_is_refused():
    with pytest.raises(ValueError, match="no English rendering"):
        seed("9", "a blank line of the tutorial")


def test_a_seed_range_quotes_every_line_in_it():
    assert seed_quote("2-3") == f"{seed_quote('2')} {seed_quote('3')}"


def test_expectation_sources_name_a_source_a_reader_has():
    # PLATFORMS.md is the developers' summary and does not ship: cite what it summarised.
    for path in Path(expectations.__file__).parent.rglob("*.toml"):
        assert "PLATFORMS.md" not in path.read_text("utf-8"), path.name
