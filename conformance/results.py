"""One result per case instance, assembled from pytest's phase reports.

A phase (setup, call, teardown) ends in one of: a judged observation
(conforms, deviates, undocumented), ``Unsupported``, a pytest skip,
``DeadlineExceeded`` or pytest-timeout (timeout), or anything else (error).
The call phase decides; a setup phase that did not pass decides instead; a
failing teardown (a leaked socket, a broken fixture) turns any verdict into
``error`` because the harness can no longer vouch for the result.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.case import CaseInfo
from conformance.errors import DeadlineExceeded, Unsupported
from conformance.verdict import FAILING, Judgement

__all__ = ["FAILING", "from_phase", "merge", "missing"]


def _exc_verdict(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, Unsupported):
        return "unsupported", str(exc)
    if isinstance(exc, pytest.skip.Exception):
        return "skipped", exc.msg
    if isinstance(exc, DeadlineExceeded):
        return "timeout", str(exc)
    if isinstance(exc, pytest.fail.Exception) and exc.msg.startswith("Timeout"):
        return "timeout", f"pytest-timeout: {exc.msg.splitlines()[0]}"
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
    return merged


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
