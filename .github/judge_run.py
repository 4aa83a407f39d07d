"""Decide a CI platform job from its run, not from how the platform differs from Linux.

Usage: judge_run.py EXIT_CODE REPORTS_DIR BASELINE

Fails (exit 1) when the run broke, when no single complete report came
back, or when any result is `error`: the rule is the package's
(conformance/report/judge.py, the one `run --judge` and tox apply); then when
the report regresses against BASELINE (`socket-conformance gate`). A missing
BASELINE skips only that last check and says so. `deviates` alone never fails
the job: a platform that differs from Linux's documentation is what the matrix
is for. Everything it finds goes to the job summary ($GITHUB_STEP_SUMMARY) as
well as to the log. Needs the package installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conformance.report.judge import judge


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
    reports = sorted(p for p in Path(reports_dir).glob("*.json") if p.name != "matrix.json")
    if len(reports) > 1:
        summary(f"**expected one report** in {reports_dir}, found {len(reports)}")
        return 1
    report = json.loads(reports[0].read_text(encoding="utf-8")) if reports else None
    if report is not None:
        summary(f"{reports[0].name}: {report['summary']}")
        markdown = reports[0].with_suffix(".md")
        if markdown.exists() and os.environ.get("GITHUB_STEP_SUMMARY"):
            summary(markdown.read_text(encoding="utf-8"))
    failed, why = judge(code, report)
    for i, line in enumerate(why):
        summary(f"**{line}**" if i == 0 else line)
    if report is None:
        return 1  # judged failed above: nothing to gate
    if Path(baseline).is_file():
        gate = subprocess.run(["socket-conformance", "gate", "--baseline", baseline,
                               str(reports[0])], check=False)
        failed = failed or gate.returncode != 0
    else:
        summary(f"no committed baseline at {baseline}: regression check skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
