"""The compatibility matrix as Markdown and as one self-contained HTML page.

Everything shown comes from reports and expectation files, so everything is
escaped: Jinja2 autoescape in the HTML, entity-escaping in Markdown cells (a
Markdown viewer renders inline HTML otherwise).
"""

from __future__ import annotations

import html as _html
from collections.abc import Sequence
from functools import cache

import jinja2

from conformance.report.matrix import Cell, Column, Matrix, Row, agreeing
from conformance.report.render import template_env

LEGEND = {
    "conforms": "matches the platform's documentation",
    "deviates": "does not match it",
    "undocumented": "observed; nothing documented to judge it by",
    "unsupported": "the feature is absent",
    "skipped": "a precondition was missing",
    "timeout": "a blocking call never returned",
    "error": "the harness broke",
    "flaky": "failed, then passed when re-run",
    "documented": "what the documentation says; not observed",
    "unknown": "nothing documented and not observed",
    "absent": "not in this report",
}


def kinds_text(cell: Cell) -> str:
    return "|".join(str(k) for k in cell.kinds)


def _md(text: str) -> str:
    return _html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _md_cell(cell: Cell) -> str:
    kind = f"[{kinds_text(cell)}] " if cell.kinds else ""
    state = "" if cell.state in ("unknown", "absent") or cell.text == cell.state else (
        f" · _{cell.state}_")
    text = _md(cell.text)
    if cell.link:
        text = "[" + text.replace("[", "\\[").replace("]", "\\]") + f"](<{cell.link}>)"
    return _md(kind) + text + state


def _agreement(rows: Sequence[Row], observed: int) -> str:
    return (f"{agreeing(rows)} of {len(rows)} row(s) agree across the {observed} observed "
            "platform(s).")


def _md_header(col: Column) -> str:
    return _md(col.label if col.observed else f"{col.label} (documented, not observed)")


def markdown(m: Matrix) -> str:
    """The matrix as Markdown: one table per area, a legend and the sources."""
    observed = sum(c.observed for c in m.columns)
    rows = m.rows
    lines = [
        "# Socket conformance: compatibility matrix",
        "",
        f"{len(rows)} rows, {observed} observed platform(s), "
        f"{len(m.columns) - observed} documented only; "
        f"{sum(1 for r in rows if r.disagree)} row(s) where platforms disagree (marked ≠).",
        "",
        "Each cell: `[kind] observation · verdict`. Per row, identical observations share a "
        "behaviour kind number. Documented columns come from the expectation files: "
        "documented, not observed; `?` is unknown.",
        "",
        "| platform | column | details | source |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_md(c.label)} | {'observed' if c.observed else 'documented, not observed'} | "
        f"{_md(c.details)} | {_md(c.source)} |"
        for c in m.columns
    ]
    head = "| ≠ | case | params | " + " | ".join(_md_header(c) for c in m.columns) + " |"
    rule = "|---|---|---|" + "---|" * len(m.columns)
    for area, area_rows in m.areas:
        lines += ["", f"## {_md(area)}", "", _agreement(area_rows, m.observed), "", head, rule]
        for r in area_rows:
            flag = f"≠ {r.kinds} ({r.disagree})" if r.disagree else ""
            lines.append(
                f"| {flag} | `{_md(r.case_id)}` | {_md(r.params)} | "
                + " | ".join(_md_cell(c) for c in r.cells) + " |"
            )
    lines += ["", "## Legend", ""] + [f"- `{k}`: {v}" for k, v in LEGEND.items()]
    return "\n".join(lines) + "\n"


@cache
def _env() -> jinja2.Environment:
    return template_env(kinds_text=kinds_text)


def html(m: Matrix) -> str:
    """One page, inline CSS and JS, no network; every value is escaped by autoescape."""
    return _env().get_template("matrix.html.j2").render(
        m=m, rows=m.rows, legend=LEGEND, agreeing=agreeing,
    )
