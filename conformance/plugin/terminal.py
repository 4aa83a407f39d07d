"""The run's terminal output in the suite's words (``socket-conformance run``).

pytest reports tests that passed or failed, a letter each, under a header
that names its rootdir and every plugin's settings. A reader of this suite
wants case instances and verdicts. ``run`` (without ``-v``) passes pytest
``-qq``, which drops that header and pytest's closing count, and loads this
plugin, which

- files each instance under its verdict instead of passed/failed, and prints
  no letter for it: nothing lands in pytest's FAILURES section, and the
  controller's closing summary lists the deviations with expected and got;
- says in one line what runs, then keeps one progress line up to date when
  the output is a terminal (a log, and ``run -q``, get the first line only).

Errors pytest itself meets (a case module that does not import) still print.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from conformance.plugin import pytest_private, settings
from conformance.plugin.reruns import RESULT_ATTR
from conformance.verdict import VERDICTS

_CASE_MARK = "conformance_case"


class Progress:
    """Counts finished instances by verdict; one line, rewritten in place on a terminal."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.total = 0
        self.counts: Counter[str] = Counter()

    @property
    def _terminal(self) -> Any:
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def _progress(self) -> bool:
        """A progress line only on a terminal, and not with ``run -q``."""
        terminal = self._terminal
        return terminal is not None and terminal.isatty and self.config.get_verbosity() >= -2

    def start(self, total: int) -> None:
        if self.total or self._terminal is None:
            return
        self.total = total
        from conformance.search import profile

        st = settings.of(self.config)
        self._terminal.write_line(f"socket-conformance: {st.platform.id} (stack {st.stack}): "
                                  f"{total} case instance{'' if total == 1 else 's'} "
                                  f"(hypothesis profile: {profile().name})")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Before xdist brings its workers up: its status lines are not ours to print."""
        pytest_private.silence_xdist_status(self.config)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Announce the run once collection says how many instances there are."""
        if session.items:
            self.start(sum(1 for i in session.items if i.get_closest_marker(_CASE_MARK)))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist each worker collects every instance: the first one says how many."""
        self.start(len(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count a finished instance; rewrite the progress line on a terminal."""
        data = getattr(report, RESULT_ATTR, None)
        if data is None or not self._progress():
            return
        self.counts[data["verdict"]] += 1
        done = sum(self.counts.values())
        counts = ", ".join(f"{v} {self.counts[v]}" for v in VERDICTS if self.counts[v])
        self._terminal.rewrite(f"{done}/{self.total} instances: {counts}", erase=True)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport,
                                 config: pytest.Config) -> tuple[str, str, str] | None:
        """An instance is counted under its verdict, once, with no letter printed."""
        data = getattr(report, RESULT_ATTR, None)
        if data is not None:
            return data["verdict"], "", data["verdict"].upper()
        if _CASE_MARK in getattr(report, "keywords", {}):
            return "", "", ""
        return None


def pytest_configure(config: pytest.Config) -> None:
    """Register the counter (this module is loaded only by ``run``)."""
    config.pluginmanager.register(Progress(config), "conformance-progress")
