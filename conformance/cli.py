"""The command line: one subcommand per module in conformance/commands/.

Every UsageError (and argparse's own complaints) becomes one line on stderr
and exit 2; nothing is written before input has been checked.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from conformance import __version__
from conformance.errors import UsageError

PROG = "socket-conformance"


def _commands() -> list[str]:
    import conformance.commands

    return sorted(m.name for m in pkgutil.iter_modules(conformance.commands.__path__))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="BSD-socket conformance suite.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in _commands():
        importlib.import_module(f"conformance.commands.{name}").add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code: int = importlib.import_module(f"conformance.commands.{args.command}").main(args)
        return code
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
