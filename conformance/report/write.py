"""Writers: the JSON report and its Markdown and HTML renderings, written atomically.

Each file is written to a temporary name in the same directory and renamed
into place, so an interrupted run leaves the previous report or none, never
half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from conformance.report import render


def ensure_writable(directory: Path) -> None:
    """Create ``directory`` if needed and prove a file can be created in it (OSError if not)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".probe-", dir=directory)
    os.close(fd)
    os.unlink(name)


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_all(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write <platform-id>.json, .md and .html into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    stem = report["platform"]["id"]
    texts = {
        "json": json.dumps(report, indent=2, sort_keys=False) + "\n",
        "md": render.markdown(report),
        "html": render.html(report),
    }
    paths = {kind: out / f"{stem}.{kind}" for kind in texts}
    for kind, text in texts.items():
        atomic_write(paths[kind], text)
    return paths
