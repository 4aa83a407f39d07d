"""socket-conformance coverage: which listed conditions the catalogue asserts."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "coverage",
        help="per function, every POSIX condition and Linux-documented behaviour "
        "with the cases that assert it",
    )
    p.add_argument("--json", action="store_true", help="print the coverage as JSON")


def main(args: argparse.Namespace) -> int:
    from conformance.case import load_catalogue
    from conformance.coverage import load_spec, measure, render

    cov = measure(load_spec(), load_catalogue().values())
    print(json.dumps(cov.to_json(), indent=2) if args.json else render(cov))
    # A declaration the inventory does not know is a broken promise, not a note.
    return 1 if cov.unknown else 0
