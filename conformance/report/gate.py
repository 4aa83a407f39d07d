"""The gate: compare a new platform report with a baseline, instance by instance.

Theory of operation. A CI job keeps the report of a run it trusts as its
baseline; each later run is compared with it, so the job fails when the
platform (a kernel upgrade, a new container runtime, a new Python) changes
socket behaviour, and stays quiet otherwise. Known deviations already in
the baseline do not fail the gate: only changes do.

Instances are matched by case id + params. Only ``verdict`` and
``observation`` are behaviour; ``detail`` (volatile port numbers),
timings, messages and expectation texts are never compared. Verdicts fall
in two classes: *failing* (deviates, timeout, error) and *acceptable*
(everything else, including unsupported and skipped). Each instance found
in either report yields at most one finding, the first row that applies:

  kind        baseline -> new                                 fails the gate
  removed     present  -> absent (lost coverage)              always
  regression  acceptable or absent -> failing                 always
  flaky       anything or absent -> flaky                     with --strict
  new         absent   -> acceptable                          never
  fixed       failing or flaky -> acceptable ("now conforms") never
  changed     same class, other verdict or observation        with --strict

Why these choices: unsupported/skipped -> deviates is a regression (a
feature appeared, or a precondition now holds, and it misbehaves: news
either way); a new instance that fails is a regression too, since no
baseline ever accepted it; a known deviation whose observation moves is
only a change, since the baseline already recorded it as failing.

Two reports are of the same platform when os, arch and stack agree. The
kernel, libc and Python may differ: those upgrades are what a gate is for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conformance import inert
from conformance.errors import ReportError
from conformance.report.render import expected_text, params_text, short
from conformance.verdict import FAILING

# Kinds in the order they are printed; the first two always fail the gate.
KINDS = ("regression", "removed", "flaky", "changed", "new", "fixed")
ALWAYS_FAIL = frozenset({"regression", "removed"})
STRICT_FAIL = frozenset({"flaky", "changed"})
# The fields that make two reports "the same platform"; the rest may change.
IDENTITY = ("os", "arch", "stack")
# Platform fields worth naming in the header when they changed.
_VERSIONS = ("release", "libc", "python")

Key = tuple[str, str]


@dataclass(frozen=True)
class Finding:
    kind: str
    id: str
    params: dict[str, str]
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    def fails(self, strict: bool) -> bool:
        return self.kind in ALWAYS_FAIL or (strict and self.kind in STRICT_FAIL)

    @property
    def name(self) -> str:
        """``id [k=v, ...]``: how one instance is named on a line."""
        return f"{self.id} [{params_text(self.params)}]" if self.params else self.id


@dataclass(frozen=True)
class Outcome:
    old_platform: dict[str, Any]
    new_platform: dict[str, Any]
    compared: int
    strict: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.fails(self.strict)]

    @property
    def exit_code(self) -> int:
        return 1 if self.failing else 0

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)


def same_platform(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Raise ReportError naming both platform ids unless os, arch and stack agree."""
    differ = [k for k in IDENTITY if old.get(k) != new.get(k)]
    if differ:
        what = ", ".join(f"{k} {old.get(k)!r} vs {new.get(k)!r}" for k in differ)
        raise ReportError(
            f"the reports are of different platforms: baseline {old.get('id')} and "
            f"new {new.get('id')} ({what})"
        )


def _key(r: dict[str, Any]) -> Key:
    return r["id"], json.dumps(r["params"], sort_keys=True)


def _index(report: dict[str, Any], role: str) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for r in report["results"]:
        k = _key(r)
        if k in out:
            raise ReportError(
                f"{role} report lists {r['id']} [{params_text(r['params'])}] twice"
            )
        out[k] = r
    return out


