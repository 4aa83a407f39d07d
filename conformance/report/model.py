"""The report document: one per platform, JSON, validated against schema.json."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from conformance import __version__, inert
from conformance.errors import ReportError
from conformance.probe import Platform
from conformance.verdict import VERDICTS

SCHEMA = "socket-conformance/report/1"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@cache
def revision() -> str:
    """The git revision of the suite when it runs from its own checkout, else 'release'.

    An installed copy can sit inside some other repository (a venv in a
    project's tree): only a checkout whose top level holds this package counts.
    """
    package = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "--show-toplevel", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "release"
    top, _, rev = out.stdout.strip().partition("\n")
    return rev if top and Path(top).resolve() == package.parent else "release"


def _key(r: dict[str, Any]) -> tuple[str, str]:
    return r["id"], json.dumps(r["params"], sort_keys=True)


def build(
    platform: Platform, results: list[dict[str, Any]], started: str,
    interrupted: str | None = None,
) -> dict[str, Any]:
    """Assemble the report document from results (``collect.Collector.report``).

    ``interrupted`` says why a run that was stopped by a user or a signal is
    partial; its instances that never ran are still listed, with the reason.
    """
    clean = [dict(r) for r in sorted(results, key=_key)]
    summary = {v: 0 for v in VERDICTS}
    for r in clean:
        summary[r["verdict"]] += 1
    return {
        "schema": SCHEMA,
        "suite": {"version": __version__, "revision": revision()},
        "platform": platform.to_json(),
        "started": started or now(),
        "finished": now(),
        "summary": summary,
        "interrupted": interrupted,
        "results": clean,
    }


@cache
def schema() -> dict[str, Any]:
    text = resources.files("conformance.report").joinpath("schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(report: Any, name: str = "report") -> None:
    """Raise ReportError naming the file and the offending field."""
    import jsonschema

    if not isinstance(report, dict) or "schema" not in report:
        raise ReportError(f"{name}: not a socket-conformance report (no 'schema' field)")
    _check_version(report["schema"], name)
    errors = sorted(
        jsonschema.Draft202012Validator(schema()).iter_errors(report),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ReportError(f"{name}: field {_clip(where)}: {_clip(e.message)}")
    # A source's url becomes a link in every rendering: only a web address may.
    for i, r in enumerate(report["results"]):
        for j, s in enumerate(r["sources"]):
            if s.get("url") is not None and inert.http_url(s["url"]) is None:
                raise ReportError(f"{name}: field results/{i}/sources/{j}/url: "
                                  f"{_clip(repr(s['url']))} is not an http or https address")


def _clip(text: str, width: int = 200) -> str:
    """A message quoting a field keeps to one readable line, however long the field."""
    return text if len(text) <= width else text[:width] + f"... ({len(text)} characters)"


def _check_version(declared: Any, name: str) -> None:
    """Compare schema versions before any field: a newer report must say "newer"."""
    prefix, _, number = SCHEMA.rpartition("/")
    head, _, theirs = str(declared).rpartition("/")
    shown = _clip(repr(declared))
    # Only a few ASCII digits reach int(): 5000 of them would make it raise, and
    # isdigit() alone also admits other scripts' digits.
    if head != prefix or not (theirs.isascii() and theirs.isdigit()) or len(theirs) > 6:
        raise ReportError(f"{name}: schema {shown} is not a socket-conformance report schema "
                          f"(expected {SCHEMA!r})")
    if int(theirs) > int(number):
        raise ReportError(f"{name}: written by a newer socket-conformance (schema {shown}; "
                          f"this version reads {SCHEMA!r}); upgrade socket-conformance")
    if int(theirs) < int(number):
        raise ReportError(f"{name}: schema {shown} is older than {SCHEMA!r}; "
                          "run the suite again to regenerate the report")


def load(path: Path) -> dict[str, Any]:
    """Read and validate a report file; every failure is one ReportError line.

    Only a regular file of bounded size is read (inputs.py), so a FIFO,
    /dev/zero or a huge sparse file is refused before it can block or fill memory.
    """
    from conformance import inputs

    try:
        data = inputs.parse_json(inputs.read_text(path))
    except inputs.InputError as exc:
        raise ReportError(str(exc)) from None
    except ValueError as exc:
        raise ReportError(f"{path}: {exc}; truncated or not a report") from None
    validate(data, str(path))
    report: dict[str, Any] = data  # validate() refused anything but a report object
    return report
