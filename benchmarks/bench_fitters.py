"""Benchmark every fitter once on small_business, each fit in its own fresh process.

Usage::

    .venv/bin/python benchmarks/bench_fitters.py [--fitters pymc:nutpie meridian]
        [--chains 2 --tune 500 --draws 500] [--output-dir DIR] [--timeout 1800]
        [--cores N]

Generates ``small_business`` with seed 1, fits it with each fitter through
``isolation.run_fit`` (never reusing a stored fit) and prints one row per fitter:
build / sampling / post-processing / total wall seconds, peak RSS of the fit's process
tree (GiB), bulk ESS min and median over the canonical quantities (per-channel
contribution totals, ROAS, total mu), ESS min per sampling second, divergences and the
largest R-hat (canonical quantities and free parameters). Results stay in
``--output-dir`` (a temporary folder by default).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from _fit_bench import (
    DATA_SEED,
    DATASET,
    benchmark_dataset,
    diagnostic_values,
    sampling_arguments,
)

from mmm_param_recovery.benchmarking.fitters.registry import list_fitters
from mmm_param_recovery.benchmarking.run.isolation import FitResult, run_fit
from mmm_param_recovery.benchmarking.run.specs import make_fit_spec

COLUMNS = {
    "canonical_ess_bulk_min": "ess_min",
    "canonical_ess_bulk_q50": "ess_median",
    "canonical_ess_bulk_min_per_sampling_second": "ess_min_per_s",
    "sampler_n_divergences": "divergences",
    "canonical_rhat_max": "rhat_max",
    "free_rhat_max": "rhat_max_free",
}


def _arguments() -> argparse.Namespace:
    parser = sampling_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--fitters", nargs="+", default=list(list_fitters()),
                        choices=list_fitters())
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per fit")
    parser.add_argument("--cores", type=int, default=None,
                        help="cores per fit (default: min(chains, CPUs)); e.g. Meridian's "
                             "XLA threads at 1 and 2")
    return parser.parse_args()


def _progress(fitter: str) -> Callable[[str], None]:
    """An ``on_phase`` callback printing the phase and the seconds since the fit began."""
    start = time.perf_counter()

    def show(phase: str) -> None:
        print(f"  {fitter}: {phase} (+{time.perf_counter() - start:.0f} s)", flush=True)

    return show


def _row(result: FitResult) -> dict[str, object]:
    """One table row: timings and memory from the fit, convergence from its posterior."""
    row: dict[str, object] = {
        "fitter": result.fitter,
        "status": result.status,
        "build_s": result.build_seconds,
        "sampling_s": result.sampling_seconds,
        "postprocess_s": result.postprocess_seconds,
        "total_s": result.total_seconds,
        "peak_rss_gib": result.peak_rss_bytes / 2**30,
    }
    row.update(dict.fromkeys(COLUMNS.values(), math.nan))
    if result.status == "ok":
        values = diagnostic_values(result)
        row.update({short: values[metric] for metric, short in COLUMNS.items()})
    return row


def main() -> None:
    args = _arguments()
    output_dir = args.output_dir or Path(tempfile.mkdtemp(prefix="bench_fitters_"))
    dataset = benchmark_dataset(output_dir)
    cores = args.cores or min(args.chains, os.cpu_count() or 1)
    print(f"{DATASET} (seed {DATA_SEED}): {dataset.n_dates} weeks x {dataset.n_geos} geo(s) x "
          f"{dataset.n_channels} channels; {args.chains} chains x {args.tune} tune x "
          f"{args.draws} draws on {cores} cores; results in {output_dir}", flush=True)
    rows, failures = [], []
    for fitter in args.fitters:
        spec = make_fit_spec(fitter, dataset, chains=args.chains, tune=args.tune,
                             draws=args.draws, seed=DATA_SEED, cores=cores,
                             timeout_seconds=args.timeout)
        result = run_fit(spec, output_dir, force=True, on_phase=_progress(fitter))
        rows.append(_row(result))
        if result.status != "ok":
            failures.append(f"{fitter}: {result.status}: {result.reason}")
    table = pd.DataFrame(rows).set_index("fitter")
    print()
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    for failure in failures:
        print(failure)


if __name__ == "__main__":
    main()
