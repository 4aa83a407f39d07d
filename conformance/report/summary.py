"""The one-screen summary printed at the end of a run: counts by verdict, then every
result that needs attention (instances that ended alike on one line), then where the
report went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance import inert
from conformance.report import layout
from conformance.report.render import expected_text, short
from conformance.verdict import VERDICTS


def lines(report: dict[str, Any], paths: dict[str, Path]) -> list[str]:
    counts = ", ".join(f"{v} {report['summary'][v]}" for v in VERDICTS if report["summary"][v])
    out = [f"{report['platform']['id']}: {len(report['results'])} results: {counts}"]
    # flaky does not fail the run, but a reader should see which ones wobbled.
    for row in layout.build(report).attention:
        r = row.first
        params = f" [{row.params}]" if r["params"] else ""
        many = f" ({len(row.instances)} instances)" if len(row.instances) > 1 else ""
        message = layout.message(r)
        out.append(
            f"{r['verdict'].upper()} {r['id']}{params}{many}: got "
            f"{'nothing' if r['observation'] is None else short(layout.got(r))}; "
            f"expected {expected_text(r['expected'])}" + (f"; {message}" if message else "")
        )
    out.append(f"report: {paths['json']} (+ .md, .html)")
    # Messages and observations may hold anything a stack or a file put there.
    return [inert.terminal(line) for line in out]
