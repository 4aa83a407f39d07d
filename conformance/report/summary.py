"""The one-screen summary printed at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance import inert
from conformance.report.render import expected_text, params_text, short
from conformance.verdict import FAILING, VERDICTS


def lines(report: dict[str, Any], paths: dict[str, Path]) -> list[str]:
    counts = ", ".join(f"{v} {report['summary'][v]}" for v in VERDICTS if report["summary"][v])
    out = [
        f"report: {paths['json']} (+ .md, .html)",
        f"platform {report['platform']['id']}: {len(report['results'])} results: {counts}",
    ]
    for r in report["results"]:
        # flaky does not fail the run, but a reader should see which ones wobbled.
        if r["verdict"] in FAILING or r["verdict"] == "flaky":
            out.append(
                f"{r['verdict'].upper()} {r['id']} [{params_text(r['params'])}]: "
                f"observed {short(r['observation'])}; expected {expected_text(r['expected'])}"
                + (f"; {r['message']}" if r["verdict"] != "deviates" and r["message"] else "")
            )
    # Messages and observations may hold anything a stack or a file put there.
    return [inert.terminal(line) for line in out]
