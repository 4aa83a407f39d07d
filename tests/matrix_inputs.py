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
accept = [{{ errno = "WSAEINVAL" }}]
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


COUNTEREXAMPLE = ["chunks=[b'', b'\\x00' * 70000]", "segments=[0, 70000]"]
REPRODUCE = "@reproduce_failure('6.100.0', b'AXicY2BgYGBgBAAAEgAC')"


def troubled(report: dict[str, Any]) -> dict[str, Any]:
    """A copy of a host report with what a reader must find first: NONBLOCK deviating on
    the python backend, BLOCKS timing out on inet6, one error, one flaky instance (with
    its attempts and a detail), and a property that failed with a shrunk counterexample."""

    def edit(r: dict[str, Any]) -> None:
        p = r["params"]
        if r["id"] == NONBLOCK and p["backend"] == "python":
            _set(r, "deviates", {"errno": "EINVAL"})
        elif r["id"] == BLOCKS and p["family"] == "inet6":
            _set(r, "timeout", None, "accept() did not return within 2.0s")
        elif r["id"] == EPHEMERAL and p == {"family": "inet", "type": "dgram", "backend": "libc"}:
            _set(r, "error", None, "harness: the case left a socket open")
        elif r["id"] == EPHEMERAL and p == {"family": "inet", "type": "dgram", "backend": "python"}:
            r["attempts"] = [
                {"verdict": "timeout", "observation": None, "message": "recv: nothing within 1s",
                 "duration_s": 1.0},
                {"verdict": r["verdict"], "observation": r["observation"], "message": "",
                 "duration_s": 0.01},
            ]
            r["detail"] = {"port": 40001}
            _set(r, "flaky", r["observation"], "failed, then conforms on a re-run: "
                 "timeout -> conforms")

    new = edited(report, report["platform"]["id"], report["platform"]["os"],
                 report["platform"]["stack"], edit)
    new["results"].append(result(
        "props.tcp.stream_integrity", {"family": "inet"}, "deviates",
        {"holds": False, "counterexample": COUNTEREXAMPLE, "reproduce": [REPRODUCE],
         "failure": "AssertionError: 65536 of 70000 bytes arrived", "profile": "ci",
         "seed": None},
        expected={"accept": [{"holds": True}], "source": "tcp(7): a reliable byte stream",
                  "url": "https://man7.org/linux/man-pages/man7/tcp.7.html", "when": {},
                  "open": False},
        title="any bytes in any segmentation arrive complete and in order", area="props"))
    new["summary"] = {v: 0 for v in new["summary"]}
    for r in new["results"]:
        new["summary"][r["verdict"]] += 1
    model.validate(new, "troubled")
    return new
