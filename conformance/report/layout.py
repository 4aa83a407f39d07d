"""The reading order of one platform report, shared by its HTML and Markdown.

A reader comes for three things, in this order: which platform this is and how
each area fared; every result that needs attention (deviates, timeout, error,
then flaky), each with what was expected, what happened and why we think so;
and the rest, grouped by area. Instances of one case that ended identically
(same verdict, observation, expectation, message and attempts; typically
the same behaviour on every backend) are one entry listing their parameters,
in both parts; ``detail`` (port numbers and such) is listed per instance.

Every instance has an anchor derived from its case id and parameters only,
so a link to one result (from the matrix, a chat, a bug) survives reruns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conformance.verdict import FAILING, VERDICTS

# The order in which results needing attention are listed: failures first.
ATTENTION = ("deviates", "timeout", "error", "flaky")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def anchor(case_id: str, params: dict[str, str]) -> str:
    """``accept.blocks--family-inet--backend-libc``: stable, and safe in an id and a URL."""
    parts = [case_id, *(f"{k}-{v}" for k, v in params.items())]
    return "--".join(_UNSAFE.sub("_", p) for p in parts)


def safe_url(url: Any) -> str | None:
    """``url`` when it is an http(s) address, else None: a report never links elsewhere."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def area_of(result: dict[str, Any]) -> str:
    return str(result.get("area") or result["id"].split(".", 1)[0])


def counterexample(result: dict[str, Any]) -> list[str]:
    """The shrunk example (or step sequence) of a property that failed, plus how to replay it."""
    obs = result.get("observation")
    if not isinstance(obs, dict):
        return []
    lines = [str(x) for x in obs.get("counterexample") or []]
    return lines + [str(x) for x in obs.get("reproduce") or [] if str(x) not in lines]


@dataclass(frozen=True)
class Row:
    """One or more instances of a case that ended identically."""

    first: dict[str, Any]
    instances: tuple[dict[str, Any], ...]

    @property
    def anchors(self) -> list[str]:
        return [anchor(r["id"], r["params"]) for r in self.instances]

    @property
    def params(self) -> str:
        return params_label([r["params"] for r in self.instances])

    @property
    def details(self) -> list[tuple[str, dict[str, Any]]]:
        """Each instance's ``detail`` that is not empty, with the instance's parameters."""
        return [(", ".join(f"{k}={v}" for k, v in r["params"].items()), r["detail"])
                for r in self.instances if r.get("detail")]


@dataclass(frozen=True)
class Area:
    name: str
    counts: dict[str, int]
    rows: tuple[Row, ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failing(self) -> int:
        return sum(self.counts.get(v, 0) for v in FAILING)


@dataclass(frozen=True)
class Layout:
    areas: tuple[Area, ...]
    attention: tuple[Row, ...]


def params_label(group: list[dict[str, str]]) -> str:
    """``family=inet|inet6, backend=python|libc`` when the group is every combination of
    those values, else each instance's parameters, separated by ``;``."""
    if not group or not any(group):
        return ""
    axes = list(dict.fromkeys(k for p in group for k in p))
    values = {a: list(dict.fromkeys(p.get(a, "") for p in group)) for a in axes}
    combos = 1
    for v in values.values():
        combos *= len(v)
    if combos == len(group) and all(len(p) == len(axes) for p in group):
        return ", ".join(f"{a}={'|'.join(values[a])}" for a in axes)
    return "; ".join(", ".join(f"{k}={v}" for k, v in p.items()) for p in group)


def varied_attempts(result: dict[str, Any]) -> bool:
    """Whether the attempts of a rerun ended differently (else one line says how many)."""
    return any((a.get("verdict"), a.get("observation"))
               != (result["verdict"], result["observation"]) for a in result.get("attempts") or [])


def message(result: dict[str, Any]) -> str:
    """The result's message, unless it only repeats what expected, got and source say."""
    return "" if result["verdict"] == "deviates" else str(result["message"])


def got(result: dict[str, Any]) -> Any:
    """The observation as shown beside the expectation; a property's counterexample and
    replay lines are shown on their own."""
    obs = result.get("observation")
    if isinstance(obs, dict) and counterexample(result):
        return {k: v for k, v in obs.items()
                if k not in ("counterexample", "reproduce") and v is not None}
    return obs


def _same_end(r: dict[str, Any]) -> str:
    # ``detail`` holds volatile facts (port numbers): it is listed per instance
    # (Row.details), never a reason to show two rows.
    attempts = [(a.get("verdict"), a.get("observation"), a.get("message"))
                for a in r.get("attempts") or []]
    return json.dumps([r["id"], r["verdict"], r["observation"], r["expected"], r["portable"],
                       r["message"], attempts], sort_keys=True, default=str)


def _fold(results: list[dict[str, Any]]) -> tuple[Row, ...]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(_same_end(r), []).append(r)
    return tuple(Row(g[0], tuple(g)) for g in groups.values())


def build(report: dict[str, Any]) -> Layout:
    results = report["results"]
    rank = {v: i for i, v in enumerate(ATTENTION)}
    attention = sorted((r for r in results if r["verdict"] in rank),
                       key=lambda r: (rank[r["verdict"]], area_of(r), r["id"]))
    areas: dict[str, dict[str, Any]] = {}
    for r in results:
        entry = areas.setdefault(area_of(r), {"counts": dict.fromkeys(VERDICTS, 0), "rest": []})
        entry["counts"][r["verdict"]] = entry["counts"].get(r["verdict"], 0) + 1
        if r["verdict"] not in rank:
            entry["rest"].append(r)
    return Layout(
        areas=tuple(Area(name, e["counts"], _fold(e["rest"])) for name, e in sorted(areas.items())),
        attention=_fold(attention),
    )
