"""How a platform's run is judged in CI and tox: by whether it broke, never by how it differs.

A platform that differs from Linux's documentation (``deviates``) or never
answers a call (``timeout``) is what the matrix is there to show, not a
failure. A run fails its job when it broke: an exit status other than 0 or 1
(bad input, a tool missing, interrupted, a crash), no report, a partial
report (a deadline or a crash ended the run early), or any ``error`` result
(the harness broke, or a sandbox hung or crashed and what finished was
salvaged). Regressions against a baseline are the gate's
(report/gate.py). A stack that is observed rather than gated
(``stacks.Stack.gating``) has an incomplete report and its error results
listed without failing, as long as the run itself did not break.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def judge(code: int, report: Mapping[str, Any] | None,
          complete: bool = True) -> tuple[bool, list[str]]:
    """Whether the run with exit status ``code`` fails its job, and why; ``report``
    is what it reported, ``complete`` False when that is a partial report (a
    deadline or a crash stopped the run before every instance ended)."""
    from conformance import inert, stacks

    if code not in (0, 1):
        return True, [f"the run broke: `socket-conformance run` exited {code}"]
    if report is None:
        return True, ["the run produced no report"]
    why = [] if complete else ["the run did not complete: its report is a partial one"]
    errors = [r for r in report["results"] if r["verdict"] == "error"]
    if errors:
        why.append(f"{len(errors)} error result(s): the harness broke")
    for r in errors:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        # A message may quote what the stack sent: it must not act on the terminal.
        why.append(inert.terminal(f"- `{r['id']}` [{params}]: {r.get('message') or ''}")
                   .rstrip())
    if not why:
        return False, []
    stack = report["platform"]["stack"]
    if not stacks.get(stack).gating:
        return False, [f"{stack} is observed, not gated: what went wrong is listed, "
                       "it does not fail the run", *why]
    return True, why
