"""Which instances a stack's report holds, and the order they are handed out in."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Only the instances of the stack's backends; Hypothesis searches first.

    A stack reached through the agent has no python or libc instances (they
    would measure the host), and the host's report none of the agent's.

    A search costs tens of milliseconds where a plain case costs one or two;
    handed out last, one would keep a worker busy while the others idle. The
    sort is stable and the same in every worker, as xdist requires.
    """
    from conformance import stacks
    from conformance.case import SEARCH_AREAS, case_info

    backends = stacks.current().backends
    other = [i for i in items
             if case_info(i) is not None and _backend(i, backends[0]) not in backends]
    if other:
        config.hook.pytest_deselected(items=other)
        dropped = set(other)
        items[:] = [i for i in items if i not in dropped]

    def plain(item: pytest.Item) -> bool:
        info = case_info(item)
        return info is None or info.area not in SEARCH_AREAS

    items.sort(key=plain)


def _backend(item: pytest.Item, default: str) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get("backend", default)) if callspec else default
