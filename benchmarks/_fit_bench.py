"""Shared pieces of the fit benchmarks: the dataset, the common flags, a fit's diagnostics."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmm_param_recovery.benchmarking.metrics.diagnostics import compute_diagnostics
from mmm_param_recovery.benchmarking.metrics.rows import stat_label
from mmm_param_recovery.benchmarking.run.isolation import FitResult
from mmm_param_recovery.benchmarking.run.specs import DatasetRef, dataset_ref
from mmm_param_recovery.benchmarking.store.runs import load_run
from mmm_param_recovery.data_generator import generate_mmm_dataset, get_preset_config, save_dataset

DATASET = "small_business"
DATA_SEED = 1


def sampling_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with the flags every fit benchmark takes (chains, tune, draws, output)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--output-dir", type=Path, default=None)
    return parser


def benchmark_dataset(output_dir: Path) -> DatasetRef:
    """Write small_business (seed 1) under ``output_dir`` and return its reference."""
    folder = output_dir / DATASET / f"data_seed{DATA_SEED}"
    save_dataset(generate_mmm_dataset(get_preset_config(DATASET, seed=DATA_SEED)), folder)
    return dataset_ref(DATASET, folder)


def diagnostic_values(result: FitResult) -> dict[str, float]:
    """``compute_diagnostics`` of an ok fit's stored posterior, as {stat_label: value}."""
    idata = load_run(result.run_dir, result.run_key).posterior()
    rows = compute_diagnostics(idata, result.sampling_seconds)
    return {stat_label(r["quantity"], r["stat"], r["level"]): r["value"] for r in rows}
