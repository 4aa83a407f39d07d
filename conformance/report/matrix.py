"""Platform reports -> the compatibility matrix (a data model; rendering is elsewhere).

Theory of operation. Each report is one **observed** column. Every platform
family (linux, darwin, freebsd, windows) that no report covers becomes a
**documented** column: its cells come from the family's expectation file, not
from a run, and say so. A family without any expectation file gets no column:
nothing is invented, and within a documented column an instance without an
expectation stays unknown.

Rows are case ids, grouped by area. A case has several instances (one per
parameter combination). An axis is *irrelevant* when changing only that axis
never changes any cell; rows are collapsed over the irrelevant axes and expanded
over the others, so a case on which every instance agrees is one row, and a
case that differs by ``backend`` only shows one row per backend.

Within a row, identical observations are one **behaviour kind**, numbered from
1 in column order. A feature that is absent (``unsupported``) or a call that
never returned (``timeout``) is a behaviour too; ``skipped`` and ``error`` say
nothing about the stack and get no kind. A documented cell takes the kind(s)
of the observed behaviours its expectation admits, or a kind of its own when
it admits none of them. A row **disagrees** when the observed columns show
more than one kind, or when a documented column describes a behaviour that no
observed column showed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conformance.errnos import normalise
from conformance.errors import ReportError
from conformance.expectations import Expectation, ExpectationSet, load_family
from conformance.report.layout import anchor
from conformance.report.render import short

# The operating systems whose documentation stands in for a report they lack.
# lwIP has no such column: the stack agent observes it on any Linux machine.
FAMILY_NAMES = {"linux": "Linux", "darwin": "macOS", "freebsd": "FreeBSD", "windows": "Windows"}
# Verdicts whose (null) observation is still a fact about the stack.
_BEHAVIOUR_VERDICTS = frozenset({"unsupported", "timeout"})
DOCUMENTED = "documented"
UNKNOWN = "unknown"
ABSENT = "absent"


@dataclass(frozen=True)
class Column:
    """One platform: a report that was run, or a family's documentation."""

    id: str
    observed: bool
    label: str
    details: str
    source: str
    summary: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """What one platform did (or is documented to do) for one row."""

    state: str  # a verdict, or DOCUMENTED / UNKNOWN / ABSENT
    text: str
    note: str = ""
    kinds: tuple[int, ...] = ()
    # Identity of the behaviour: a canonical observation, or None (no kind).
    behaviour: str | None = None
    accepts: tuple[str, ...] = ()
    # Relative link to this result in the platform's own HTML report ("" for none).
    link: str = ""


@dataclass(frozen=True)
class Row:
    case_id: str
    area: str
    title: str
    params: str
    instances: int
    cells: tuple[Cell, ...]
    kinds: int
    disagree: str  # "", "observed" or "documented"


@dataclass(frozen=True)
class Matrix:
    columns: tuple[Column, ...]
    areas: tuple[tuple[str, tuple[Row, ...]], ...]

    @property
    def rows(self) -> list[Row]:
        return [r for _, rows in self.areas for r in rows]

    @property
    def observed(self) -> int:
        return sum(c.observed for c in self.columns)


