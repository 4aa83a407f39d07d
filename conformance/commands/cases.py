"""socket-conformance cases: list the catalogue."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cases = sub.add_parser("cases", help="list the case catalogue")
    cases.add_argument("--json", action="store_true", help="print the catalogue as JSON")


def main(args: argparse.Namespace) -> int:
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
