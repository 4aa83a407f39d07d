"""One report from a run: the instances it was asked to run plus the results that came back.

Every kind of run feeds the same :class:`Collector`: the pytest controller
(results riding on phase reports, from this process or from xdist workers)
and the sandbox host (results read from the guests' journals). What it is
told, in any order:

- ``plan``: the instances the run was asked to run;
- ``start``/``add``: an instance started, an instance's result came back;
- ``lose``: an instance will never report, and why (a worker that crashed
  or was stopped by the watchdog, a sandbox that died while it ran);
- ``stop``: the run ended early, and why (interrupted, ``-x``, a deadline).

``results`` then gives one result per planned instance: its own, or one
that keeps its case id and params and says why it has none. ``exit_code``
is the one rule for every run's exit status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.result import Ending, Instance, Result

# Exit statuses: all results acceptable; a failing result; a run interrupted by a signal.
OK, FAILED, INTERRUPTED = 0, 1, 130


@dataclass(frozen=True)
class Stop:
    """Why a run ended before every instance ran.

    ``interrupted``: a user or a signal stopped it (the report is marked
    interrupted, the exit status is 130). Otherwise the run itself chose to
    stop (``-x``, a deadline). ``running`` and ``pending`` are the verdicts
    for the instance that was running then and for those never started.
    """

    why: str
    interrupted: bool
    running: str = "skipped"
    pending: str = "skipped"


class Collector:
    """Gathers one run's results; see the module docstring."""

    def __init__(self) -> None:
        self.planned: dict[str, Instance] = {}
        self.got: dict[str, Result] = {}
        self.running: set[str] = set()
        self.lost: dict[str, Ending] = {}
        self.stopped: Stop | None = None

    def plan(self, instances: Iterable[Instance]) -> None:
        for instance in instances:
            self.planned.setdefault(instance.nodeid, instance)

    def start(self, nodeid: str) -> None:
        self.running.add(nodeid)

    def add(self, result: Result) -> None:
        self.got[result.instance.nodeid] = result
        self.running.discard(result.instance.nodeid)

    def lose(self, nodeid: str, verdict: str, why: str) -> None:
        """``nodeid`` will not report; the first reason given stands."""
        self.lost.setdefault(nodeid, Ending(verdict, why))
        self.running.discard(nodeid)

    def stop(self, stop: Stop) -> None:
        """The run ends early; the first reason given stands."""
        if self.stopped is None:
            self.stopped = stop

    @property
    def interrupted(self) -> str | None:
        return self.stopped.why if self.stopped and self.stopped.interrupted else None

    def incomplete(self) -> str | None:
        """Why this run's report is not a complete one (None when it is): such a
        report goes beside the last complete one, never over it."""
        if self.stopped is not None:
            return self.stopped.why
        missing = sum(1 for n in self.planned if n not in self.got)
        return f"{missing} instance(s) never reported a result" if missing else None

    def results(self) -> list[Result]:
        """One result per planned instance (and per result nobody planned)."""
        out = []
        for nodeid in [*self.planned, *(n for n in self.got if n not in self.planned)]:
            got = self.got.get(nodeid)
            if got is not None:
                out.append(got)
                continue
            instance = self.planned.get(nodeid) or Instance.undescribed(nodeid)
            out.append(Result.of(instance, self._why_none(nodeid)))
        for nodeid in self.lost.keys() - self.planned.keys() - self.got.keys():
            out.append(Result.of(Instance.undescribed(nodeid), self.lost[nodeid]))
        return out

    def _why_none(self, nodeid: str) -> Ending:
        if nodeid in self.lost:
            return self.lost[nodeid]
        stop = self.stopped
        if nodeid in self.running:
            if stop is not None:
                return Ending(stop.running, f"stopped while it ran: {stop.why}")
            return Ending("error", "started but never reported: the process running it "
                                   "ended while it ran")
        if stop is not None:
            return Ending(stop.pending, f"not run: {stop.why}")
        return Ending("error", "collected but never reported: the process running it may "
                               "have crashed")

    def report(self, platform: Any, started: str) -> dict[str, Any]:
        """The platform report document of this run."""
        from conformance.report import model

        return model.build(platform, [r.to_json() for r in self.results()], started,
                           interrupted=self.interrupted)


def exit_code(report: Mapping[str, Any]) -> int:
    """The exit status a run's report calls for: 130 if interrupted, 1 if any result
    fails, else 0 (``flaky`` fails only under --strict, which the CLI applies)."""
    from conformance.verdict import FAILING

    if report.get("interrupted"):
        return INTERRUPTED
    return FAILED if any(r["verdict"] in FAILING for r in report["results"]) else OK
