"""``run_benchmark.py`` / ``mmm-benchmark``: datasets x fitters x seeds, end to end.

Exit codes: 2 for bad input, with one line saying what is wrong and what is allowed,
before anything is written; 0 when every fit succeeded or was skipped by a stated rule;
1 when a fit failed or timed out, ``--plots-only`` found no usable stored result for a
planned fit, or the run itself failed (one line; the tables and report are written
whatever the fits did); 130 after SIGINT (Ctrl-C) and 143 after SIGTERM: running fits
are killed, completed ones are kept, nothing half-written is left, one line says so. A
second signal while stopping exits at once (the fits die with this process).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

from mmm_param_recovery.benchmarking.fitters.model_spec import PROFILES
from mmm_param_recovery.benchmarking.fitters.registry import list_libraries, list_samplers
from mmm_param_recovery.cli.arguments import (
    describe_available,
    output_dir_arg,
    request_from_args,
)
from mmm_param_recovery.cli.progress import ProgressDisplay
from mmm_param_recovery.errors import MMMBenchmarkError

BUSINESS_PRESETS = ("small_business", "medium_business", "large_business", "growing_business")
GIB = 1024**3
MEMORY_PER_JOB_GIB = 6.0
"""Memory budget of one parallel fit when --jobs is chosen automatically."""

EXIT_OK, EXIT_FIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """Raised in the main thread by the SIGINT/SIGTERM handler (a KeyboardInterrupt, so
    that no ``except Exception`` boundary swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _install_stop_handlers() -> dict:
    """SIGINT/SIGTERM raise RunInterrupted once; a second one exits at once."""
    stopping = []

    def handler(signum, frame):
        if stopping:
            os.write(2, f"\nrun_benchmark.py: {signal.Signals(signum).name} again: exiting "
                        "now\n".encode())
            os._exit(128 + signum)
        stopping.append(signum)
        raise RunInterrupted(signum)

    return {number: signal.signal(number, handler) for number in STOP_SIGNALS}


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage block) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` unless the help already states its default; lists are
    shown as space-separated names, as they are typed."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default is argparse.SUPPRESS:
            return text
        default = action.default
        if isinstance(default, list):
            return f"{text} (default: {' '.join(map(str, default))})"
        return f"{text} (default: {default})"


def default_jobs(chains: int) -> int:
    """Fits in parallel: each gets ``chains`` cores and MEMORY_PER_JOB_GIB of memory."""
    cores = os.cpu_count() or 1
    memory_gib = psutil.virtual_memory().total / GIB
    return max(1, min(cores // max(chains, 1), int(memory_gib // MEMORY_PER_JOB_GIB)))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="run_benchmark.py",
        description="Fit PyMC-Marketing (pymc, nutpie, numpyro, blackjax samplers) and Google "
        "Meridian to synthetic MMM data with known truth; write tables, plots and "
        "summary/report.html under --output-dir.",
        formatter_class=DefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--datasets", nargs="+", default=None, metavar="NAME",
        help=f"presets to generate and fit: {', '.join(BUSINESS_PRESETS)} (also basic, "
        "seasonal, multi_region, shared_dgp) (default: small_business, or none with "
        "--dataset-file)")
    add("--samplers", nargs="+", default=["nutpie"], metavar="NAME",
        help=f"NUTS samplers of the libraries that offer several: {', '.join(list_samplers())}")
    add("--libraries", nargs="+", default=list(list_libraries()), metavar="NAME",
        help=f"libraries: {', '.join(list_libraries())}")
    add("--priors", nargs="+", default=["seed"], metavar="NAME",
        help=f"prior profiles, each fitted by every fitter: {', '.join(PROFILES)} (seed: the "
        "original spend-share priors; library: each library's defaults; matched: the same "
        "ROAS prior for both; see docs/models.md)")
    add("--fitter-option", action="append", default=[], metavar="KEY=VALUE",
        help="an option of every selected fitter that takes KEY, repeatable; e.g. "
        "saturation=hill (PyMC-Marketing's Hill function instead of its Hill sigmoid, the "
        "form shared_dgp is built in) or nutpie_backend=jax; --list shows each fitter's "
        "options (default: none, each fitter's defaults)")
    add("--chains", type=int, default=4, help="MCMC chains per fit")
    add("--draws", type=int, default=1000, help="kept draws per chain")
    add("--tune", type=int, default=1000, help="warm-up (tuning) iterations per chain")
    add("--target-accept", type=float, default=0.9, help="NUTS target acceptance, in (0, 1)")
    add("--seed", type=int, default=42, help="seed of the data and the samplers")
    add("--seeds", type=int, nargs="+", default=None, metavar="SEED",
        help="several replicate seeds (fresh data per seed); overrides --seed (default: "
        "only --seed)")
    add("--force-rerun", action=argparse.BooleanOptionalAction, default=False,
        help="re-fit even when a stored result matches the full spec")
    add("--plots-only", action="store_true",
        help="rebuild tables, plots and report from stored results, without fitting")
    add("--output-dir", type=output_dir_arg, default=Path("data/results"),
        help="results folder")
    add("--compare-to", type=Path, default=None, metavar="OTHER_OUTPUT_DIR",
        help="add a section comparing this run with the results in OTHER_OUTPUT_DIR (an "
        "earlier run, e.g. another library version or sampler setting): the change of each "
        "headline metric per fitter over the seeds both fitted, with its SE (default: none)")
    add("--jobs", type=int, default=None,
        help="fits in parallel (default: from cores and memory: cores // chains, at most "
        f"one per {MEMORY_PER_JOB_GIB:g} GiB)")
    add("--overlap", action=argparse.BooleanOptionalAction, default=True,
        help="with --executor local: run one fit more than --jobs, whose loading and "
        "building (one core) overlap the others' sampling, never holding more than --jobs x "
        "cores per fit; each fit's wait for its sampling cores is recorded apart from its "
        "time")
    add("--timeout", type=float, default=3600.0, help="seconds per fit before it is killed")
    add("--executor", default="local", metavar="NAME",
        help="where fits run: local (child processes on this machine, --jobs at a time) or "
        "ray (one Ray task per fit on a cluster; needs pip install '.[ray]')")
    add("--ray-address", default=None, metavar="ADDRESS",
        help="with --executor ray: the cluster to join, e.g. 10.0.0.5:6379 or auto (default: "
        "start a local Ray instance)")
    add("--ray-storage", default=None, metavar="MODE",
        help="with --executor ray: shared (each node writes its run folders into "
        "--output-dir, which every node must see) or ship (datasets travel with the tasks "
        "and run folders come back to this machine; nodes need no common storage) "
        "(default: shared)")
    add("--dataset-file", type=Path, default=None,
        help="your own data file (CSV/Parquet: date, geo, y, x{i}_{name}, c{k}) "
        "(default: none)")
    add("--truth-file", type=Path, default=None,
        help="its truth file (CSV/Parquet: date, geo, contribution_x{i}_{name}); "
        "required with --dataset-file (default: none)")
    add("--dataset-name", default=None, metavar="NAME",
        help="name (and results folder) of the --dataset-file dataset: letters, digits, "
        "'_', '.', '-' (default: the file's stem, prefixed user_ if it is a preset's name)")
    add("--list", action="store_true", help="list datasets and fitters, then exit")
    add("--verbose", action="store_true", help="log library messages to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    previous = _install_stop_handlers() if _in_main_thread() else {}
    try:
        if args.list:
            print(describe_available())
            return EXIT_OK
        try:
            request = request_from_args(args, default_jobs(args.chains))
            plan = _plan(request)
        except MMMBenchmarkError as error:
            print(f"{parser.prog}: error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            outcome = _run(plan)
        except (MMMBenchmarkError, OSError) as error:
            logging.getLogger(__name__).debug("the run failed", exc_info=True)
            print(f"{parser.prog}: error: the run failed: {type(error).__name__}: {error}",
                  file=sys.stderr)
            return EXIT_FIT_FAILED
    except RunInterrupted as stop:
        print(f"{parser.prog}: interrupted by {stop}: running fits were killed; completed fits "
              f"are kept in {args.output_dir} and reused when the same command runs again",
              file=sys.stderr)
        return stop.exit_code
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return _print_outcome(outcome)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _plan(request):
    """The plan of ``request`` (writes the dataset folders; raises MMMBenchmarkError)."""
    from mmm_param_recovery.benchmarking.run.plan import build_plan  # heavy: after validation

    return build_plan(request)


def _run(plan):
    """Run ``plan`` with a live progress display on stderr."""
    from mmm_param_recovery.benchmarking.run.runner import run

    if plan.plots_only:
        return run(plan)
    with ProgressDisplay([fit.label for fit in plan.fits], jobs=plan.jobs) as progress:
        return run(plan, on_event=progress.handle)


def _print_outcome(outcome) -> int:
    """Print one line per fit, the headline table and the report path; return the exit
    code from the fits' statuses."""
    failed = False
    for record in outcome.records:
        p = record.planned
        seconds = (record.timings or {}).get("total_seconds")
        timing = f" {seconds:.1f} s" if seconds is not None else ""
        note = f": {record.reason}" if record.reason else ""
        reused = " (reused)" if record.reused else ""
        print(f"{record.status:<8} {p.dataset} seed {p.seed} {p.fitter}{timing}{reused}{note}")
        failed |= record.status in ("failed", "timeout", "missing")
    print("\nheadline:")
    print(outcome.headline.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nreport: {outcome.report}")
    return EXIT_FIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
