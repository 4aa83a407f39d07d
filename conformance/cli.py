"""The command line: one subcommand per module in conformance/commands/.

Every UsageError (and argparse's own complaints) becomes one line on stderr
and exit 2; nothing is written before input has been checked.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from conformance import __version__, inert
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


class _Stdout(io.TextIOBase):
    """Standard output that outlives its reader (``run ... | head -1``) or its disk
    (``> /dev/full``): after the first failed write the rest is dropped, so a run
    still finishes and writes its report, and ``failed`` says what happened."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.failed: OSError | None = None

    def _fail(self, exc: OSError) -> None:
        self.failed = exc
        self.silence()

    def silence(self) -> None:
        """Point the stream's descriptor at /dev/null: whatever is still buffered,
        and the interpreter's last flush at exit, go nowhere instead of raising again."""
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                self.stream.write(text)
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self._fail(exc)

    def isatty(self) -> bool:
        return self.failed is None and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.stream.errors


def _working_directory() -> None:
    """Refuse a working directory that was removed: every relative path (reports,
    baselines, pytest's rootdir) would otherwise fail later, with a traceback."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UsageError("the working directory no longer exists; "
                         "change to one that does and run again") from None


def main(argv: Sequence[str] | None = None) -> int:
    stdout = _Stdout(sys.stdout)
    saved, sys.stdout = sys.stdout, stdout
    try:
        _working_directory()
        args = build_parser().parse_args(argv)
        code: int = importlib.import_module(f"conformance.commands.{args.command}").main(args)
        stdout.flush()
    except UsageError as exc:
        # A message may quote a file's content: it must not act on the terminal.
        print(f"{PROG}: error: {inert.terminal(exc)}", file=sys.stderr)
        code = 2
    finally:
        sys.stdout = saved
    if stdout.failed is not None:
        # Again: pytest's output capturing, ending, put back the descriptor it
        # had saved, the failing one (exit status 120 and a traceback at exit).
        stdout.silence()
        print(f"{PROG}: standard output failed ({stdout.failed.strerror or stdout.failed}); "
              "the rest of it was dropped and the command went on without it", file=sys.stderr)
    if argv is None:
        # This process's own command line: it ends now. The collector need not
        # walk the session's objects and the report once more while the
        # interpreter tears down (0.15 to 0.3 s of a run's end, here).
        gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