def agreeing(rows: Sequence[Row]) -> int:
    """How many of ``rows`` show one behaviour across every observed platform."""
    return sum(1 for r in rows if r.disagree != "observed")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def one_errno_vocabulary(value: Any) -> Any:
    """``value`` with every errno name in the suite's one spelling (errnos.py).

    Results are normalised where errors enter, and expectations when they
    load; a report written before that may still say ``WSAEINVAL`` or
    ``EWOULDBLOCK`` for what every other platform calls ``EINVAL``, ``EAGAIN``.
    """
    if isinstance(value, str):
        return normalise(value)
    if isinstance(value, dict):
        return {k: one_errno_vocabulary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [one_errno_vocabulary(v) for v in value]
    return value


def _params_key(params: dict[str, str]) -> str:
    return _canon(params)


def check_distinct(named: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Refuse two reports of the same platform id, naming both files."""
    seen: dict[str, str] = {}
    for name, report in named:
        pid = report["platform"]["id"]
        if pid in seen:
            raise ReportError(
                f"{seen[pid]} and {name} are both reports of platform {pid}; "
                "pass one report per platform"
            )
        seen[pid] = name


def _observed_column(name: str, report: dict[str, Any]) -> Column:
    p = report["platform"]
    details = (f"{p['os']} {p['release']} · {p['arch']} · {p.get('libc', '?')} · "
               f"{p['python']} · stack {p['stack']}")
    if p.get("description"):
        details += f" · {p['description']}"
    suite = report["suite"]
    source = f"{name} (suite {suite['version']} {suite['revision']}, {report['started']})"
    return Column(p["id"], True, p["id"], details, source, dict(report["summary"]))


def _observed_cell(result: dict[str, Any] | None, link: str = "") -> Cell:
    if result is None:
        return Cell(ABSENT, "—", "this instance is not in the report")
    verdict, obs = result["verdict"], result["observation"]
    if obs is not None:
        same = one_errno_vocabulary(obs)
        note = result["message"] if same == obs else " ".join(
            x for x in (result["message"], f"(as the platform spells it: {short(obs)})") if x)
        return Cell(verdict, short(same), note, behaviour=_canon(same), link=link)
    behaviour = verdict if verdict in _BEHAVIOUR_VERDICTS else None
    return Cell(verdict, verdict, result["message"], behaviour=behaviour, link=link)


def _documented_cell(exp: Expectation | None) -> Cell:
    if exp is None:
        return Cell(UNKNOWN, "?", "nothing documented for this platform")
    accept = [one_errno_vocabulary(dict(a)) for a in exp.accept]
    accepts = tuple(_canon(a) for a in accept)
    text = " | ".join(short(a) for a in accept)
    note = exp.source + (f" <{exp.url}>" if exp.url else "")
    return Cell(DOCUMENTED, text, note, accepts=accepts)


def report_link(platform_id: str, case_id: str, params: dict[str, str]) -> str:
    """The relative link from the matrix to one result in that platform's HTML report,
    which ``run`` writes beside its JSON as ``<platform-id>.html``."""
    return f"{quote(platform_id, safe='')}.html#{anchor(case_id, params)}"


def _admits(cell: Cell, behaviour: str) -> bool:
    """Whether a documented cell accepts an observed behaviour (subset match, as verdict.py)."""
    if behaviour in _BEHAVIOUR_VERDICTS:
        return False
    got = json.loads(behaviour)
    if not isinstance(got, dict):
        return False
    return any(
        all(k in got and got[k] == v for k, v in json.loads(a).items()) for a in cell.accepts
    )


def _assign_kinds(cells: Sequence[Cell], observed: Sequence[bool]) -> tuple[list[Cell], int, str]:
    """Number the behaviours of one row; return the cells, the kind count and the flag."""
    numbers: dict[str, int] = {}
    out: list[Cell] = list(cells)
    for i, cell in enumerate(cells):
        if observed[i] and cell.behaviour is not None:
            n = numbers.setdefault(cell.behaviour, len(numbers) + 1)
            out[i] = _with_kinds(cell, (n,))
    seen = dict(numbers)
    for i, cell in enumerate(cells):
        if observed[i] or cell.state != DOCUMENTED:
            continue
        admitted = tuple(n for b, n in seen.items() if _admits(cell, b))
        if not admitted:
            # A behaviour only documentation describes: its own kind, shared by
            # documented columns that accept exactly the same observations.
            key = "doc:" + _canon(sorted(cell.accepts))
            admitted = (numbers.setdefault(key, len(numbers) + 1),)
        out[i] = _with_kinds(cell, admitted)
    # At most one observed kind: any further kind comes from documentation.
    flag = "observed" if len(seen) > 1 else "documented" if len(numbers) > 1 else ""
    return out, len(numbers), flag


def _with_kinds(cell: Cell, kinds: tuple[int, ...]) -> Cell:
    return replace(cell, kinds=kinds)


Signature = tuple[tuple[str, str, str | None, tuple[str, ...]], ...]


def _signature(cells: Sequence[Cell]) -> Signature:
    return tuple((c.state, c.text, c.behaviour, c.accepts) for c in cells)


def _relevant_axes(axes: list[str], instances: list[dict[str, str]],
                   sigs: dict[str, Signature]) -> list[str]:
    """The axes along which some cell changes; the rest are collapsed."""
    relevant = []
    for axis in axes:
        groups: dict[str, set[Signature]] = {}
        for p in instances:
            rest = _params_key({k: v for k, v in p.items() if k != axis})
            groups.setdefault(rest, set()).add(sigs[_params_key(p)])
        if any(len(s) > 1 for s in groups.values()):
            relevant.append(axis)
    # With an incomplete grid (an instance missing everywhere) dropping axes one
    # at a time can merge instances that differ: then show every instance.
    merged: dict[str, set[Signature]] = {}
    for p in instances:
        merged.setdefault(_canon([p.get(a) for a in relevant]), set()).add(sigs[_params_key(p)])
    return relevant if all(len(s) == 1 for s in merged.values()) else list(axes)


def _group_label(axes: list[str], group: list[dict[str, str]]) -> str:
    """``family=inet|inet6, backend=libc``: every value the rows' instances take."""
    return ", ".join(
        f"{axis}={'|'.join(dict.fromkeys(p.get(axis, '') for p in group))}" for axis in axes
    )


def _linked(cell: Cell, col: Column, results: dict[tuple[str, str], dict[str, Any]],
            case_id: str, group: list[dict[str, str]]) -> Cell:
    """The cell, linking to the first of the row's instances that the platform's report has."""
    for p in group:
        if (case_id, _params_key(p)) in results:
            return replace(cell, link=report_link(col.id, case_id, p))
    return cell


def build(named: Sequence[tuple[str, dict[str, Any]]],
          documented: bool = True, expectations_dir: Path | None = None) -> Matrix:
    """The matrix of validated reports ``(name, report)``, plus documented columns."""
    check_distinct(named)
    columns = [_observed_column(name, r) for name, r in named]
    by_col: list[dict[tuple[str, str], dict[str, Any]]] = [
        {(x["id"], _params_key(x["params"])): x for x in r["results"]} for _, r in named
    ]
    doc_sets: list[ExpectationSet] = []
    if documented:
        # Only the family's own stack stands in for its documentation: a Wine
        # report (os windows, stack wine) is not Windows, gVisor is not Linux.
        covered = {r["platform"]["os"] for _, r in named
                   if r["platform"]["stack"] in ("host", r["platform"]["os"])}
        for family in FAMILY_NAMES:
            exp = load_family(family, expectations_dir)
            if family in covered or not exp.entries:
                continue
            doc_sets.append(exp)
            columns.append(Column(
                f"{family}-documented", False, FAMILY_NAMES[family],
                "documented, not observed", f"expectations/{family}.toml",
            ))
    observed = [c.observed for c in columns]

    # Every (case id, params) instance any report has, with its title and area.
    info: dict[str, dict[str, Any]] = {}
    for _, r in named:
        for x in r["results"]:
            entry = info.setdefault(x["id"], {
                "title": x.get("title", ""), "area": x.get("area") or x["id"].split(".")[0],
                "instances": {},
            })
            entry["instances"].setdefault(_params_key(x["params"]), x["params"])
            entry["title"] = entry["title"] or x.get("title", "")

    areas: dict[str, list[Row]] = {}
    for case_id in sorted(info):
        entry = info[case_id]
        instances = list(entry["instances"].values())
        cells_of: dict[str, list[Cell]] = {}
        for p in instances:
            key = _params_key(p)
            row = [_observed_cell(col.get((case_id, key))) for col in by_col]
            row += [_documented_cell(s.lookup(case_id, {"os": s.family, "stack": "host"}, p))
                    for s in doc_sets]
            cells_of[key] = row
        sigs = {k: _signature(v) for k, v in cells_of.items()}
        axes = list(dict.fromkeys(a for p in instances for a in p))
        relevant = _relevant_axes(axes, instances, sigs)
        groups: dict[str, list[dict[str, str]]] = {}
        for p in instances:
            groups.setdefault(_canon([p.get(a) for a in relevant]), []).append(p)
        for group in groups.values():
            linked = [_linked(cell, col, by_col[i], case_id, group) if col.observed else cell
                      for i, (col, cell) in enumerate(zip(columns, cells_of[_params_key(group[0])],
                                                          strict=True))]
            cells, kinds, flag = _assign_kinds(linked, observed)
            areas.setdefault(entry["area"], []).append(Row(
                case_id, entry["area"], entry["title"], _group_label(axes, group),
                len(group), tuple(cells), kinds, flag,
            ))
    return Matrix(tuple(columns), tuple((a, tuple(rs)) for a, rs in sorted(areas.items())))
