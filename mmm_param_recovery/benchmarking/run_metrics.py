"""Every metric of one stored fit, stored beside it.

``metrics.parquet`` in a run folder holds the tidy rows of the three families
(``diagnostics``, ``fit``, ``recovery``; column ``family``) for that run's posterior
against its dataset's truth. Metrics are recomputed from the stored posterior on every
run (seconds, against minutes for a fit), so a change of metric code can never leave a
stale number beside a reused fit; the file is rewritten atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import arviz as az
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.diagnostics import compute_diagnostics
from mmm_param_recovery.benchmarking.evaluation import compute_fit_metrics
from mmm_param_recovery.benchmarking.recovery import compute_recovery_metrics

METRICS_FILE = "metrics.parquet"
COLUMNS = ("run_key", "family", "metric", "channel", "geo", "value", "note")


def compute_run_metrics(
    idata: az.InferenceData,
    truth: xr.Dataset,
    run_key: str,
    sampling_seconds: float,
    total_seconds: float,
) -> pd.DataFrame:
    """Tidy rows (COLUMNS) of diagnostics, fit (``mu``/``y_ppc`` vs observed y) and
    recovery (posterior vs ``canonical_truth``) of one canonical posterior."""
    families = {
        "diagnostics": compute_diagnostics(idata, run_key, sampling_seconds, total_seconds),
        "fit": compute_fit_metrics(idata, truth["y"], run_key),
        "recovery": compute_recovery_metrics(idata, truth, run_key),
    }
    frames = [pd.DataFrame(rows).assign(family=family) for family, rows in families.items()]
    frame = pd.concat(frames, ignore_index=True)
    if "variable" in frame.columns:
        frame["metric"] = frame["metric"].where(
            frame["variable"].isna(), frame["metric"] + "_" + frame["variable"].astype(str))
    frame = frame.reindex(columns=list(COLUMNS))
    frame["note"] = frame["note"].fillna("").astype(str)
    for column in ("channel", "geo"):
        frame[column] = frame[column].astype("string")
    return frame


def write_run_metrics(run_dir: Path, metrics: pd.DataFrame) -> Path:
    """Store ``metrics`` as ``run_dir/metrics.parquet`` atomically."""
    path = Path(run_dir) / METRICS_FILE
    staging = path.with_suffix(f".tmp-{os.getpid()}")
    metrics.to_parquet(staging, index=False)
    os.replace(staging, path)
    return path
