"""How fast and how big a run of the suite is: whole runs of the CLI, timed from outside.

Usage (from anywhere; the suite must be installed in this interpreter)::

    python benchmarks/bench.py                       # host at -n 0, -n 1, -n auto
    python benchmarks/bench.py --repeat 3            # each configuration 3 times
    python benchmarks/bench.py --sandboxes           # + gvisor and uml at -n auto
    python benchmarks/bench.py --json bench.json     # also write the figures as JSON

What it measures, and how (nothing inside the suite is instrumented):

- wall time: ``time.perf_counter`` around a subprocess running
  ``socket-conformance run -q -n N --out <tmp>``: interpreter start, pytest and
  xdist start-up, collection, the cases and the report writing, as a user sees it;
- time per case instance: the ``duration_s`` of each result in the report the run
  wrote (setup + call + teardown of the instance, as pytest timed them), with the
  Hypothesis cases (the areas in ``conformance.case.SEARCH_AREAS``) counted separately,
  since each of those is a whole search, not one call;
- peak RSS per process: while the run lasts, a sampler reads ``VmHWM`` (the
  kernel's high-water mark of resident memory) from ``/proc/<pid>/status`` for
  every descendant of the CLI process every 20 ms, and keeps the last value read
  per pid; because VmHWM only grows, that is the process's peak up to at most the
  last 20 ms of its life. The exact maximum over the whole process tree comes
  from ``wait4()``'s ``ru_maxrss``, which the kernel folds in from every reaped
  descendant: no worker can have exceeded it;
- the machine: CPU model, core count, memory, kernel, Python, the load average
  before each run (the figures are only comparable on a quiet machine), and the
  git commit of the checkout when there is one;
- CPU time (user + system) of the whole process tree, also from ``wait4()``: on
  a busy machine it moves far less than the wall time, so it says whether a
  slow wall time was the suite's doing or the neighbours'.

The runs are made the way a user's machine runs the suite: with Python's bytecode
cache on (``PYTHONDONTWRITEBYTECODE`` is removed from the children's environment;
an installed package ships or writes its ``.pyc`` files, and without them every
process compiles the suite's and pytest's modules from source on every run), and
after one warm-up run per platform that is not counted (it writes the cache,
and reads the files into the page cache, as any earlier run would have).

A sandbox platform (``--platform gvisor`` or ``uml``) whose CLI run exits 2
(not installed, or not supported by this build of the suite) is skipped with
the CLI's own one-line reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.case import SEARCH_AREAS

SAMPLE_S = 0.02


@dataclass
class Run:
    """The figures of one whole run of the CLI."""

    platform: str
    workers: str
    exit: int
    wall_s: float
    load_before: float
    instances: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    mean_ms: float = 0.0
    hypothesis_instances: int = 0
    hypothesis_mean_ms: float = 0.0
    sum_durations_s: float = 0.0
    slowest: list[tuple[float, str]] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    tree_max_rss_mb: float = 0.0
    cpu_s: float = 0.0
    note: str = ""


def cli_argv() -> list[str]:
    """The CLI as installed beside this interpreter (the console script), else ``-m``."""
    script = Path(sys.executable).with_name("socket-conformance")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "conformance"]


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                # The command name may hold spaces and parentheses: split after the last ")".
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _descendants(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _role(pid: int, root: int) -> str:
    """A readable name for a process of the run's tree (read afresh: a forked child
    shows its parent's command line until it execs)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return "?"
    text = " ".join(argv)
    name = os.path.basename(argv[0]) if argv else comm
    if pid == root:
        return "cli (the pytest controller; at -n 0 it also runs the cases)"
    if name.startswith(("runsc", "linux.uml")) or comm.startswith("runsc"):
        return comm if comm.startswith("runsc") else name
    if "exec(eval(sys.stdin.readline()))" in text or "execnet" in text:
        return "xdist worker"
    if "conformance.topology" in text:
        return "topology helper"
    if "conformance.runners.guest" in text:
        return "sandboxed pytest (host side)"
    return name or comm or "?"


