"""Deadlines shared by the kit, the stack agent backend and Hypothesis searches.

Two facts about waits that several modules need and none owns: whether a
Hypothesis search already missed a deadline (then every later wait in it
fails at once), and which threads wait for a call another process makes
(the stack agent), whose own system call proves nothing about blocking.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from conformance.errors import DeadlineExceeded

# Set while a Hypothesis search runs (search.check): the first wait that
# misses its deadline is kept, and every later wait in the same search fails
# at once. Hypothesis would otherwise replay and shrink the example, paying
# the whole deadline for each try, on a stack that already did not answer.
_search_miss: list[str] | None = None


@contextmanager
def search_deadlines() -> Iterator[None]:
    """Within the block, one missed deadline fails every later wait at once."""
    global _search_miss
    _search_miss = []
    try:
        yield
    finally:
        _search_miss = None


def missed(message: str) -> DeadlineExceeded:
    """The exception for a missed deadline, remembered for the running search."""
    if _search_miss is not None and not _search_miss:
        _search_miss.append(message)
    return DeadlineExceeded(message)


def before_wait() -> None:
    """Fail at once when a wait of the running search has already missed its deadline."""
    if _search_miss:
        raise DeadlineExceeded(f"{_search_miss[0]} (earlier in this search)")


# Native ids of threads whose call is being made in another process.
_elsewhere: set[int] = set()


@contextmanager
def elsewhere() -> Iterator[None]:
    """Mark the calling thread as waiting for a call another process makes."""
    tid = threading.get_native_id()
    _elsewhere.add(tid)
    try:
        yield
    finally:
        _elsewhere.discard(tid)
