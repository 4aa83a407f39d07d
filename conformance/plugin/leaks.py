"""Sockets a case left open: a harness fault on that case, found after its teardown."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from conformance.case import case_info
from conformance.descriptors import new_sockets, open_fds

_FDS = pytest.StashKey[frozenset[int]]()


# Not a wrapper: a wrapper that raises before its yield keeps every inner
# wrapper (pytest's logging plugin, for one) from setting up, and their
# teardown then fails with KeyError. As the first plain implementation it
# still runs before pytest's own, which sets up the fixtures.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Snapshot the open descriptors before the instance's fixtures exist."""
    # Where descriptors cannot be listed (Windows) nothing is stashed, and the
    # platform's capabilities say leak_check is false.
    if case_info(item) is not None:
        fds = open_fds()
        if fds is not None:
            item.stash[_FDS] = fds


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, None, None]:
    """After fixtures are torn down, any socket the case opened and kept is a leak."""
    result = yield
    before = item.stash.get(_FDS, None)
    if before is not None:
        leaked = sorted(new_sockets(before))
        if leaked:
            from conformance.errors import HarnessError

            raise HarnessError(f"case left {len(leaked)} socket descriptor(s) open: {leaked}")
    return result
