"""What the catalogue asserts, measured against the specifications' own lists.

``spec.toml`` (shipped beside this module) is the inventory: one entry per
POSIX ERRORS condition or MSG_* flag of the nine calls and per behaviour the
Linux manual pages document for them, each with a stable key. Cases name the
keys they assert (``case(..., asserts=[...])``); :func:`measure` joins the two.
Entries no loopback or AF_UNIX set-up can reach are listed but not counted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from conformance.case import SPEC_ENTRY, CaseInfo
from conformance.errors import ExpectationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# The nine calls in the order a connection uses them; the report follows it.
FUNCTIONS = (
    "socket", "bind", "listen", "accept", "connect", "send", "sendto", "recv", "recvfrom",
)
SOURCES = ("posix", "linux")
_KEYS = {"key", "function", "section", "description", "url", "reachable", "reason"}


@dataclass(frozen=True)
class Entry:
    """One listed condition or documented behaviour."""

    key: str
    function: str
    section: str
    description: str
    url: str
    reachable: bool = True
    reason: str = ""

    @property
    def source(self) -> str:
        return self.key.split(":", 1)[0]


@dataclass
class Coverage:
    """The inventory with, per entry, the case ids that assert it."""

    entries: list[Entry]
    asserted_by: dict[str, list[str]]
    # (case id, key) pairs a case declares but the inventory does not list
    unknown: list[tuple[str, str]] = field(default_factory=list)

    def totals(self, source: str) -> tuple[int, int, int]:
        """(asserted, reachable, unreachable) entries of one source."""
        own = [e for e in self.entries if e.source == source]
        reachable = [e for e in own if e.reachable]
        asserted = sum(1 for e in reachable if self.asserted_by.get(e.key))
        return asserted, len(reachable), len(own) - len(reachable)

    def to_json(self) -> dict[str, Any]:
        functions = []
        for fn in FUNCTIONS:
            rows = [
                {
                    "key": e.key, "source": e.source, "section": e.section,
                    "description": e.description, "url": e.url, "reachable": e.reachable,
                    "reason": e.reason or None, "cases": self.asserted_by.get(e.key, []),
                }
                for e in self.entries if e.function == fn
            ]
            functions.append({"function": fn, "entries": rows})
        totals = {}
        for source in SOURCES:
            asserted, reachable, unreachable = self.totals(source)
            totals[source] = {
                "asserted": asserted, "of": reachable, "unreachable": unreachable,
            }
        return {
            "functions": functions,
            "totals": totals,
            "unknown": [{"case": c, "key": k} for c, k in self.unknown],
        }


def spec_path() -> Path:
    return Path(str(resources.files("conformance.coverage"))) / "spec.toml"


def load_spec(path: Path | None = None) -> list[Entry]:
    """Parse and check the inventory; a bad entry raises ExpectationError naming it."""
    path = path or spec_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExpectationError(f"{path}: {exc}") from None
    entries: list[Entry] = []
    seen: set[str] = set()
    for n, t in enumerate(data.get("entry", []), 1):
        where = f"{path}: entry {n}"
        if not isinstance(t, dict) or set(t) - _KEYS:
            raise ExpectationError(f"{where}: only {sorted(_KEYS)} are allowed")
        key = t.get("key", "")
        if not isinstance(key, str) or not SPEC_ENTRY.match(key) or key in seen:
            raise ExpectationError(f"{where}: key {key!r} is malformed or repeated")
        if key.split(":", 1)[0] not in SOURCES or t.get("function") not in FUNCTIONS:
            raise ExpectationError(f"{where} ({key}): unknown source or function")
        if not all(isinstance(t.get(k), str) and t[k] for k in ("section", "description", "url")):
            raise ExpectationError(f"{where} ({key}): needs section, description and url")
        reachable = t.get("reachable", True)
        if reachable is not True and not (reachable is False and t.get("reason")):
            raise ExpectationError(f"{where} ({key}): reachable = false needs a reason")
        seen.add(key)
        entries.append(Entry(
            key, t["function"], t["section"], t["description"], t["url"], reachable,
            t.get("reason", ""),
        ))
    return entries


def measure(entries: list[Entry], catalogue: Iterable[CaseInfo]) -> Coverage:
    """Join the inventory and the catalogue's declarations."""
    known = {e.key for e in entries}
    asserted_by: dict[str, list[str]] = {}
    unknown: list[tuple[str, str]] = []
    for info in catalogue:
        for key in info.asserts:
            if key in known:
                asserted_by.setdefault(key, []).append(info.id)
            else:
                unknown.append((info.id, key))
    return Coverage(entries, {k: sorted(v) for k, v in asserted_by.items()}, unknown)


def render(cov: Coverage) -> str:
    """Plain text for a terminal or a CI log: per function, every entry and who asserts it."""
    lines = []
    width = max(len(e.key) for e in cov.entries)
    for fn in FUNCTIONS:
        rows = [e for e in cov.entries if e.function == fn]
        counts = []
        for source in SOURCES:
            own = [e for e in rows if e.source == source and e.reachable]
            done = sum(1 for e in own if cov.asserted_by.get(e.key))
            counts.append(f"{source} {done}/{len(own)}")
        lines.append(f"{fn}()  " + "  ".join(counts))
        for e in rows:
            if not e.reachable:
                what = f"unreachable: {e.reason}"
            elif cov.asserted_by.get(e.key):
                what = ", ".join(cov.asserted_by[e.key])
            else:
                what = "NOT ASSERTED"
            lines.append(f"  {e.key:<{width}}  {what}")
        lines.append("")
    for case_id, key in cov.unknown:
        lines.append(f"unknown entry: case {case_id} asserts {key}, which spec.toml does not list")
    for source, label in (("posix", "POSIX conditions and flags"),
                          ("linux", "Linux-documented behaviours")):
        asserted, reachable, unreachable = cov.totals(source)
        extra = f" ({unreachable} unreachable, not counted)" if unreachable else ""
        lines.append(f"{label}: {asserted} of {reachable} asserted{extra}")
    return "\n".join(lines)