def _kind(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    """The one finding an instance yields (see the table above), or None."""
    if new is None:
        return "removed"
    if new["verdict"] in FAILING:
        if old is None or old["verdict"] not in FAILING:
            return "regression"
    elif new["verdict"] == "flaky":
        return "flaky"
    elif old is None:
        return "new"
    elif old["verdict"] in FAILING or old["verdict"] == "flaky":
        return "fixed"
    assert old is not None
    if (old["verdict"], old["observation"]) != (new["verdict"], new["observation"]):
        return "changed"
    return None


def compare(old: dict[str, Any], new: dict[str, Any], strict: bool = False) -> Outcome:
    """Every finding between two validated reports of the same platform."""
    same_platform(old["platform"], new["platform"])
    before, after = _index(old, "baseline"), _index(new, "new")
    findings = []
    for k in sorted(before.keys() | after.keys()):
        o, n = before.get(k), after.get(k)
        kind = _kind(o, n)
        if kind is not None:
            r = n if n is not None else o
            assert r is not None
            findings.append(Finding(kind, r["id"], dict(r["params"]), o, n))
    findings.sort(key=lambda f: KINDS.index(f.kind))
    return Outcome(old["platform"], new["platform"], len(before.keys() & after.keys()),
                   strict, findings)


def describe(f: Finding) -> str:
    """What changed for one instance, in one line."""
    o, n = f.old, f.new
    if n is None:
        assert o is not None
        return f"was {o['verdict']}: {short(o['observation'])}; now absent"
    if f.kind == "flaky":
        tries = ", ".join(f"{a['verdict']} {short(a['observation'])}"
                          for a in n.get("attempts", []))
        return f"flaky in this run: attempts {tries or '-'}" + (
            f"; baseline {o['verdict']}" if o else "; new instance")
    verdict = n["verdict"] if o is None or o["verdict"] == n["verdict"] \
        else f"{o['verdict']} -> {n['verdict']}"
    text = f"{verdict}: observed {short(n['observation'])}"
    if o is None:
        text += " (new instance)"
    elif o["observation"] != n["observation"]:
        text += f", was {short(o['observation'])}"
    if n["verdict"] == "deviates":
        text += f"; expected {expected_text(n['expected'])}"
    elif n["verdict"] in FAILING and n["message"]:
        text += f"; {n['message']}"
    return " ".join(text.split())


def _platform_changes(o: dict[str, Any], n: dict[str, Any]) -> str:
    return ", ".join(f"{k} {o.get(k)} -> {n.get(k)}" for k in _VERSIONS if o.get(k) != n.get(k))


def _counts(out: Outcome) -> str:
    return ", ".join(f"{k} {out.count(k)}" for k in KINDS)


def verdict_line(out: Outcome) -> str:
    state = "FAIL" if out.failing else "ok"
    return (f"gate: {state}{' (strict)' if out.strict else ''}: {_counts(out)}; "
            f"{out.compared} instances in both reports")


def text(out: Outcome) -> list[str]:
    """Terminal output: header, one aligned line per finding, the verdict line."""
    lines = [f"gate: baseline {out.old_platform['id']} -> {out.new_platform['id']}"]
    changes = _platform_changes(out.old_platform, out.new_platform)
    if changes:
        lines.append(f"platform changes: {changes}")
    if out.findings:
        kind_w = max(len(f.kind) for f in out.findings)
        name_w = max(len(f.name) for f in out.findings)
        for f in out.findings:
            mark = "!" if f.fails(out.strict) else " "
            lines.append(f"{mark} {f.kind.upper():<{kind_w}}  {f.name:<{name_w}}  {describe(f)}")
    lines.append(verdict_line(out))
    # Report fields are input: an escape sequence or a line break in one must
    # neither act on the terminal nor forge a line of the gate's output.
    return [inert.terminal(line) for line in lines]


def markdown(out: Outcome) -> str:
    """A CI job summary: counts, then one table row per finding."""
    state = "FAIL" if out.failing else "ok"
    lines = [
        f"## socket-conformance gate: {state}{' (strict)' if out.strict else ''}",
        "",
        f"Baseline {inert.markdown_code(out.old_platform['id'])} compared with "
        f"{inert.markdown_code(out.new_platform['id'])}: "
        f"{out.compared} instances in both reports.",
    ]
    changes = _platform_changes(out.old_platform, out.new_platform)
    if changes:
        lines += ["", f"Platform changes: {inert.markdown(changes)}."]
    lines += ["", "| " + " | ".join(KINDS) + " |", "|" + "---|" * len(KINDS),
              "| " + " | ".join(str(out.count(k)) for k in KINDS) + " |", ""]
    if not out.findings:
        lines.append("No differences.")
    else:
        lines += ["| | finding | case | params | what changed |", "|---|---|---|---|---|"]
        for f in out.findings:
            # A CI job summary renders HTML and images: every report field is text.
            lines.append("| " + " | ".join((
                "fails" if f.fails(out.strict) else "",
                f"**{f.kind}**" if f.fails(out.strict) else f.kind,
                inert.markdown_code(f.id), inert.markdown(params_text(f.params)),
                inert.markdown(describe(f)),
            )) + " |")
    return "\n".join(lines) + "\n"
