"""Option values checked before anything runs or is written.

Each function is an argparse ``type=``: a bad value is refused while the
command line is parsed, as one line and exit 2, so a typo can never start a
run that then overwrites a good report with a useless one.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable

# Longer than any single case instance may reasonably take, short enough that
# the timers pytest-timeout and the sandboxes arm never overflow.
MAX_SECONDS = 7 * 24 * 3600.0
# Below this a per-case limit or a sandbox deadline cuts short work that is going fine.
MIN_SECONDS = 1.0
MAX_RERUNS = 100
# A stack name becomes part of the platform id, and so of the report's file name.
STACK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def seconds(what: str) -> Callable[[str], float]:
    """A duration (``what`` it limits): a finite number of seconds between
    MIN_SECONDS and MAX_SECONDS."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds, got {value[:40]!r}") from None
        if not math.isfinite(number) or not MIN_SECONDS <= number <= MAX_SECONDS:
            raise argparse.ArgumentTypeError(
                f"expected a finite number of seconds from {MIN_SECONDS:g} to "
                f"{MAX_SECONDS:g} ({what}), got {value[:40]!r}")
        return number

    return parse


def max_workers() -> int:
    """More than four processes per CPU only slows a run down (and -n 8 on two
    CPUs must stay possible: it is how the sandboxes are stress-tested)."""
    return max(16, 4 * (os.cpu_count() or 1))


def workers(value: str) -> str:
    """-n: 'auto' or a whole number from 0 to max_workers()."""
    if value == "auto":
        return value
    limit = max_workers()
    # Compare the text first: int() of a 5000-digit string raises, and is pointless.
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or int(value) > limit:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a whole number from 0 to {limit} (four per CPU), "
            f"got {value[:40]!r}")
    return str(int(value))


def reruns(value: str) -> int:
    """--reruns: a whole number from 0 to MAX_RERUNS."""
    if not (value.isascii() and value.isdigit()) or len(value) > 3 or int(value) > MAX_RERUNS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {MAX_RERUNS}, got {value[:40]!r}")
    return int(value)


def keyword(value: str) -> str:
    """-k: an expression pytest can parse, refused here rather than by pytest mid-run."""
    from _pytest.mark import expression

    # pytest's own parser, so the two can never disagree; it is private API,
    # isolated here and guarded by tests/test_options.py. pytest 9 raises
    # SyntaxError, earlier versions their own ParseError.
    refused = (SyntaxError, getattr(expression, "ParseError", SyntaxError))
    try:
        expression.Expression.compile(value)
    except refused as exc:
        raise argparse.ArgumentTypeError(f"{value[:80]!r} does not parse: {exc}") from None
    return value


def stack_name(value: str) -> str:
    """A socket stack's name: lower-case letters, digits, '-' and '_', never a path."""
    if not STACK_NAME.fullmatch(value):
        raise ValueError(f"stack name {value[:40]!r} is not a plain name "
                         "(lower-case letters, digits, '-', '_'; at most 32)")
    return value


# What one xdist worker costs against ``ulimit -u`` (a limit on tasks, threads
# included): its process and I/O thread, the controller's thread for it, and the
# threads and helper processes a case starts while it runs.
TASKS_PER_WORKER = 6


def _tasks_of(uid: int) -> int | None:
    """Tasks (threads) the user ``uid`` runs now, from /proc; None where there is none."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return total


def worker_room(workers: int) -> str | None:
    """Why ``workers`` xdist workers cannot start under this user's process limit
    (``ulimit -u``), or None when they can (or the limit cannot be known)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if workers <= 0 or soft == resource.RLIM_INFINITY:
        return None
    in_use = _tasks_of(os.getuid())
    if in_use is None:
        return None
    need = workers * TASKS_PER_WORKER
    if in_use + need <= soft:
        return None
    return (f"-n {workers} needs about {need} more processes and threads, but the process "
            f"limit (ulimit -u {soft}) leaves {max(0, soft - in_use)}")
