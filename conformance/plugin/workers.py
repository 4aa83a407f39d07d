"""What an xdist worker tells the controller besides its reports, through a run directory.

The controller makes a private directory for the run and hands its path to
each worker (``workerinput``). A worker writes there the instances it
collected (``plan-<worker>.json``: every worker collects the same, the
controller reads one) and, as each instance starts, which one it is running
and its pid (``running-<worker>``), so the controller can still say what an
instance was when its worker dies, and can stop a worker that stopped
answering.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conformance import tempdirs
from conformance.case import case_info
from conformance.result import Instance

RUNDIR = "conformance_rundir"


class RunDir:
    """The controller's side: make the directory, read what workers wrote, remove it."""

    def __init__(self) -> None:
        self._dir = tempdirs.make("socket-conformance-run-")
        self.path = Path(self._dir.name)

    def plan(self) -> list[Instance]:
        for path in sorted(self.path.glob("plan-*.json")):
            try:
                return [Instance.from_json(d) for d in json.loads(path.read_text("utf-8"))]
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return []

    def running(self) -> dict[str, int]:
        """node id -> pid of the worker that last said it is running it."""
        out: dict[str, int] = {}
        for path in self.path.glob("running-*"):
            try:
                pid, _, nodeid = path.read_text("utf-8").strip().partition(" ")
                out[nodeid] = int(pid)
            except (OSError, ValueError):
                continue
        return out

    def pids(self) -> list[int]:
        return sorted(set(self.running().values()))

    def remove(self) -> None:
        self._dir.cleanup()


class Reporter:
    """The worker's side, a pytest plugin registered in workers only."""

    def __init__(self, config: pytest.Config):
        given: dict[str, Any] = getattr(config, "workerinput")  # noqa: B009 (set by xdist)
        wid = given["workerid"]
        self.dir = Path(given[RUNDIR])
        self.wid = wid
        self.fd = os.open(self.dir / f"running-{wid}", os.O_WRONLY | os.O_CREAT, 0o600)
        self._say("")

    def _say(self, nodeid: str) -> None:
        line = f"{os.getpid()} {nodeid}\n".encode()
        os.pwrite(self.fd, line, 0)
        os.ftruncate(self.fd, len(line))

    # Before xdist tells the controller this worker's collection is done.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from conformance.plugin.reruns import instance_of

        plan = [instance_of(i).to_json() for i in session.items if case_info(i) is not None]
        tmp = self.dir / f".plan-{self.wid}.json"
        tmp.write_text(json.dumps(plan), encoding="utf-8")
        os.replace(tmp, self.dir / f"plan-{self.wid}.json")

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._say(nodeid)

    def pytest_unconfigure(self) -> None:
        os.close(self.fd)
