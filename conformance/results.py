"""One result per case instance, assembled from pytest's phase reports.

A phase (setup, call, teardown) ends in one of: a judged observation
(conforms, deviates, undocumented), ``Unsupported``, a pytest skip,
``DeadlineExceeded`` or pytest-timeout (timeout), or anything else (error).
The call phase decides; a setup phase that did not pass decides instead; a
failing teardown (a leaked socket, a broken fixture) turns any verdict into
``error`` because the harness can no longer vouch for the result.

An instance whose result fails (deviates, timeout, error) is run again, up
to --conformance-reruns more times, until one attempt does not fail; the
plugin folds each attempt's phases here and hands the list of attempts to
``settle``, which marks the instance ``flaky`` when it failed and then
passed. An instance that fails every attempt keeps its failing verdict:
it never passed, so it is a failure, not a flake.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.case import CaseInfo
from conformance.errors import DeadlineExceeded, Unsupported
from conformance.verdict import FAILING, Judgement

__all__ = ["FAILING", "attempt", "from_phase", "merge", "missing", "settle", "should_rerun"]

# pytest-timeout's message prefix: the last guard, whose budget covers every
# attempt of an instance, so once it has fired there is no time left to retry.
_LAST_GUARD = "pytest-timeout:"


def _exc_verdict(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, Unsupported):
        return "unsupported", str(exc)
    if isinstance(exc, pytest.skip.Exception):
        return "skipped", exc.msg
    if isinstance(exc, DeadlineExceeded):
        return "timeout", str(exc)
    if isinstance(exc, pytest.fail.Exception) and exc.msg.startswith("Timeout"):
        return "timeout", f"{_LAST_GUARD} {exc.msg.splitlines()[0]}"
    return "error", f"{type(exc).__name__}: {exc}"


def from_phase(
    info: CaseInfo,
    params: dict[str, str],
    call: pytest.CallInfo[None],
    judged: tuple[dict[str, Any], Judgement] | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """The result fields one phase contributes (``verdict`` None: nothing to say)."""
    data: dict[str, Any] = {
        "id": info.id,
        "params": params,
        "title": info.title,
        "level": info.level,
        "area": info.area,
        "citations": [c.to_json() for c in info.citations],
        "phase": call.when,
        "verdict": None,
        "observation": None,
        "detail": _json_safe(detail),
        "expected": None,
        "portable": None,
        "sources": [],
        "message": "",
    }
    if judged is not None:
        observation, j = judged
        data.update(
            verdict=j.verdict, observation=observation, expected=j.expected,
            portable=j.portable, sources=j.sources, message=j.message,
        )
    elif call.excinfo is not None:
        verdict, message = _exc_verdict(call.excinfo.value)
        prefix = "" if call.when == "call" else f"{call.when}: "
        data.update(verdict=verdict, message=prefix + message)
    return data


def _json_safe(detail: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(detail, default=repr))


def merge(prev: dict[str, Any] | None, data: dict[str, Any], report: Any) -> dict[str, Any]:
    """Fold one phase into the instance's result so far."""
    duration = (prev or {}).get("duration_s", 0.0) + float(getattr(report, "duration", 0.0))
    if prev is None or prev["verdict"] is None:
        merged = dict(data)
    elif data["phase"] == "teardown" and data["verdict"] == "error":
        merged = dict(prev, verdict="error", message=data["message"])
    else:
        merged = dict(prev)
        if data["detail"]:
            merged["detail"] = data["detail"]
    merged["nodeid"] = report.nodeid
    merged["duration_s"] = round(duration, 6)
    if data.get("attempts"):
        merged = settle(merged, data["attempts"])
    return merged


def attempt(result: dict[str, Any]) -> dict[str, Any]:
    """What one attempt of an instance leaves in its result's ``attempts`` list."""
    return {key: result[key] for key in ("verdict", "observation", "message", "duration_s")}


def should_rerun(result: dict[str, Any] | None) -> bool:
    """Whether an attempt failed in a way another attempt might not."""
    return (result is not None and result["verdict"] in FAILING
            and _LAST_GUARD not in result["message"])


def settle(result: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """The instance's result after its attempts: ``flaky`` when it failed, then passed."""
    out = dict(result, attempts=attempts)
    history = " -> ".join(a["verdict"] for a in attempts)
    varied = any((a["verdict"], a["observation"]) != (result["verdict"], result["observation"])
                 for a in attempts)
    if not varied:
        return out
    if result["verdict"] in FAILING:
        out["message"] = f"{result['message']} (attempts differed: {history})".lstrip()
    else:
        out["verdict"] = "flaky"
        out["message"] = f"failed, then {result['verdict']} on a re-run: {history}"
    return out


def missing(nodeid: str) -> dict[str, Any]:
    """The result of an instance that was collected but never reported back."""
    return {
        "id": nodeid.rsplit("::", 1)[-1].split("[", 1)[0],
        "params": {},
        "nodeid": nodeid,
        "title": "",
        "level": "must",
        "area": "",
        "citations": [],
        "phase": "none",
        "verdict": "error",
        "observation": None,
        "detail": {},
        "expected": None,
        "portable": None,
        "sources": [],
        "message": "collected but never reported: the worker running it may have crashed",
        "duration_s": 0.0,
    }
