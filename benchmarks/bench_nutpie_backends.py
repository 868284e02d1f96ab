"""Compare nutpie's numba and jax backends on small_business, each fit in a fresh process.

Usage::

    .venv/bin/python benchmarks/bench_nutpie_backends.py [--chains 2 --tune 500
        --draws 500] [--repeats 1] [--output-dir DIR]

Fits ``small_business`` (seed 1) with ``pymc:nutpie`` through ``isolation.run_fit`` once
per backend and repeat (alternating backends, never reusing a stored fit) and prints one
row per fit: build (model construction + nutpie compilation) and sampling wall seconds,
bulk ESS min over the free parameters and over the canonical quantities, their ESS per
sampling second, and divergences; then the per-backend medians.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from _fit_bench import DATA_SEED, benchmark_dataset, diagnostic_values, sampling_arguments

from mmm_param_recovery.benchmarking.run.isolation import FitResult, run_fit
from mmm_param_recovery.benchmarking.run.specs import make_fit_spec

BACKENDS = ("numba", "jax")
METRICS = {
    "free_ess_bulk_min": "ess_min_free",
    "canonical_ess_bulk_min": "ess_min_canonical",
    "free_ess_bulk_min_per_sampling_second": "ess_min_free_per_s",
    "sampler_n_divergences": "divergences",
}


def _arguments() -> argparse.Namespace:
    parser = sampling_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    return parser.parse_args()


def _row(backend: str, result: FitResult) -> dict[str, object]:
    row: dict[str, object] = {"backend": backend, "status": result.status,
                              "build_s": result.build_seconds,
                              "sampling_s": result.sampling_seconds,
                              "total_s": result.total_seconds}
    if result.status == "ok":
        values = diagnostic_values(result)
        row.update({short: values[metric] for metric, short in METRICS.items()})
    else:
        row["reason"] = result.reason
    return row


def main() -> None:
    args = _arguments()
    output_dir = args.output_dir or Path(tempfile.mkdtemp(prefix="bench_nutpie_"))
    dataset = benchmark_dataset(output_dir)
    rows = []
    for _ in range(args.repeats):
        for backend in BACKENDS:
            spec = make_fit_spec("pymc:nutpie", dataset, chains=args.chains, tune=args.tune,
                                 draws=args.draws, seed=DATA_SEED,
                                 options={"nutpie_backend": backend})
            rows.append(_row(backend, run_fit(spec, output_dir, force=True)))
            print(rows[-1], flush=True)  # noqa: T201
    table = pd.DataFrame(rows)
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))  # noqa: T201
    numeric = table.drop(columns=["status", "reason"], errors="ignore")
    print(numeric.groupby("backend").median().to_string(float_format=lambda v: f"{v:.3g}"))  # noqa: T201


if __name__ == "__main__":
    main()
