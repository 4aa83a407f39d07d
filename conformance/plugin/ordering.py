"""The order instances are handed out in."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Hypothesis searches first, everything else in its order.

    A search costs tens of milliseconds where a plain case costs one or two;
    handed out last, one would keep a worker busy while the others idle. The
    sort is stable and the same in every worker, as xdist requires.
    """
    from conformance.case import SEARCH_AREAS, case_info

    def plain(item: pytest.Item) -> bool:
        info = case_info(item)
        return info is None or info.area not in SEARCH_AREAS

    items.sort(key=plain)
