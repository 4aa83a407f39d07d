"""Stress mode (``run --repeat N``): the whole suite N times, and what differed.

A conformance result is only worth reading if the same stack gives it again.
Each repetition is one complete ordinary run (the same command, the same
report directory); the report it hands back (in memory) is reduced, case
instance by case instance, to what must be stable: its verdict and its
observation.
``detail`` (ports, addresses), durations and messages are left out: they are
allowed to vary. An instance differs when, over the repetitions, it showed
more than one (verdict, observation) pair, went missing from some report, or
was marked ``flaky`` by the reruns inside one repetition (it failed, then
passed: the same instability, seen from within a run).

The repetitions run in this process one after another; with ``-n`` each
starts fresh pytest-xdist workers, as separate runs would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["Difference", "differences", "repeat", "stable_part"]


def stable_part(result: dict[str, Any]) -> str:
    """What must not change between repetitions: the verdict and the observation."""
    return f"{result['verdict']} {json.dumps(result['observation'], sort_keys=True)}"


def _instance(result: dict[str, Any]) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(result.get("params", {}).items()))
    return f"{result['id']}[{params}]" if params else result["id"]


class Difference:
    """One instance whose stable part was not the same in every repetition."""

    def __init__(self, instance: str, seen: dict[str, list[int]], runs: int):
        self.instance = instance
        self.seen = seen
        self.runs = runs

    def lines(self) -> list[str]:
        out = [f"  {self.instance}:"]
        for what, runs in sorted(self.seen.items(), key=lambda kv: kv[1][0]):
            out.append(f"    {_spans(runs)} of {self.runs}: {what}")
        return out


def _spans(runs: list[int]) -> str:
    """[1, 2, 3, 7] -> 'runs 1-3,7'."""
    parts: list[str] = []
    start = prev = runs[0]
    for n in [*runs[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ("run " if len(runs) == 1 else "runs ") + ",".join(parts)


def differences(reports: list[list[dict[str, Any]]]) -> list[Difference]:
    """Every instance that was not identical (verdict, observation) in all ``reports``."""
    seen: dict[str, dict[str, list[int]]] = {}
    for number, results in enumerate(reports, 1):
        for result in results:
            kinds = seen.setdefault(_instance(result), {})
            kinds.setdefault(stable_part(result), []).append(number)
    found = []
    for instance, kinds in sorted(seen.items()):
        present = sorted(n for runs in kinds.values() for n in runs)
        missing = [n for n in range(1, len(reports) + 1) if n not in present]
        if missing:
            kinds = dict(kinds, **{"(no result)": missing})
        if len(kinds) > 1 or any(k.startswith("flaky ") for k in kinds):
            found.append(Difference(instance, kinds, len(reports)))
    return found


def repeat(
    times: int,
    once: Callable[[], tuple[int, dict[str, Any] | None]],
    echo: Callable[[str], None],
) -> int:
    """Run ``once`` ``times`` times; print what differed; 1 if anything did.

    A repetition that exits 2 (bad input) ends the stress run at once with 2.
    Otherwise the exit status is 1 when any instance differed, else the worst
    status of the repetitions (1 if any of them had a failing result).
    """
    reports: list[list[dict[str, Any]]] = []
    worst = 0
    for number in range(1, times + 1):
        code, report = once()
        if code == 2:
            return 2
        worst = max(worst, code)
        if report is None:
            echo(f"repeat: run {number} of {times} produced no report")
            return max(worst, 1)
        if report.get("interrupted"):
            echo(f"repeat: run {number} of {times} was {report['interrupted']}")
            return code
        results = report["results"]
        reports.append(results)
        echo(f"repeat: run {number} of {times}: exit {code}, {len(results)} results")
    found = differences(reports)
    instances = len({_instance(r) for results in reports for r in results})
    echo(f"repeat: {times} runs, {instances} case instances, "
         f"{len(found)} differed between runs (verdict or observation; detail, "
         "durations and messages aside)")
    for diff in found:
        for line in diff.lines():
            echo(line)
    return 1 if found else worst


def count(value: str) -> int:
    """argparse type of ``--repeat``: a whole number >= 1."""
    if value.isdigit() and int(value) >= 1:
        return int(value)
    import argparse

    raise argparse.ArgumentTypeError(f"--repeat takes a whole number >= 1, got {value!r}")
