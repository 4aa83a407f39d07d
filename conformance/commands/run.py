"""socket-conformance run: run the suite on a platform and write its report."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from conformance import checks, options, repeat, tempdirs
from conformance.errors import UsageError

PLATFORMS = ("host", "gvisor", "uml", "lwip", "wine")
# Platforms whose cases run inside a sandbox; lwip and wine run in this
# pytest, through the stack agent (conformance/stacks.py).
SANDBOXES = ("gvisor", "uml")
# pytest's exit codes -> ours, when no report came back: 0 all acceptable, 1 a failing
# verdict, 2 bad input. With a report, its own rule decides (collect.exit_code).
_EXIT = {0: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2}


def cases_dir() -> Path:
    """Where the shipped cases are: site-packages after an install, cases/ in a checkout."""
    import importlib.util

    spec = importlib.util.find_spec("conformance.cases")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the case catalogue (conformance.cases) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _directory(value: str) -> Path:
    path = Path(value).resolve()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: not a directory")
    return path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the suite on this platform and write its report")
    run.add_argument("--out", default="reports", help="report directory (default ./reports)")
    run.add_argument("-n", dest="workers", type=checks.workers, default="0",
                     help="pytest-xdist workers: a number or 'auto' (default 0: in-process); "
                          "with --platform gvisor or uml, how many sandboxes run side by "
                          "side, each pinned to one CPU ('auto': one per CPU; 0: one); "
                          "with lwip or wine, workers each with their own stack agent")
    run.add_argument("-k", dest="keyword", type=checks.keyword,
                     help="only cases matching this pytest -k expression")
    run.add_argument("--platform", default="host",
                     help=f"where to run: {', '.join(PLATFORMS)} (default host)")
    run.add_argument("--timeout", type=checks.seconds("a per-case limit"), default=None,
                     help="last-resort per-case limit in seconds (pytest-timeout; default "
                          "20, 180 for the stack-agent platforms lwip and wine)")
    run.add_argument("--deadline", type=checks.seconds("a deadline"), default=900.0,
                     help="stop the run (the sandboxes, or the host run's workers) after "
                          "this many seconds and report what completed (default 900)")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress line: what runs, then the summary")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="pytest's own output instead: its header, a line per instance "
                          "(PASSED/FAILED), its failure sections")
    run.add_argument("--repeat", type=repeat.count, default=1, metavar="N",
                     help="stress mode: run the whole suite N times and list every case "
                          "instance whose verdict or observation differed; exit 1 if any did")
    run.add_argument("--reruns", type=checks.reruns, default=2, metavar="N",
                     help="run a result that deviates, times out or errors up to N more "
                          "times, until it passes or fails as the attempt before did; one "
                          "that then passes is flaky (default 2)")
    run.add_argument("--baseline", metavar="OLD.json",
                     help="then gate the new report against this one: the exit status is "
                          "the gate's (see the gate command)")
    run.add_argument("--judge", action="store_true",
                     help="exit as a platform's CI or tox job is judged: 1 only when the "
                          "run broke (an `error` result, no report or a partial one) or, "
                          "with --baseline, regressed; results that deviate or time out are "
                          "the platform's findings, not failures (lwip and wine are "
                          "observed: what broke is listed without failing)")
    run.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    run.add_argument("--explore", action="store_true",
                     help="Hypothesis 'explore' profile: many more examples, a random seed "
                          "(default: the derandomized 'ci' profile)")
    run.add_argument("--strict", action="store_true",
                     help="flaky results fail the run; with --baseline, observation "
                          "changes fail the gate too")
    run.add_argument("--cases", type=_directory, action="append", default=[], metavar="DIR",
                     help="also run the cases in DIR (repeatable): your own case modules, "
                          "which import conformance.api")
    run.add_argument("--expectations", type=_directory, metavar="DIR",
                     help=options.EXPECTATIONS[3])


def pytest_args(args: argparse.Namespace, out: Path | None) -> list[str]:
    """The pytest command line for the shipped cases: a host run writes its report
    into ``out``; a sandboxed run (``out`` None) leaves the report and the
    choice of workers (sandboxes) to the host."""
    from conformance import stacks

    where = cases_dir()
    argv = [
        str(where), *map(str, args.cases),
        "-p", "conformance.plugin",
        "-p", "no:cacheprovider",
        # Hypothesis' pytest plugin serves @given tests, and the cases have none
        # (a property runs its search inside the case: search.py); it wraps every
        # phase of every instance and imports all of Hypothesis into the
        # controller for its summary (0.06 s at the end of a run).
        "-p", "no:hypothesispytest",
        # Cases return observations and never rely on assertion rewriting (a
        # Hypothesis property's assert carries its own message); rewriting
        # every case module in every worker cost about 0.5 s of a 3.5 s run.
        "--assert=plain",
        "--rootdir", str(where),
        "-c", str(where / "pytest.ini"),
        "--conformance-stack", args.platform,
        "--timeout", str(args.timeout if args.timeout is not None
                         else stacks.get(args.platform).guard_s),
        "--conformance-reruns", str(args.reruns),
        # The CLI imported the package before pytest could mark it for assertion
        # rewriting; the plugin asserts nothing, so the warning is noise.
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        # pytest's header, its letters and its passed/failed counts, or the
        # suite's own words (plugin/terminal.py): a progress line, then the
        # controller's summary by verdict.
        # Without -v no pytest failure section is shown and the report holds
        # none, so log capturing (a handler swapped in and out around every
        # phase of every instance: 8% of a run's CPU time) would keep records
        # nobody sees; a record a case logs at WARNING or above still reaches
        # stderr, which pytest captures as it did before.
        *(["-v", "-rfE"] if args.verbose else
          ["-qqq" if args.quiet else "-qq", "-o", "console_output_style=classic",
           "-p", "conformance.plugin.terminal", "-p", "no:logging"]),
    ]
    if args.keyword:
        argv += ["-k", args.keyword]
    if out is not None:
        argv += ["--conformance-out", str(out), "-n", args.workers,
                 "--conformance-deadline", str(args.deadline)]
    return argv


def main(args: argparse.Namespace) -> int:
    from conformance import agent, expectations, stacks
    from conformance.commands import gate
    from conformance.report.write import check_directory

    if args.platform not in PLATFORMS:
        raise UsageError(
            f"unknown platform {args.platform!r}; expected one of {', '.join(PLATFORMS)}"
        )
    if args.platform not in SANDBOXES:
        count = (os.cpu_count() or 1) if args.workers == "auto" else int(args.workers)
        short = checks.worker_room(count)
        if short:
            # Workers that cannot start end in pages of INTERNALERROR and no report.
            print(f"socket-conformance: warning: {short}; running the cases in this "
                  "process instead (-n 0)", file=sys.stderr)
            args.workers = "0"
    # Read and check --baseline/--junit before anything (even --out) is created.
    baseline = gate.preflight(args)
    build = stacks.get(args.platform).agent
    if build is not None:
        # A missing compiler, library or Wine is one line before pytest starts.
        agent.command(build)
    # The worker's run directory, the Hypothesis store, AF_UNIX socket paths: a
    # run needs a writable temporary directory, and says so now rather than in a
    # traceback from a worker.
    tempdirs.require()
    out = check_directory(Path(args.out)).resolve()
    if args.expectations:
        # Through the environment, so xdist workers and sandboxed runs see it too.
        os.environ[options.EXPECTATIONS[2]] = str(args.expectations)
    # A malformed file is reported here, once, as one line, before pytest starts.
    exp_dir = os.environ.get(options.EXPECTATIONS[2])
    expectations.load_all(Path(exp_dir) if exp_dir else None)
    # Hypothesis' experimental observability (HYPOTHESIS_EXPERIMENTAL_OBSERVABILITY*)
    # makes every process write into Hypothesis' storage directory and trace
    # coverage: a read-only or bogus directory would turn every property case
    # into an error, and the tracing slows them fourfold. The suite sets its own
    # Hypothesis settings (search.py), so it switches this off for its workers.
    for name in [v for v in os.environ if v.startswith("HYPOTHESIS_EXPERIMENTAL_OBSERVABILITY")]:
        del os.environ[name]
    if args.judge and args.repeat > 1:
        raise UsageError("--judge judges one run; it does not combine with --repeat")
    if args.repeat > 1:
        # Each repetition is an ordinary single run; repeat.py compares their reports.
        single = argparse.Namespace(**dict(vars(args), repeat=1))
        return repeat.repeat(args.repeat, lambda: _run_once(single, out), print)
    code, report = _run_once(args, out)
    gated = gate.after_run(args, report, baseline, code)
    if not args.judge:
        return gated
    return _judged(code, report, _complete(report, out),
                   regressed=baseline is not None and gated != 0)


def _complete(report: dict[str, Any] | None, out: Path) -> bool:
    """Whether ``report`` is the complete one in ``out``: a run that did not
    complete writes into ``out/partial/`` instead (report/write.py)."""
    import json

    from conformance.report.write import stem

    if report is None:
        return False
    try:
        written = json.loads((out / f"{stem(report)}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(written.get("finished") == report["finished"])


def _judged(code: int, report: dict[str, Any] | None, complete: bool, regressed: bool) -> int:
    """``--judge``: print the judgement (report/judge.py) and return the exit status."""
    from conformance.report.judge import judge

    failed, why = judge(code, report, complete)
    if regressed:
        failed = True
        why.append("the report regresses against the baseline (the gate's lines above)")
    print(f"judged: {'fails' if failed else 'passes'}"
          + ("" if why else " (results that deviate or time out are findings, not failures)"))
    for line in why:
        print(line)
    if code not in (0, 1):
        return code
    return 1 if failed else 0


def _run_once(args: argparse.Namespace, out: Path) -> tuple[int, dict[str, Any] | None]:
    """One run of the suite; its exit code and the report it produced (None if none)."""
    import pytest

    from conformance.collect import INTERRUPTED, exit_code
    from conformance.plugin.controller import ReportKeeper

    if args.explore:
        from conformance.search import PROFILE_ENV

        # Through the environment, so xdist workers and sandboxed runs see it too.
        os.environ[PROFILE_ENV] = "explore"
    report: dict[str, Any] | None = None
    # SIGTERM ends the run like Ctrl-C: what finished is reported, temporary
    # directories are removed (the plugin's own handler takes over while
    # pytest runs in this process).
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        # The suite keeps no example database (search.py), but Hypothesis still
        # caches constants in its storage directory, by default ./.hypothesis in
        # whatever directory the user ran from; a private temporary one keeps
        # that directory clean (and works when it is read-only).
        with tempdirs.make("socket-conformance-hypothesis-") as store:
            os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = store
            if args.platform in SANDBOXES:
                import importlib

                from conformance.runners import sandbox

                runner = importlib.import_module(f"conformance.runners.{args.platform}").RUNNER
                code, report = sandbox.run(runner, pytest_args(args, None), out, args.deadline,
                                           args.workers)
            else:
                keep = ReportKeeper()
                try:
                    code = int(pytest.main(pytest_args(args, out), plugins=[keep]))
                except KeyboardInterrupt:
                    # A second interrupt while pytest was already cleaning up.
                    return INTERRUPTED, None
                report = keep.report
                if keep.interrupted and report is None:
                    return INTERRUPTED, None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if report is not None:
        return exit_code(report), report
    if code == 5:
        what = f"matched -k {args.keyword!r}" if args.keyword else "was collected"
        print(f"socket-conformance: error: no case instance {what}", file=sys.stderr)
    return _EXIT.get(code, 1), None


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("interrupted by SIGTERM")