def _vmhwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Polls VmHWM of every descendant of ``root`` until stopped; see the module docstring."""

    def __init__(self, root: int):
        self.root = root
        self.peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in _descendants(self.root):
                kb = _vmhwm_kb(pid)
                if kb is None:
                    continue
                role = _role(pid, self.root)
                if role == "?" and pid in self.peaks:
                    role = self.peaks[pid][0]  # it exited between the two reads
                self.peaks[pid] = (role, kb)
            self._stop.wait(SAMPLE_S)

    def by_process(self) -> dict[str, float]:
        """Peak MB per pytest process (``"<role> pid N"``); other roles as their largest."""
        rows: dict[str, float] = {}
        counts: dict[str, int] = {}
        for pid, (role, kb) in sorted(self.peaks.items(), key=lambda kv: -kv[1][1]):
            if role.startswith(("cli", "xdist worker")):
                rows[f"{role} pid {pid}"] = round(kb / 1024, 1)
            else:
                counts[role] = counts.get(role, 0) + 1
                rows.setdefault(role, round(kb / 1024, 1))
        return {(f"{k} (largest of {counts[k]})" if counts.get(k, 1) > 1 else k): v
                for k, v in rows.items()}


def child_env() -> dict[str, str]:
    """The runs' environment: this one with the bytecode cache on (module docstring)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(platform_name: str, workers: str, extra: list[str]) -> Run:
    """One whole CLI run into a fresh output directory, and its figures."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sc-bench-") as tmp:
        out = Path(tmp) / "out"
        argv = [*cli_argv(), "run", "-q", "-n", workers, "--out", str(out),
                "--platform", platform_name, *extra]
        with open(Path(tmp) / "log", "w+") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=tmp, env=child_env())
            with RssSampler(proc.pid) as sampler:
                # wait4 rather than Popen.wait: it also returns the tree's ru_maxrss.
                _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            log.seek(0)
            tail = log.read().strip().splitlines()[-1:] or [""]
        run = Run(platform_name, workers, proc.returncode, round(wall, 3), load)
        run.peak_rss_mb = sampler.by_process()
        run.tree_max_rss_mb = round(usage.ru_maxrss / 1024, 1)
        run.cpu_s = round(usage.ru_utime + usage.ru_stime, 2)
        reports = sorted(out.glob("*.json")) if out.is_dir() else []
        if not reports:
            run.note = tail[0]
            return run
        _summarize(run, json.loads(reports[0].read_text())["results"])
    return run


def _summarize(run: Run, results: list[dict[str, Any]]) -> None:
    plain = [r for r in results if r["area"] not in SEARCH_AREAS]
    hyp = [r for r in results if r["area"] in SEARCH_AREAS]
    run.instances = len(plain)
    run.hypothesis_instances = len(hyp)
    for r in results:
        run.verdicts[r["verdict"]] = run.verdicts.get(r["verdict"], 0) + 1
    if plain:
        run.mean_ms = round(1000 * sum(r["duration_s"] for r in plain) / len(plain), 2)
    if hyp:
        run.hypothesis_mean_ms = round(1000 * sum(r["duration_s"] for r in hyp) / len(hyp), 1)
    run.sum_durations_s = round(sum(r["duration_s"] for r in results), 3)
    ranked = sorted(results, key=lambda r: -r["duration_s"])[:10]
    run.slowest = [(round(1000 * r["duration_s"], 1), _instance(r)) for r in ranked]


def _instance(result: dict[str, Any]) -> str:
    params = ",".join(f"{k}={v}" for k, v in result.get("params", {}).items())
    return f"{result['id']}[{params}]" if params else result["id"]


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    mem_gb = 0.0
    try:
        with open("/proc/meminfo") as f:
            mem_gb = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    commit = ""
    here = Path(__file__).resolve().parent
    if shutil.which("git"):
        got = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty"],
                             capture_output=True, text=True)
        commit = got.stdout.strip()
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
    }


def _print_run(run: Run) -> None:
    head = (f"{run.platform} -n {run.workers}: {run.wall_s:.2f} s wall, "
            f"{run.cpu_s:.2f} s CPU, exit {run.exit}")
    print(f"{head} (load average before: {run.load_before:.2f})")
    if run.note:
        print(f"  no report: {run.note}")
        return
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(run.verdicts.items()))
    print(f"  {run.instances + run.hypothesis_instances} results: {verdicts}")
    print(f"  mean per instance: {run.mean_ms:.2f} ms over {run.instances} instances; "
          f"Hypothesis cases: {run.hypothesis_mean_ms:.1f} ms over "
          f"{run.hypothesis_instances}; sum of durations {run.sum_durations_s:.2f} s")
    print("  10 slowest instances (ms):")
    for ms, name in run.slowest:
        print(f"    {ms:8.1f}  {name}")
    print(f"  peak RSS (MB; exact max over the tree from wait4: {run.tree_max_rss_mb}):")
    for name, mb in run.peak_rss_mb.items():
        print(f"    {mb:7.1f}  {name}")


def _best(runs: list[Run]) -> Run:
    """The run with the median wall time (the middle one, or the faster of two)."""
    ranked = sorted(runs, key=lambda r: r.wall_s)
    return ranked[(len(ranked) - 1) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--workers", default="0,1,auto",
                   help="comma-separated -n values for the host (default 0,1,auto)")
    p.add_argument("--sandboxes", action="store_true",
                   help="also run --platform gvisor and uml at the last -n value")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per configuration; the median run is shown (default 1)")
    p.add_argument("--json", type=Path, help="also write every run's figures here")
    p.add_argument("extra", nargs="*", help="more arguments for `run` (after --), e.g. -k bind")
    args = p.parse_args(argv)

    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if v))
    print("bytecode cache on; one uncounted warm-up run per platform")
    print(f"command: {' '.join(cli_argv())} run -q -n N --out <tmp> --platform P "
          f"{' '.join(args.extra)}".rstrip())
    configs = [("host", w) for w in args.workers.split(",")]
    if args.sandboxes:
        configs += [("gvisor", configs[-1][1]), ("uml", configs[-1][1])]
    every: list[Run] = []
    shown: dict[str, Run] = {}
    warmed: set[str] = set()
    for plat, workers in configs:
        if plat not in warmed:
            warmed.add(plat)
            run_once(plat, workers, args.extra)  # the warm-up run (module docstring)
        runs = []
        for _ in range(max(1, args.repeat)):
            run = run_once(plat, workers, args.extra)
            runs.append(run)
            if run.exit == 2:
                break
        every += runs
        best = _best(runs)
        if best.exit == 2:
            print(f"{plat} -n {workers}: skipped, the CLI refused it (exit 2): {best.note}")
            continue
        if len(runs) > 1:
            walls = ", ".join(f"{r.wall_s:.2f}" for r in runs)
            print(f"[{len(runs)} runs, wall s: {walls}; median shown]")
        _print_run(best)
        shown[f"{plat} -n {workers}"] = best
    host = [r for key, r in shown.items() if key.startswith("host")]
    if host:
        base = host[-1]
        for key, r in shown.items():
            if not key.startswith("host"):
                print(f"{key}: {r.wall_s / base.wall_s:.1f}x the host -n {base.workers} wall time")
    if args.json:
        args.json.write_text(json.dumps(
            {"machine": info, "runs": [asdict(r) for r in every],
             "median": {k: asdict(r) for k, r in shown.items()},
             "spread_s": {k: statistics.pstdev([r.wall_s for r in every
                                                if f"{r.platform} -n {r.workers}" == k])
                          for k in shown}},
            indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
