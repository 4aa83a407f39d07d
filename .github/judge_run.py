"""Decide a CI platform job from its run, not from how the platform differs from Linux.

Usage: judge_run.py EXIT_CODE REPORTS_DIR BASELINE

Fails (exit 1) when the run broke (an exit code other than 0 or 1: bad input,
a tool missing, a crash), when no single report came back, when any result is
`error` (the harness broke), or when the report regresses against BASELINE
(`socket-conformance gate`). A missing BASELINE skips only that last check and
says so. `deviates` alone never fails the job: a platform that differs from
Linux's documentation is what the matrix is for. Everything it finds goes to
the job summary ($GITHUB_STEP_SUMMARY) as well as to the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def summary(text: str) -> None:
    print(text)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    code_text, reports_dir, baseline = argv
    try:
        code = int(code_text)
    except ValueError:
        summary(f"run exit code unreadable ({code_text!r}): the run did not finish")
        return 1
    if code not in (0, 1):
        summary(f"**run broke**: `socket-conformance run` exited {code}")
        return 1
    reports = sorted(p for p in Path(reports_dir).glob("*.json") if p.name != "matrix.json")
    if len(reports) != 1:
        summary(f"**expected one report** in {reports_dir}, found {len(reports)}")
        return 1
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    errors = [r for r in report["results"] if r["verdict"] == "error"]
    summary(f"{reports[0].name}: {report['summary']}")
    markdown = reports[0].with_suffix(".md")
    if markdown.exists() and os.environ.get("GITHUB_STEP_SUMMARY"):
        summary(markdown.read_text(encoding="utf-8"))
    failed = False
    if errors:
        failed = True
        summary(f"**{len(errors)} error result(s)**: the harness broke")
        for r in errors:
            params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
            summary(f"- `{r['id']}` [{params}]: {r.get('message') or ''}".rstrip())
    if Path(baseline).is_file():
        gate = subprocess.run(["socket-conformance", "gate", "--baseline", baseline,
                               str(reports[0])], check=False)
        failed = failed or gate.returncode != 0
    else:
        summary(f"no committed baseline at {baseline}: regression check skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
