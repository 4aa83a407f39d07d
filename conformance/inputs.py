"""Reading input files a user names: regular files only, bounded, UTF-8, sane JSON.

Every input is hostile until checked. A FIFO would block the reader
forever, /dev/zero or a huge sparse file would fill memory, a UTF-16 file
or a 100000-deep array would end in a traceback. Each of those is one
``UsageError`` line here (the caller adds which file it was, and what for).
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from conformance.errors import UsageError

# A full report of today's suite is under 1 MB; Catalogue II's thousands of
# instances stay well within this.
MAX_BYTES = 64 * 1024 * 1024
# No report or expectation nests deeper than a handful of levels.
MAX_DEPTH = 64
# Whole numbers in a report are counts and schema versions.
MAX_DIGITS = 30
_BOMS = ((b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"), (b"\xef\xbb\xbf", "UTF-8 with a BOM"))


class InputError(UsageError):
    """An input file that cannot be read as what it should be; one line."""


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """The text of a regular file of at most ``limit`` bytes, strictly UTF-8."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: not a regular file")
        if st.st_size > limit:
            raise InputError(f"{path}: {st.st_size} bytes, more than the {limit} any real "
                             "input has")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"{path}: more than the {limit} bytes any real input has")
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise InputError(f"{path}: encoded as {name}; expected UTF-8 without a BOM")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start}: "
                         f"{data[exc.start:exc.start + 1]!r})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a {len(text)}-digit number")
    return int(text)


def parse_json(text: str) -> Any:
    """JSON as the standard says it (no NaN or Infinity), without huge numbers,
    deep nesting or lone surrogates; a ValueError names what was wrong."""
    try:
        data = json.loads(text, parse_int=_bounded_int, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply for JSON this program reads") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}: line {exc.lineno})") from None
    check_tree(data)
    return data


def check_tree(data: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings no UTF-8 file can hold."""
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((k, depth + 1) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff)") from None
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError("a number too large for a float")
