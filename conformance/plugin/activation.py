"""Whether a pytest session asked for the suite, and switching it on.

A session asks by an explicit ``--conformance`` (or ini ``conformance =
true``), by any other ``--conformance-*`` option on its command line, or by
collecting the shipped cases (``socket-conformance run`` does that). Nothing
else does: environment variables alone never switch the suite on, so they
cannot leak into an unrelated project's session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import options


def wanted(config: pytest.Config) -> bool:
    if config.getoption(options.ACTIVE[1]) or config.getini(options.ACTIVE[1]):
        return True
    if any(config.getoption(ini) is not None for _flag, ini, _env, _help in options.ALL):
        return True
    shipped = _shipped_cases()
    if shipped is None:
        return False
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if path == shipped or shipped in path.parents:
            return True
    return False


def _shipped_cases() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("conformance.cases")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def activate(config: pytest.Config) -> None:
    """Load the platform and expectations, register the plugin's parts."""
    from conformance.plugin import (
        controller,
        fixtures,
        guard,
        heap,
        judging,
        leaks,
        ordering,
        reruns,
        settings,
    )

    settings.load(config)
    for module in (fixtures, guard, heap, judging, leaks, ordering, reruns):
        config.pluginmanager.register(module, module.__name__)
    controller.install(config)
