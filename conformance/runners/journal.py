"""The journal: how a guest tells the host what it ran, in a file that survives a kill.

The guest appends one JSON object per line to ``journal.jsonl`` in its work
directory; the host reads it back once the sandbox has ended, however it
ended. Entries, in the order they come:

- ``{"platform": {...}}``: the platform as the guest probed it, first, so
  even a report salvaged from a crash can name it;
- ``{"collected": [instance, ...]}``: the instances of the whole run (every
  sandbox collects them all, then claims them one by one: guest.Claims);
- ``{"start": nodeid}``: an instance started (if the sandbox dies now, this
  is the one that was running);
- ``{"result": result}``: an instance's result (``Result.to_json``);
- ``{"finish": nodeid}``: that instance is done;
- ``{"stopped": why, "interrupted": bool}``: the session stopped early;
- ``{"exit": code}``: pytest's exit code: the shard completed.

What must survive a kill a moment later is pushed out of the sandbox before
the suite goes on: everything but a result, which goes with the ``finish``
that follows it (pushing each on its own cost a sandbox about a tenth of its
run). Pushed means written and then handed from the guest's page cache to
the host's: ``sync_file_range(2)`` where the guest has it, which in User-Mode
Linux writes the pages to the host file without the host's fsync (a disk
flush, milliseconds on a busy disk, and nothing a killed sandbox needs);
``fsync`` elsewhere. A line cut in half by a kill is dropped by the reader.
"""

from __future__ import annotations

import errno
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

JOB = "job.json"
JOURNAL = "journal.jsonl"


class Journal:
    """The guest's side: a pytest plugin that writes the journal."""

    def __init__(self, path: Path, stack: str):
        self.stack = stack
        self.file = path.open("a", encoding="utf-8")

    def write(self, entry: dict[str, Any], sync: bool = True) -> None:
        self.file.write(json.dumps(entry) + "\n")
        if sync:
            self.file.flush()
            _push(self.file.fileno())

    def close(self) -> None:
        self.file.close()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from conformance import probe

        self.write({"platform": probe.fingerprint(self.stack).to_json()})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from conformance.case import case_info
        from conformance.plugin.reruns import instance_of

        self.write({"collected": [instance_of(i).to_json() for i in session.items
                                  if case_info(i) is not None]})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.write({"start": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from conformance.plugin.reruns import RESULT_ATTR

        data = getattr(report, RESULT_ATTR, None)
        if data is not None:
            self.write({"result": data}, sync=False)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.write({"finish": nodeid})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        why = session.shouldstop or session.shouldfail
        if why:
            self.write({"stopped": f"the session stopped early ({why})", "interrupted": False})

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.write({"stopped": "interrupted", "interrupted": True})


# SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER
_WRITE_AND_WAIT = 1 | 2 | 4


@functools.cache
def _sync_file_range() -> Any:
    """libc's sync_file_range(fd, offset, nbytes, flags), declared; None where absent."""
    try:
        import ctypes

        call = getattr(ctypes.CDLL(None, use_errno=True), "sync_file_range", None)
    except (ImportError, OSError):
        return None
    if call is not None:
        call.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        call.restype = ctypes.c_int
    return call


def _push(fd: int) -> None:
    """Hand what was written to ``fd`` to the host, or fsync it where that cannot be done."""
    call = _sync_file_range()
    if call is not None:
        # Offset 0 and length 0: the whole file.
        if call(fd, 0, 0, _WRITE_AND_WAIT) == 0:
            return
        import ctypes

        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ESPIPE):
            raise OSError(err, os.strerror(err))
    os.fsync(fd)


def read(path: Path) -> list[dict[str, Any]]:
    """The host's side: the journal's entries; a line cut short by a kill is dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
