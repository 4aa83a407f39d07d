"""socket-conformance compare: merge platform reports into the compatibility matrix."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from conformance import inert, options
from conformance.errors import UsageError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmp = sub.add_parser(
        "compare", help="build the compatibility matrix (matrix.md, matrix.html) from reports",
    )
    cmp.add_argument("reports", nargs="+", metavar="REPORT",
                     help="report files (<platform-id>.json), or directories of them")
    cmp.add_argument("--out", default="reports", help="output directory (default ./reports)")
    cmp.add_argument("--no-documented", action="store_true",
                     help="no documented-only columns for platform families without a report")


def report_files(args: list[str]) -> list[Path]:
    """The report files named on the command line; a directory stands for its *.json files."""
    files: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise UsageError(f"{arg}: directory holds no report (*.json)")
            files += found
        else:
            files.append(path)
    return files


def main(args: argparse.Namespace) -> int:
    from conformance.report import matrix, matrix_render, model
    from conformance.report.write import check_directory, write_set

    # Every input is read and checked before anything is written.
    named = [(str(p), model.load(p)) for p in report_files(args.reports)]
    exp_dir = os.environ.get(options.EXPECTATIONS[2])
    m = matrix.build(named, documented=not args.no_documented,
                     expectations_dir=Path(exp_dir) if exp_dir else None)
    out = check_directory(Path(args.out))
    paths = {"md": out / "matrix.md", "html": out / "matrix.html"}
    write_set({paths["md"]: matrix_render.markdown(m), paths["html"]: matrix_render.html(m)},
              "--out")
    observed = [c.id for c in m.columns if c.observed]
    documented = [c.id for c in m.columns if not c.observed]
    rows = m.rows
    print(f"matrix: {paths['md']}, {paths['html']}")
    print(inert.terminal(f"{len(rows)} rows; observed: {', '.join(observed)}"
                         + (f"; documented only: {', '.join(documented)}" if documented else "")))
    split = [r for r in rows if r.disagree == "observed"]
    documented_only = sum(1 for r in rows if r.disagree == "documented")
    print(f"{len(split) + documented_only} row(s) where platforms disagree: {len(split)} between "
          f"observed platforms, {documented_only} with documentation only")
    # The observed differences are the news; list them with each side's behaviour.
    for r in split:
        print(inert.terminal(
            f"  {r.case_id} [{r.params}]: "
            + "; ".join(f"{c.id} [{'|'.join(map(str, cell.kinds)) or '-'}] {cell.text}"
                        for c, cell in zip(m.columns, r.cells, strict=True) if c.observed)))
    return 0
