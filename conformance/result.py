"""The result record: what one case instance ended as. The only module that knows its fields.

An :class:`Instance` is what a run was asked to run: a case id with its
params (the public interface), where pytest found it and what the report
says about its case. An :class:`Ending` is what one phase (setup, call,
teardown) of one attempt said. A :class:`Result` is an instance with the
ending it finally came to; every source of results (the pytest plugin, a
sandbox's journal, the salvage of a crashed or interrupted run) builds it
through :meth:`Result.of`, and ``to_json``/``from_json`` are the report's
shape of it and the way back.

Folding phases into an attempt (``fold``): the call phase decides; a setup
that did not pass decides instead; a failing teardown (a leaked socket, a
broken fixture) turns any verdict into ``error`` because the harness can no
longer vouch for the result. Settling attempts (``settle``): an instance that
failed and then passed is ``flaky``; one that failed every attempt keeps its
failing verdict (it never passed, so it is a failure, not a flake).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.verdict import FAILING

# The id of a result that stands for something other than one case instance
# (a sandbox's run itself, an instance no source could describe).
RUN_ID = "harness.run"
UNDESCRIBED_ID = "harness.undescribed"


@dataclass(frozen=True)
class Instance:
    """One case instance a run was asked to run."""

    nodeid: str
    id: str
    params: Mapping[str, str]
    title: str = ""
    level: str = "must"
    area: str = ""
    citations: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of_case(cls, info: Any, params: Mapping[str, Any], nodeid: str) -> Instance:
        """The instance of a ``CaseInfo`` with these parameter values."""
        return cls(nodeid, info.id, {k: str(v) for k, v in params.items()}, info.title,
                   info.level, info.area, tuple(c.to_json() for c in info.citations))

    @classmethod
    def undescribed(cls, nodeid: str) -> Instance:
        """An instance known only by its node id (no source said what case it is).

        The node id becomes a parameter, so two such instances never share an
        id and params, which the report and the gate require.
        """
        return cls(nodeid, UNDESCRIBED_ID, {"nodeid": nodeid}, "an instance no source described",
                   "must", "harness")

    def to_json(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "id": self.id, "params": dict(self.params),
                "title": self.title, "level": self.level, "area": self.area,
                "citations": [dict(c) for c in self.citations]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Instance:
        return cls(data["nodeid"], data["id"], dict(data["params"]), data.get("title", ""),
                   data.get("level", "must"), data.get("area", ""),
                   tuple(data.get("citations", ())))


@dataclass(frozen=True)
class Ending:
    """How one phase of one attempt ended; ``verdict`` None: it has nothing to say.

    ``final`` marks an ending no re-run can change: the per-instance guard
    (pytest-timeout), whose budget covers every attempt, has fired.
    """

    verdict: str | None
    message: str = ""
    observation: Mapping[str, Any] | None = None
    expected: Mapping[str, Any] | None = None
    portable: bool | None = None
    sources: Sequence[Mapping[str, Any]] = ()
    final: bool = False


@dataclass(frozen=True)
class Result:
    """One instance's result, as the report holds it."""

    instance: Instance
    verdict: str
    message: str = ""
    observation: Mapping[str, Any] | None = None
    expected: Mapping[str, Any] | None = None
    portable: bool | None = None
    sources: Sequence[Mapping[str, Any]] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    attempts: Sequence[Mapping[str, Any]] = ()
    final: bool = False

    @classmethod
    def of(cls, instance: Instance, ending: Ending, detail: Mapping[str, Any] | None = None,
           duration_s: float = 0.0) -> Result:
        """The one way to make a result: an instance and the ending it came to."""
        if ending.verdict is None:
            raise ValueError(f"{instance.nodeid}: an ending without a verdict is no result")
        return cls(instance, ending.verdict, ending.message,
                   dict(ending.observation) if ending.observation is not None else None,
                   dict(ending.expected) if ending.expected is not None else None,
                   ending.portable, [dict(s) for s in ending.sources],
                   _json_safe(detail or {}), round(duration_s, 6), (), ending.final)

    @property
    def failing(self) -> bool:
        return self.verdict in FAILING

    def to_json(self) -> dict[str, Any]:
        """The report's shape of this result."""
        out = self.instance.to_json()
        out.update(verdict=self.verdict, observation=self.observation, detail=dict(self.detail),
                   expected=self.expected, portable=self.portable,
                   sources=[dict(s) for s in self.sources], message=self.message,
                   duration_s=self.duration_s)
        if self.attempts:
            out["attempts"] = [dict(a) for a in self.attempts]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        ending = Ending(data["verdict"], data.get("message", ""), data.get("observation"),
                        data.get("expected"), data.get("portable"), data.get("sources", ()))
        result = cls.of(Instance.from_json(data), ending, data.get("detail"),
                        float(data.get("duration_s", 0.0)))
        return replace(result, attempts=tuple(data.get("attempts", ())))


def _json_safe(detail: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(detail), default=repr)))


def fold(endings: Sequence[tuple[str, Ending]]) -> Ending | None:
    """One attempt's ending from its phases' ``(phase, ending)``, in order; None if none spoke."""
    decided: Ending | None = None
    for phase, ending in endings:
        if ending.verdict is None:
            continue
        if decided is None:
            decided = ending
        elif phase == "teardown" and ending.verdict == "error":
            decided = replace(decided, verdict="error", message=ending.message,
                              final=decided.final or ending.final)
    return decided


def settle(attempts: Sequence[Result]) -> Result:
    """The instance's result after all its attempts (the last one decides)."""
    last = attempts[-1]
    if len(attempts) == 1:
        return last
    summary = tuple({"verdict": a.verdict, "observation": a.observation, "message": a.message,
                     "duration_s": a.duration_s} for a in attempts)
    out = replace(last, attempts=summary,
                  duration_s=round(sum(a.duration_s for a in attempts), 6))
    history = " -> ".join(a.verdict for a in attempts)
    if all((a.verdict, a.observation) == (last.verdict, last.observation) for a in attempts):
        return out
    if last.failing:
        return replace(out, message=f"{last.message} (attempts differed: {history})".lstrip())
    return replace(out, verdict="flaky",
                   message=f"failed, then {last.verdict} on a re-run: {history}")


def should_rerun(attempts: Sequence[Result]) -> bool:
    """Whether another attempt could still change the instance's result.

    Not after a pass, nor after a failure that leaves no time for another
    (``final``), nor after a failure that repeats the attempt before it
    exactly (verdict and observation): seen twice the same way, it is how the
    stack behaves, and a third run of it (a whole Hypothesis search, a forked
    child) would cost as much again to say so once more.
    """
    if not attempts:
        return False
    last = attempts[-1]
    if not last.failing or last.final:
        return False
    if len(attempts) > 1:
        before = attempts[-2]
        return (before.verdict, before.observation) != (last.verdict, last.observation)
    return True
