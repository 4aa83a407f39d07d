"""From the shards' journals and endings to the collector, whatever happened to them.

A shard whose journal records pytest's exit completed: its journal says it
all. Any other ending (a hang stopped at the deadline, a crash, a sandbox
that never started, an interrupt) keeps the instances the journal shows
finished; the instance that was running gets an ``error`` saying what
happened (or ``harness.run`` does, when none was), and the ones never
started are ``skipped`` with the same reason. A sandbox that saw the
platform differently from the first (a capability probed another way) is an
``error`` too, since the report names one platform.
"""

from __future__ import annotations

import platform as _pl
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from conformance.collect import Collector, Stop
from conformance.result import RUN_ID, Ending, Instance, Result

if TYPE_CHECKING:
    from conformance.runners.sandbox import Runner, Shard
    from conformance.runners.supervision import Ended


def feed(collector: Collector, shard: Shard) -> None:
    """Tell ``collector`` everything ``shard``'s journal says."""
    for e in shard.entries:
        if "collected" in e:
            collector.plan(Instance.from_json(d) for d in e["collected"])
        elif "start" in e:
            collector.start(e["start"])
        elif "result" in e:
            collector.add(Result.from_json(e["result"]))
        elif "stopped" in e:
            collector.stop(Stop(e["stopped"], interrupted=bool(e.get("interrupted"))))


def ending(collector: Collector, runner: Runner, shard: Shard, deadline_s: float) -> None:
    """Tell ``collector`` how ``shard`` ended, once every journal has been fed.

    A shard that did not complete leaves an ``error`` on the instance it was
    running, or on the run itself when it ran none, and ``skipped`` on every
    instance of the run that no sandbox ran.
    """
    if shard.exit is not None:
        return
    assert shard.ended is not None
    if shard.ended.interrupted:
        collector.stop(Stop("interrupted", interrupted=True))
        return
    finished = {e["finish"] for e in shard.entries if "finish" in e}
    running = [e["start"] for e in shard.entries
               if "start" in e and e["start"] not in finished and e["start"] not in collector.got]
    never = [n for n in collector.planned
             if n not in collector.got and n not in collector.running]
    what = (f"{what_happened(runner, shard.ended, deadline_s)} ({len(finished)} instance(s) "
            f"finished, {len(never)} never started)")
    for nodeid in running:
        collector.lose(nodeid, "error", f"interrupted while this case ran: {what}")
    for nodeid in never:
        collector.lose(nodeid, "skipped", f"not run: {what}")
    if not running:
        collector.add(run_error(runner, shard, what))


def what_happened(runner: Runner, ended: Ended, deadline_s: float) -> str:
    if ended.timed_out:
        head = f"the {runner.stack} run did not finish within its {deadline_s:g} s deadline " \
               "and was stopped"
    elif ended.returncode is not None and ended.returncode < 0:
        head = f"{runner.tool} was killed by signal {-ended.returncode}"
    else:
        head = f"{runner.tool} exited with code {ended.returncode} before the suite finished"
    clue = _clue(ended.tail)
    return f"{head}; last output: {clue!r}" if clue else head


# A kernel's stack dump (UML prints one when it panics) says nothing to a reader.
_DUMP = re.compile(r"\s*(\[<[0-9a-f]+>\]|([0-9a-f]{8,16}\s*)+$|Stack:|Call Trace:|CPU: \d)")


def _clue(tail: Sequence[str]) -> str:
    """The most telling line of the sandbox's last output: a panic, else the last line."""
    lines = [ln.strip() for ln in tail if ln.strip() and not _DUMP.match(ln)]
    return next((ln for ln in reversed(lines) if "panic" in ln.lower()),
                lines[-1] if lines else "")


def disagreements(runner: Runner, shards: list[Shard]) -> list[Result]:
    """An ``error`` for each sandbox that saw the platform differently from the first."""
    described = [(s, e["platform"]) for s in shards for e in s.entries if "platform" in e]
    if not described:
        return []
    first, seen = described[0]
    return [
        run_error(runner, shard, f"sandbox {shard.name} saw the platform differently from "
                  f"sandbox {first.name}: " + ", ".join(
                      f"{k} {plat.get(k)!r} against {seen.get(k)!r}"
                      for k in sorted(set(plat) | set(seen)) if plat.get(k) != seen.get(k)))
        for shard, plat in described[1:] if plat != seen
    ]


def run_error(runner: Runner, shard: Shard, message: str) -> Result:
    """An ``error`` on the sandbox's run itself (``harness.run``)."""
    # With several sandboxes, each can fail on its own: the shard tells them apart.
    params = {"shard": shard.name} if shard.count > 1 else {}
    nodeid = f"{runner.stack} run" + (f" {shard.name}" if params else "")
    instance = Instance(nodeid, RUN_ID, params, "the suite ran to completion inside the platform",
                        "must", "harness")
    return Result.of(instance, Ending("error", message))


def platform_of(runner: Runner, shards: list[Shard]) -> Any:
    """The platform as the first guest to describe itself saw it (all run one build)."""
    from conformance import probe as plat

    found = next((e["platform"] for s in shards for e in s.entries if "platform" in e), None)
    return plat.Platform(**found) if found else fallback_platform(runner)


def fallback_platform(runner: Runner) -> Any:
    """The platform as far as the host can tell, when the guest never described itself."""
    from conformance import probe as plat

    kernel = runner.kernel_hint() or "unknown"
    arch = _pl.machine().lower() or "unknown"
    py = f"{sys.implementation.name} {_pl.python_version()}"
    return plat.Platform(f"linux-{kernel}-{arch}-{runner.stack}", "linux", "unknown",
                         kernel, arch, "unknown", py, runner.stack, {})
