"""The coverage inventory and command: declarations stay honest, totals add up."""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from conformance import expectations
from conformance.case import CaseInfo, load_catalogue
from conformance.coverage import FUNCTIONS, load_spec, measure, render
from conformance.errors import ExpectationError
from tests.conftest import cli

SPEC = load_spec()
# One condition, two spellings (POSIX: "[EAGAIN] or [EWOULDBLOCK]").
SYNONYMS = {"EAGAIN": {"EAGAIN", "EWOULDBLOCK"}}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _declared() -> list[tuple[str, str]]:
    return [(info.id, key) for info in load_catalogue().values() for key in info.asserts]


def test_every_declared_entry_is_in_the_inventory():
    known = {e.key for e in SPEC}
    unknown = [f"{cid} asserts {key}" for cid, key in _declared() if key not in known]
    assert not unknown, f"entries missing from conformance/coverage/spec.toml: {unknown}"


def test_no_case_asserts_an_unreachable_entry():
    unreachable = {e.key for e in SPEC if not e.reachable}
    bad = [f"{cid} asserts {key}" for cid, key in _declared() if key in unreachable]
    assert not bad, f"spec.toml marks these unreachable, yet a case asserts them: {bad}"


def test_a_declared_errno_appears_in_the_case_expectation():
    sets = expectations.load_all()
    dishonest = []
    for cid, key in _declared():
        name = key.rsplit(":", 1)[1].split(".", 1)[0]
        if not hasattr(errno, name):
            continue  # a flag or a behaviour (MSG_PEEK, EOF), not an errno name
        seen = {
            s
            for family in ("linux", "posix")
            for exp in sets[family].entries.get(cid, ())
            for s in _strings([dict(a) for a in exp.accept])
        }
        if not SYNONYMS.get(name, {name}) & seen:
            dishonest.append(f"{cid} asserts {key} but no linux/posix expectation accepts {name}")
    assert not dishonest, dishonest


def test_inventory_keys_name_their_function():
    for e in SPEC:
        if e.source == "posix":
            assert e.key.split(":")[1] == e.function, e.key
        assert e.function in FUNCTIONS


def test_inventory_totals_match_the_audit():
    cov = measure(SPEC, [])
    assert cov.totals("posix") == (0, 115, 26)
    assert cov.totals("linux") == (0, 94, 0)


def _info(cid: str, *asserts: str) -> CaseInfo:
    return CaseInfo(cid, "t", "must", (), {}, asserts)


def test_measure_counts_an_entry_once_however_many_cases_assert_it():
    cov = measure(SPEC, [_info("a.one", "posix:recv:MSG_PEEK"),
                         _info("a.two", "posix:recv:MSG_PEEK", "linux:recv.2:MSG_PEEK")])
    assert cov.totals("posix") == (1, 115, 26)
    assert cov.totals("linux") == (1, 94, 0)
    assert cov.asserted_by["posix:recv:MSG_PEEK"] == ["a.one", "a.two"]
    assert "posix:recv:MSG_PEEK" in render(cov) and "a.one, a.two" in render(cov)


def test_unknown_declaration_is_reported_with_case_and_key():
    cov = measure(SPEC, [_info("a.one", "posix:recv:EBOGUS")])
    assert cov.unknown == [("a.one", "posix:recv:EBOGUS")]
    assert "case a.one asserts posix:recv:EBOGUS" in render(cov)


def test_coverage_command_totals_equal_the_catalogue_declarations(tmp_path):
    proc = cli("coverage", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    cov = measure(SPEC, load_catalogue().values())
    for source in ("posix", "linux"):
        asserted, reachable, unreachable = cov.totals(source)
        assert report["totals"][source] == {
            "asserted": asserted, "of": reachable, "unreachable": unreachable,
        }
    listed = [row["key"] for f in report["functions"] for row in f["entries"]]
    assert sorted(listed) == sorted(e.key for e in SPEC)


def test_coverage_command_text_ends_with_both_totals(tmp_path):
    proc = cli("coverage", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.strip().splitlines()[-2:]
    assert tail[0].startswith("POSIX conditions and flags: ") and "of 115 asserted" in tail[0]
    assert tail[1].startswith("Linux-documented behaviours: ") and "of 94 asserted" in tail[1]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[entry]]\nkey = "posix:recv:EAGAIN"\nfunction = "recv"\n', "needs section"),
        ('[[entry]]\nkey = "nonsense"\n', "malformed"),
        ('[[entry]]\nkey = "posix:recv:EAGAIN"\nfunction = "read"\n', "unknown source or function"),
        ('[[entry]]\nkey = "posix:recv:EAGAIN"\nfunction = "recv"\nsection = "s"\n'
         'description = "d"\nurl = "u"\nreachable = false\n', "needs a reason"),
        ('[[entry]]\nkey = "posix:recv:EAGAIN"\nbogus = 1\n', "only"),
        ('[[entry]\n', "spec.toml"),
    ],
)
def test_malformed_inventory_is_refused_with_its_entry(tmp_path, text, fragment):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ExpectationError, match=re.escape(fragment)):
        load_spec(path)
