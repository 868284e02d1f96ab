"""Every metric of one stored fit, as one frame: the run boundary of the metric families.

``metrics.parquet`` in a run folder holds the tidy rows of the families ``diagnostics``,
``fit``, ``recovery`` and, when the fit ran a prior-predictive check, ``prior``, of that
run's posterior against its dataset's truth; this is where ``family`` and ``run_key`` are
stamped on the rows. Metrics are recomputed from the stored posterior on every run
(seconds, against minutes for a fit), so a change of metric code can never leave a stale
number beside a reused fit.
"""

from __future__ import annotations

import arviz as az
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.diagnostics import compute_diagnostics
from mmm_param_recovery.benchmarking.metrics.predictive import compute_fit_metrics
from mmm_param_recovery.benchmarking.metrics.prior_check import prior_check_rows, prior_roas_draws
from mmm_param_recovery.benchmarking.metrics.recovery import compute_recovery_metrics
from mmm_param_recovery.benchmarking.metrics.rows import IDENTITY

COLUMNS = ("run_key", "family", *IDENTITY, "value", "note")
"""Columns of a run's metric frame (docs/metrics.md)."""


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
        "diagnostics": compute_diagnostics(idata, sampling_seconds, total_seconds),
        "fit": compute_fit_metrics(idata, truth["y"]),
        "recovery": compute_recovery_metrics(idata, truth),
    }
    prior = prior_roas_draws(idata)
    if prior is not None:
        families["prior"] = prior_check_rows(prior, truth["roas"])
    frames = [pd.DataFrame(rows).assign(family=family) for family, rows in families.items()]
    frame = pd.concat(frames, ignore_index=True).assign(run_key=run_key)
    frame = frame.reindex(columns=list(COLUMNS))
    frame["note"] = frame["note"].fillna("").astype(str)
    frame["level"] = frame["level"].astype(float)
    for column in ("quantity", "stat", "channel", "geo"):
        frame[column] = frame[column].astype("string")
    return frame
