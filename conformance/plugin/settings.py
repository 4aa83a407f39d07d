"""What a session of the suite works with, loaded once per process: the platform
under test, its expectations, and the options (command line > environment > ini)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance import options

KEY = pytest.StashKey["Settings"]()


@dataclass
class Settings:
    stack: str
    platform: Any
    # What expectations are matched against, built once rather than per instance.
    platform_json: dict[str, Any]
    family: Any
    baseline: Any
    out: str | None
    reruns: int
    timeout: float | None
    deadline: float | None


def of(config: pytest.Config) -> Settings:
    return config.stash[KEY]


def load(config: pytest.Config) -> Settings:
    """Probe the platform, load the expectations, check the options; keep them on ``config``."""
    from conformance import expectations, probe, stacks
    from conformance.checks import stack_name
    from conformance.errors import UsageError

    try:
        stack = stack_name(option(config, options.STACK) or "host")
    except ValueError as exc:
        raise pytest.UsageError(f"{options.STACK[0]}: {exc}") from None
    stacks.use(stack)
    exp_dir = option(config, options.EXPECTATIONS)
    try:
        plat = probe.fingerprint(stack)
    except UsageError as exc:  # a stack agent that cannot be built or started
        raise pytest.UsageError(str(exc)) from None
    overlay = Path(exp_dir) if exp_dir else None
    try:
        if _checked_elsewhere(config):
            # The controller (an xdist worker's, or the CLI that started this
            # sandbox) has read and checked every family's files; this process
            # reads only the two it judges with (the others cost two thirds of
            # the parsing, in every worker and sandbox).
            sets = {f: expectations.load_family(f, overlay)
                    for f in (plat.os, expectations.BASELINE)
                    if f in (*expectations.FAMILIES, expectations.BASELINE)}
        else:
            sets = expectations.load_all(overlay)
    except expectations.ExpectationError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput"):
        from conformance import tempdirs

        try:
            tempdirs.require()
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
    out = option(config, options.OUT)
    if out and not hasattr(config, "workerinput"):
        from conformance.errors import OutputError
        from conformance.report.write import check_directory

        try:
            check_directory(Path(out), "--conformance-out")
        except OutputError as exc:
            raise pytest.UsageError(str(exc)) from None
    timeout = config.getoption("timeout", None)
    st = Settings(
        stack, plat, plat.to_json(),
        sets.get(plat.os) or expectations.ExpectationSet(plat.os, {}),
        sets[expectations.BASELINE], out, _reruns(config),
        float(timeout) if timeout else None, _deadline(config),
    )
    config.stash[KEY] = st
    return st


def _checked_elsewhere(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):
        return True
    from conformance.runners.guest import Claims

    return any(isinstance(p, Claims) for p in config.pluginmanager.get_plugins())


def option(config: pytest.Config, opt: tuple[str, str, str, str]) -> str | None:
    _flag, ini, env, _ = opt
    value = config.getoption(ini)
    if value is None:
        value = os.environ.get(env) or config.getini(ini) or None
    return None if value is None else str(value)


def _reruns(config: pytest.Config) -> int:
    flag, ini, env, _ = options.RERUNS
    value = option(config, options.RERUNS)
    if value is None:
        return 2
    if not value.strip().isdigit():
        where = (flag if config.getoption(ini) is not None
                 else env if os.environ.get(env) else f"ini {ini}")
        raise pytest.UsageError(f"{where}: expected a whole number >= 0, got {value!r}")
    return int(value)


def _deadline(config: pytest.Config) -> float | None:
    import math

    value = option(config, options.DEADLINE)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise pytest.UsageError(
            f"{options.DEADLINE[0]}: expected a positive number of seconds, got {value!r}")
    return seconds
