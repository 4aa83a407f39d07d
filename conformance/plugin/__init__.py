"""The pytest plugin, inert until a session asks for it.

pytest loads this module in every session of an environment where the
package is installed (the ``pytest11`` entry point). Here it only adds the
namespaced ``--conformance*`` options and ini keys and the namespaced
``conformance_*`` markers; everything else (the probe of the platform,
fixtures, judging, the report) is
registered by :func:`pytest_configure` and only when the session asked for
the suite (:func:`activation.wanted`).

Where each concern lives:

- ``activation``: whether this session asked for the suite;
- ``settings``: the platform, its expectations and the options, once per process;
- ``fixtures``: ``kit`` and ``expectations``, the cases' fixtures;
- ``judging``: a case body's observation -> a verdict -> the phase's ending;
- ``reruns``: the attempts of an instance and the per-instance guard;
- ``leaks``: sockets a case left open;
- ``ordering``: the stack's backends' instances only, Hypothesis searches first;
- ``heap``: the collected session kept out of the garbage collector's walks;
- ``controller``: gathers results (``conformance.collect``), writes the report;
- ``watchdog``: the run's deadline, stopped workers, interrupts;
- ``pytest_private``: the pytest internals used, each behind one function.
"""

from __future__ import annotations

import pytest

from conformance import options


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the suite's options, each also settable by ini and environment."""
    group = parser.getgroup("conformance", "socket conformance")
    group.addoption(options.ACTIVE[0], dest=options.ACTIVE[1], action="store_true",
                    default=None, help=options.ACTIVE[3])
    parser.addini(options.ACTIVE[1], options.ACTIVE[3], type="bool", default=False)
    for flag, ini, env, help_text in options.ALL:
        group.addoption(flag, dest=ini, default=None, help=f"{help_text} [env {env}]")
        parser.addini(ini, help_text, default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the namespaced markers (case modules apply them when imported, even in
    a session that never runs them); switch the suite on, if this session asked for it."""
    from conformance.plugin import activation

    config.addinivalue_line(
        "markers", "conformance_case(info): a socket-conformance case (set by @case)"
    )
    config.addinivalue_line(
        "markers",
        "conformance_requires(capability): instance needs a platform capability (ipv6, ...)",
    )

    if activation.wanted(config):
        activation.activate(config)
