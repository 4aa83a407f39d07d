"""The fixtures a case asks for by name; registered only while the suite is on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.plugin import settings

KIT = pytest.StashKey[Any]()


@pytest.fixture
def kit(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Sockets for one case instance, with the instance's backend; closed at teardown."""
    from conformance import stacks
    from conformance.backends import Tracker
    from conformance.kit import Kit

    default = stacks.current().backends[0]
    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("backend", default) if callspec else default
    k = Kit(backend, Tracker())
    request.node.stash[KIT] = k
    yield k
    k.close()


@pytest.fixture
def expectations(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any]]:
    """(family expectation set, platform dict) in force, for cases that consult them."""
    st = settings.of(request.config)
    return st.family, st.platform_json
