"""Human renderings of one platform report: Markdown and self-contained HTML."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import jinja2

from conformance import inert
from conformance.case import CASE_ID
from conformance.report import layout
from conformance.verdict import VERDICTS


def short(value: Any) -> str:
    """An observation in a few words: ``errno=EAGAIN, blocked=true``."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={short(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(short(v) for v in value) + "]"
    return json.dumps(value) if not isinstance(value, str) else value


def params_text(params: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def expected_text(expected: dict[str, Any] | None) -> str:
    if not expected:
        return "unknown"
    if expected.get("open"):
        return "open (implementation-defined)"
    return " | ".join(short(a) for a in expected["accept"])


def portable_text(portable: bool | None) -> str:
    if portable is None:
        return "POSIX leaves it open or says nothing"
    return "yes, the POSIX behaviour" if portable else "no, POSIX specifies otherwise"


def _md(text: Any) -> str:
    """Report text as Markdown that renders as itself: no markup, no table breaks, no
    control characters (inert.markdown escapes them visibly)."""
    return inert.markdown(text)


def _md_id(case_id: str) -> str:
    return f"`{case_id}`" if CASE_ID.match(case_id) else _md(case_id)


def _md_link(text: str, url: Any) -> str:
    href = layout.safe_url(url)
    if not href or any(c in href for c in "<> "):
        return _md(text)
    return "[" + _md(text).replace("[", "\\[").replace("]", "\\]") + f"](<{href}>)"


def _md_sources(r: dict[str, Any]) -> str:
    return "; ".join(_md_link(s.get("text", ""), s.get("url")) for s in r["sources"])


def _md_fence(lines: list[str]) -> list[str]:
    """A fenced block longer than any run of backticks inside it, so it cannot end early."""
    longest = max((len(run) for ln in lines for run in re.findall(r"`+", ln)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *lines, fence]


def markdown(report: dict[str, Any]) -> str:
    """The report for CI summaries and pull requests, in the HTML page's order."""
    p = report["platform"]
    lay = layout.build(report)
    shown = [v for v in VERDICTS if report["summary"].get(v)]
    counts = ", ".join(f"{v} {report['summary'][v]}" for v in shown)
    lines = [
        f"# Socket conformance: {_md(p['id'])}",
        "",
        f"{_md(p['os'])} {_md(p['release'])} · {_md(p['arch'])} · {_md(p.get('libc', '?'))} · "
        f"{_md(p['python'])} · stack {_md(p['stack'])} · suite {_md(report['suite']['version'])} "
        f"({_md(report['suite']['revision'])}) · run {_md(report['started'])} .. "
        f"{_md(report['finished'])}",
        "",
        f"**{len(report['results'])} results:** {_md(counts)}",
        "",
        "| area | results | " + " | ".join(shown) + " |",
        "|---|---:|" + "---:|" * len(shown),
    ]
    for a in lay.areas:
        name = f"**{_md(a.name)}**" if a.failing else _md(a.name)
        lines.append(f"| {name} | {a.total} | "
                     + " | ".join(str(a.counts.get(v, 0)) for v in shown) + " |")
    attention = sum(len(row.instances) for row in lay.attention)
    lines += ["", f"## Needs attention: {attention}", ""]
    if not lay.attention:
        lines += ["Nothing deviates, times out, errors or was flaky.", ""]
    for row in lay.attention:
        r = row.first
        params = f" [{_md(row.params)}]" if r["params"] else ""
        lines += [
            "".join(f'<a id="{a}"></a>' for a in row.anchors),
            f"### {r['verdict'].upper()} {_md_id(r['id'])}{params}",
            "",
        ]
        if r.get("title"):
            lines += [_md(r["title"]), ""]
        got = "no observation" if r["observation"] is None else short(layout.got(r))
        lines += [f"- expected: {_md(expected_text(r['expected']))}", f"- got: {_md(got)}"]
        if layout.message(r):
            lines.append(f"- message: {_md(layout.message(r))}")
        for where, detail in row.details:
            lines.append(f"- detail ({_md(where)}): {_md(short(detail))}")
        if r.get("attempts") and not layout.varied_attempts(r):
            lines.append(f"- attempts: {len(r['attempts'])}, each ending the same way")
        for i, t in enumerate(r.get("attempts") or [] if layout.varied_attempts(r) else [], 1):
            lines.append(f"- attempt {i}: {_md(t['verdict'])}, {_md(short(t['observation']))}"
                         + (f" ({_md(t['message'])})" if t.get("message") else ""))
        lines.append(f"- portable: {portable_text(r['portable'])}")
        if r["sources"]:
            lines.append(f"- source: {_md_sources(r)}")
        for c in r.get("citations") or []:
            if isinstance(c, dict):
                lines.append(f"- cites: {_md_link(c.get('ref', ''), c.get('url'))} "
                             f"{_md(c.get('section', ''))}")
        cx = layout.counterexample(r)
        if cx:
            lines += ["", "Counterexample (shrunk):", "", *_md_fence(cx)]
        lines.append("")
    lines += ["## Everything else, by area", ""]
    for a in lay.areas:
        if not a.rows:
            continue
        lines += [f"### {_md(a.name)}", "",
                  "| case | instances | verdict | observed | expected | source |",
                  "|---|---|---|---|---|---|"]
        for row in a.rows:
            r = row.first
            folded = f" ({len(row.instances)} instances)" if len(row.instances) > 1 else ""
            verdict = r["verdict"] + (f": {r['message']}" if r["message"] else "")
            lines.append("| " + " | ".join((
                _md_id(r["id"]), _md(row.params) + folded, _md(verdict),
                _md(short(r["observation"])), _md(expected_text(r["expected"])), _md_sources(r),
            )) + " |")
        lines.append("")
    return "\n".join(lines)


def template_env(**filters: Any) -> jinja2.Environment:
    """The report templates, with autoescape on: every value from a report is escaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("conformance.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(short=short, params_text=params_text, expected_text=expected_text,
                       safe_url=layout.safe_url, anchor=layout.anchor,
                       anchor_part=lambda text: layout.anchor(str(text), {}),
                       area_of=layout.area_of, counterexample=layout.counterexample,
                       got=layout.got, message=layout.message,
                       varied_attempts=layout.varied_attempts,
                       portable_text=portable_text)
    env.filters.update(filters)
    return env


@cache
def _env() -> jinja2.Environment:
    return template_env()


def html(report: dict[str, Any]) -> str:
    """One self-contained page; every value from the report is escaped by autoescape."""
    shown = [v for v in VERDICTS if report["summary"].get(v)]
    lay = layout.build(report)
    return _env().get_template("report.html.j2").render(
        r=report, verdicts=VERDICTS, shown_verdicts=shown, layout=lay,
        attention_count=sum(len(row.instances) for row in lay.attention),
    )
