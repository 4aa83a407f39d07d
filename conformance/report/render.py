"""Human renderings of one platform report: Markdown and self-contained HTML."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2

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


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: dict[str, Any]) -> str:
    p = report["platform"]
    lines = [
        f"# Socket conformance: {p['id']}",
        "",
        f"- os {p['os']} {p['release']}, arch {p['arch']}, libc {p.get('libc', '?')}, "
        f"{p['python']}, stack {p['stack']}",
        f"- suite {report['suite']['version']} ({report['suite']['revision']}), "
        f"run {report['started']} .. {report['finished']}",
        "- capabilities: " + ", ".join(f"{k}={v}" for k, v in p["capabilities"].items()),
        "",
        "| verdict | count |",
        "|---|---|",
    ]
    lines += [f"| {v} | {n} |" for v, n in report["summary"].items() if n]
    lines += ["", "| case | params | verdict | observed | expected | portable | source |",
              "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        src = "; ".join(
            f"[{s['text']}]({s['url']})" if s.get("url") else s["text"] for s in r["sources"]
        )
        lines.append("| " + " | ".join(_md_cell(x) for x in (
            f"`{r['id']}`", params_text(r["params"]), r["verdict"], short(r["observation"]),
            expected_text(r["expected"]), short(r["portable"]), src,
        )) + " |")
    return "\n".join(lines) + "\n"


def template_env(**filters: Any) -> jinja2.Environment:
    """The report templates, with autoescape on: every value from a report is escaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("conformance.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(short=short, params_text=params_text, expected_text=expected_text)
    env.filters.update(filters)
    return env


@cache
def _env() -> jinja2.Environment:
    return template_env()


def html(report: dict[str, Any]) -> str:
    """One self-contained page; every value from the report is escaped by autoescape."""
    return _env().get_template("report.html.j2").render(r=report, verdicts=VERDICTS)
