"""socket-conformance gate: compare a report with a baseline; exit 1 on a regression.

Also the second half of ``run --baseline/--junit/--strict``: ``preflight``
checks those inputs before the suite starts, ``after_run`` finds the report
the run wrote and gates it. What counts as a regression is in report/gate.py.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.errors import OutputError, ReportError

if TYPE_CHECKING:
    from conformance.report.gate import Outcome

STRICT_HELP = "also fail on observation changes and flaky results"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gate = sub.add_parser(
        "gate", help="compare a report with a baseline: exit 1 on regressions or removed cases",
    )
    gate.add_argument("--baseline", required=True, metavar="OLD.json",
                      help="the report of a run you trust")
    gate.add_argument("new", metavar="NEW.json", help="the report to check")
    gate.add_argument("--strict", action="store_true", help=STRICT_HELP)
    gate.add_argument("--markdown", metavar="FILE",
                      help=f"also write the comparison as Markdown (a CI job summary); "
                           f"with ${SUMMARY_ENV} set it is appended there too")


def load(path: str, role: str) -> dict[str, Any]:
    """Read and validate one report; any problem is one line naming its role and file."""
    from conformance.report import model

    try:
        return model.load(Path(path))
    except ReportError as exc:
        raise ReportError(f"{role} {exc}") from None


def check_output(path: str, flag: str) -> Path:
    """Refuse, before anything runs, an output file that cannot be written as asked."""
    from conformance.report.write import check_file

    return check_file(Path(path), flag)


def _append_summary(path: str, md: str) -> None:
    """Append to the CI job summary: a regular file only, never waiting on a FIFO."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK \
        | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise OutputError(f"cannot append to ${SUMMARY_ENV} ({path}): {why}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OutputError(f"cannot append to ${SUMMARY_ENV} ({path}): not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as f:
            f.write(md)
    except OSError as exc:
        raise OutputError(f"cannot append to ${SUMMARY_ENV} ({path}): {exc.strerror}") from None
    finally:
        os.close(fd)


def emit(outcome: Outcome, markdown: Path | None) -> None:
    """Print the comparison; write the Markdown where asked and to the CI job summary."""
    from conformance.report import gate
    from conformance.report.write import atomic_write

    for line in gate.text(outcome):
        print(line)
    md = gate.markdown(outcome)
    if markdown is not None:
        atomic_write(markdown, md, "--markdown")
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        try:
            _append_summary(summary, md)
        except OutputError as exc:
            # The gate's answer stands; a missing job summary is worth a warning only.
            print(f"socket-conformance: warning: {exc}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from conformance.report import gate

    markdown = check_output(args.markdown, "--markdown") if args.markdown else None
    old = load(args.baseline, "baseline")
    new = load(args.new, "new report")
    outcome = gate.compare(old, new, strict=args.strict)
    emit(outcome, markdown)
    return outcome.exit_code


# --- run --baseline / --junit / --strict -------------------------------------------


def preflight(args: argparse.Namespace) -> dict[str, Any] | None:
    """Check the baseline and the JUnit path before the suite runs; return the baseline."""
    from conformance.report import gate

    if args.junit:
        check_output(args.junit, "--junit")
    if not args.baseline:
        return None
    baseline = load(args.baseline, "baseline")
    if args.platform == "host":
        from conformance.probe import fingerprint

        gate.same_platform(baseline["platform"], fingerprint("host").to_json())
    elif baseline["platform"]["stack"] != args.platform:
        raise ReportError(
            f"the reports are of different platforms: baseline {baseline['platform']['id']} "
            f"ran on stack {baseline['platform']['stack']!r}, this run on {args.platform!r}"
        )
    return baseline


def after_run(
    args: argparse.Namespace,
    new: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    code: int,
) -> int:
    """Write JUnit and gate the report the run produced (``new``, in memory); return
    the command's exit code.

    With a baseline the gate decides: known deviations recorded in the
    baseline no longer fail the job, only changes do.
    """
    from conformance.report import gate, junit

    if code == 2 or not (baseline or args.junit or args.strict):
        return code
    if new is None:
        print("socket-conformance: error: the run produced no report; nothing to gate",
              file=sys.stderr)
        return code or 2
    if args.junit:
        junit.write(new, Path(args.junit))
        print(f"junit: {args.junit}")
    if baseline is None:
        flaky = sum(1 for r in new["results"] if r["verdict"] == "flaky")
        if args.strict and flaky:
            print(f"strict: {flaky} flaky result(s) fail the run")
            return max(code, 1)
        return code
    outcome = gate.compare(baseline, new, strict=args.strict)
    emit(outcome, None)
    # An interrupted run's gate is printed for what it is worth; the exit says interrupted.
    return code if new.get("interrupted") else outcome.exit_code
