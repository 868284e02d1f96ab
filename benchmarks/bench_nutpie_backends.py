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

from mmm_param_recovery.benchmarking.diagnostics import compute_diagnostics
from mmm_param_recovery.benchmarking.isolation import FitResult, run_fit
from mmm_param_recovery.benchmarking.specs import dataset_ref, make_fit_spec
from mmm_param_recovery.benchmarking.storage import load_run
from mmm_param_recovery.data_generator import generate_mmm_dataset, get_preset_config, save_dataset

DATASET = "small_business"
DATA_SEED = 1
BACKENDS = ("numba", "jax")
METRICS = {
    "ess_bulk_min_free": "ess_min_free",
    "ess_bulk_min_canonical": "ess_min_canonical",
    "ess_bulk_min_per_sampling_s_free": "ess_min_free_per_s",
    "n_divergences": "divergences",
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output-dir", type=Path, default=None)
    return parser.parse_args()


def _row(backend: str, result: FitResult) -> dict[str, object]:
    row: dict[str, object] = {"backend": backend, "status": result.status,
                              "build_s": result.build_seconds,
                              "sampling_s": result.sampling_seconds,
                              "total_s": result.total_seconds}
    if result.status == "ok":
        idata = load_run(result.run_dir, result.run_key).posterior()
        values = {r["metric"]: r["value"]
                  for r in compute_diagnostics(idata, result.run_key, result.sampling_seconds)}
        row.update({short: values[metric] for metric, short in METRICS.items()})
    else:
        row["reason"] = result.reason
    return row


def main() -> None:
    args = _arguments()
    output_dir = args.output_dir or Path(tempfile.mkdtemp(prefix="bench_nutpie_"))
    folder = output_dir / DATASET / f"data_seed{DATA_SEED}"
    save_dataset(generate_mmm_dataset(get_preset_config(DATASET, seed=DATA_SEED)), folder)
    dataset = dataset_ref(DATASET, folder)
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
