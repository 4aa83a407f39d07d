"""Inputs for the matrix self-tests: a real host report, copies edited into other
platforms, tiny synthetic reports, and an expectations directory of our own (so the
tests do not depend on what the shipped darwin/freebsd/windows files say today).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.probe import fingerprint
from conformance.report import model

# Cases of the Foundation issue: stable ids whose rows the tests reshape.
NONBLOCK = "accept.nonblocking.would_block"
EPHEMERAL = "bind.port_zero.ephemeral"
BLOCKS = "accept.blocks"

EXPECTATIONS = {
    # Suppressed: a darwin report is among the inputs.
    "darwin.toml": f"""
[["{NONBLOCK}"]]
accept = [{{ errno = "EAGAIN" }}]
source = "test: darwin"
""",
    "freebsd.toml": f"""
[["{NONBLOCK}"]]
accept = [{{ errno = "EWOULDBLOCK" }}, {{ errno = "EAGAIN" }}]
source = "test: freebsd accept(2)"
url = "https://man.freebsd.org/cgi/man.cgi?query=accept&sektion=2"
""",
    "windows.toml": f"""
[["{NONBLOCK}"]]
accept = [{{ errno = "WSAEWOULDBLOCK" }}]
source = "test: winsock accept"
when = {{ params = {{ backend = "libc" }} }}
""",
}


def run_host(out: Path) -> Path:
    """A real host run of the accept and bind areas; returns the report file."""
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "-q", "-k", "test_accept or test_bind",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    files = list(out.glob("*.json"))
    assert proc.returncode in (0, 1) and len(files) == 1, proc.stdout[-3000:] + proc.stderr
    return files[0]


def expectations_dir(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    for name, text in EXPECTATIONS.items():
        (where / name).write_text(text)
    return where


def _set(result: dict[str, Any], verdict: str, observation: dict[str, Any] | None,
         message: str = "") -> None:
    result.update(verdict=verdict, observation=observation, message=message)


def edited(report: dict[str, Any], platform_id: str, os: str, stack: str,
           edit: Callable[[dict[str, Any]], bool | None]) -> dict[str, Any]:
    """A copy of ``report`` as another platform; ``edit`` changes a result in place or
    returns False to drop it. The summary is recounted, so the copy stays schema-valid."""
    new = copy.deepcopy(report)
    new["platform"].update(id=platform_id, os=os, stack=stack)
    new["results"] = [r for r in new["results"] if edit(r) is not False]
    new["summary"] = {v: 0 for v in new["summary"]}
    for r in new["results"]:
        new["summary"][r["verdict"]] += 1
    model.validate(new, platform_id)
    return new


def gvisor_like(report: dict[str, Any]) -> dict[str, Any]:
    """Differs from the host on the python backend of NONBLOCK and lacks IPv6 for EPHEMERAL."""

    def edit(r: dict[str, Any]) -> None:
        if r["id"] == NONBLOCK and r["params"]["backend"] == "python":
            _set(r, "deviates", {"errno": "EINVAL"}, "got EINVAL")
        if r["id"] == EPHEMERAL and r["params"]["family"] == "inet6":
            _set(r, "unsupported", None, "no IPv6 in the sandbox")

    return edited(report, "linux-4.4-gvisor", "linux", "gvisor", edit)


def darwin_like(report: dict[str, Any]) -> dict[str, Any]:
    """Same as the host on NONBLOCK, skips EPHEMERAL, and has no BLOCKS results at all."""

    def edit(r: dict[str, Any]) -> bool:
        if r["id"] == EPHEMERAL:
            _set(r, "skipped", None, "precondition missing")
        return r["id"] != BLOCKS

    return edited(report, "darwin-24.1-arm64", "darwin", "host", edit)


def result(case_id: str, params: dict[str, str], verdict: str,
           observation: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    r = {
        "id": case_id, "params": params, "nodeid": f"t.py::{case_id}", "verdict": verdict,
        "observation": observation, "detail": {}, "expected": None, "portable": None,
        "sources": [], "duration_s": 0.001, "message": "", "title": f"title of {case_id}",
        "level": "must", "area": case_id.split(".")[0], "citations": [],
    }
    r.update(extra)
    return r


def synthetic(platform_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    report = model.build(fingerprint(), results, "")
    report["platform"]["id"] = platform_id
    return report


def write(path: Path, report: dict[str, Any]) -> Path:
    path.write_text(json.dumps(report, indent=1))
    return path
