"""Sockets a case left open: a harness fault on that case, found after its teardown."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Generator

import pytest

from conformance.case import case_info

_FDS = pytest.StashKey[set[int]]()


def _socket_fds() -> set[int]:
    fds: set[int] = set()
    fd_dir = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    for name in os.listdir(fd_dir):
        try:
            if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                fds.add(int(name))
        except OSError:
            continue
    return fds


# Not a wrapper: a wrapper that raises before its yield keeps every inner
# wrapper (pytest's logging plugin, for one) from setting up, and their
# teardown then fails with KeyError. As the first plain implementation it
# still runs before pytest's own, which sets up the fixtures.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Snapshot the open sockets before the instance's fixtures exist."""
    if case_info(item) is not None and sys.platform != "win32":
        item.stash[_FDS] = _socket_fds()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, None, None]:
    """After fixtures are torn down, any socket the case opened and kept is a leak."""
    result = yield
    before = item.stash.get(_FDS, None)
    if before is not None:
        leaked = sorted(_socket_fds() - before)
        if leaked:
            from conformance.errors import HarnessError

            raise HarnessError(f"case left {len(leaked)} socket descriptor(s) open: {leaked}")
    return result
