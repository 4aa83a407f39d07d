"""The command line: run | cases | compare | gate.

Every UsageError (and argparse's own complaints) becomes one line on stderr
and exit 2; nothing is written before input has been checked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from conformance import __version__, options
from conformance.errors import UsageError

PROG = "socket-conformance"
PLATFORMS = ("host",)
# pytest's exit codes -> ours: 0 all acceptable, 1 a failing verdict, 2 bad input.
_EXIT = {0: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def cases_dir() -> Path:
    """Where the shipped cases are: site-packages after an install, cases/ in a checkout."""
    import importlib.util

    spec = importlib.util.find_spec("conformance.cases")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the case catalogue (conformance.cases) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _workers(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 0):
        return value
    raise argparse.ArgumentTypeError(f"-n takes a number or 'auto', got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="BSD-socket conformance suite.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the suite on this platform and write its report")
    run.add_argument("--out", default="reports", help="report directory (default ./reports)")
    run.add_argument("-n", dest="workers", type=_workers, default="0",
                     help="pytest-xdist workers: a number or 'auto' (default 0)")
    run.add_argument("-k", dest="keyword", help="only cases matching this pytest -k expression")
    run.add_argument("--platform", default="host",
                     help=f"where to run: {', '.join(PLATFORMS)} (default host)")
    run.add_argument("--timeout", type=float, default=20.0,
                     help="last-resort per-case limit in seconds (pytest-timeout)")
    run.add_argument("-q", "--quiet", action="store_true", help="less pytest output")

    cases = sub.add_parser("cases", help="list the case catalogue")
    cases.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    return p


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    from conformance import expectations
    from conformance.report.write import ensure_writable

    if args.platform not in PLATFORMS:
        raise UsageError(
            f"unknown platform {args.platform!r}; expected one of {', '.join(PLATFORMS)}"
        )
    out = Path(args.out).resolve()
    try:
        ensure_writable(out)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: not a writable directory ({exc.strerror})") from None
    # A malformed file is reported here, once, as one line, before pytest starts.
    exp_dir = os.environ.get(options.EXPECTATIONS[2])
    expectations.load_all(Path(exp_dir) if exp_dir else None)
    where = cases_dir()
    argv = [
        str(where),
        "-p", "conformance.plugin",
        "-p", "no:cacheprovider",
        "--rootdir", str(where),
        "-c", str(where / "pytest.ini"),
        "--conformance-out", str(out),
        "--conformance-stack", args.platform,
        "-n", args.workers,
        "--timeout", str(args.timeout),
        # The CLI imported the package before pytest could mark it for assertion
        # rewriting; the plugin asserts nothing, so the warning is noise.
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        "-q" if args.quiet else "-rfE",
    ]
    if args.keyword:
        argv += ["-k", args.keyword]
    code = int(pytest.main(argv))
    if code == 5:
        what = f"matched -k {args.keyword!r}" if args.keyword else "was collected"
        print(f"{PROG}: error: no case instance {what}", file=sys.stderr)
    return _EXIT.get(code, 1)


def cmd_cases(args: argparse.Namespace) -> int:
    from conformance.case import load_catalogue

    catalogue = load_catalogue()
    if args.json:
        print(json.dumps([c.to_json() for c in catalogue.values()], indent=2))
        return 0
    for c in catalogue.values():
        axes = "; ".join(f"{k}={'|'.join(v)}" for k, v in c.params.items()) or "-"
        print(f"{c.id}  [{c.level}]  {c.title}")
        print(f"    params: {axes}")
        for cite in c.citations:
            print(f"    cites: {cite.text()}" + (f" <{cite.url}>" if cite.url else ""))
    print(f"{len(catalogue)} cases")
    return 0


COMMANDS = {"run": cmd_run, "cases": cmd_cases}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
