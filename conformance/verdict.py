"""Observation + expectation -> verdict.

Theory of operation. A case returns what the stack did; it never decides
whether that was right. Here the platform's expectation (first entry of its
family file whose condition holds) is compared with the observation:

- no expectation for this platform  -> ``undocumented`` (unknown stays
  unknown: nothing is invented, the observation is recorded for the matrix);
- the observation is one the expectation accepts -> ``conforms``;
- otherwise -> ``deviates``.

``portable`` compares the same observation with the POSIX baseline: true or
false where POSIX pins the behaviour down, null where it leaves it open or
says nothing. The other verdicts (unsupported, skipped, timeout, error) come
from how the case ended, not from an observation; see ``plugin/judging.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.expectations import BASELINE, FAMILIES, Expectation, ExpectationSet

VERDICTS = ("conforms", "deviates", "undocumented", "unsupported", "skipped", "timeout", "error",
            "flaky")
# A run fails (exit 1) when any result has one of these verdicts. ``flaky``
# (failed, then passed on a re-run in the same session; see result.settle)
# is not among them: it fails a run or a gate only with --strict.
FAILING = frozenset({"deviates", "timeout", "error"})


@dataclass(frozen=True)
class Judgement:
    verdict: str
    expected: dict[str, Any] | None
    portable: bool | None
    sources: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def judge(
    case_id: str,
    observation: Mapping[str, Any],
    platform: Mapping[str, Any],
    params: Mapping[str, Any],
    family: ExpectationSet,
    baseline: ExpectationSet,
) -> Judgement:
    """Turn one observation into a verdict for the given platform."""
    exp = family.lookup(case_id, platform, params)
    posix = baseline.lookup(case_id, platform, params)
    portable = None if posix is None or posix.open else posix.admits(observation)
    sources = [_source(e) for e in (exp, posix) if e is not None]
    if exp is None:
        return Judgement(
            "undocumented", None, portable, sources,
            f"no documented expectation for {case_id} on {platform.get('os')}; "
            f"observed {_short(observation)}",
        )
    if exp.admits(observation):
        return Judgement("conforms", exp.to_json(), portable, sources, "")
    return Judgement(
        "deviates", exp.to_json(), portable, sources,
        f"got {_short(observation)}, expected one of "
        f"{' | '.join(_short(a) for a in exp.accept)} [{case_id}; {exp.source}]",
    )


def _source(e: Expectation) -> dict[str, Any]:
    return {"family": _family_of(e.file), "text": e.source, "url": e.url}


def _family_of(file: str) -> str:
    """``.../linux.toml`` and the fragment ``.../linux/connect.toml`` are both linux's."""
    parts = Path(file).parts
    return parts[-2] if parts[-2:-1] and parts[-2] in (*FAMILIES, BASELINE) else Path(file).stem


def _short(obs: Mapping[str, Any]) -> str:
    return json.dumps(obs, sort_keys=True, separators=(", ", ": "))
