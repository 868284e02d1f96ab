"""Run-to-run comparison (``--compare-to OTHER_OUTPUT_DIR``): what changed, beyond noise?

Both runs' ``summary/verdict_fits.csv`` are matched on (dataset, seed, fitter, priors):
the same seed means the same generated data, so the change of a metric is a paired
difference, averaged over the common ok seeds with its standard error (sd / sqrt(n)). A
change is "beyond noise" when it exceeds ``NOISE_SE`` standard errors; with a single
common seed there is no SE and the change is reported as such.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.report.verdict import NOISE_SE, mean_and_mcse
from mmm_param_recovery.errors import DatasetFormatError

VERDICT_FITS = "verdict_fits.csv"
METRICS = {"roas_error_identified": "lower", "roas_error_all": "lower",
           "roas_in_hdi94": "nearer 0.94", "ess_per_second": "higher",
           "total_seconds": "lower", "peak_rss_gb": "lower"}
"""Metric -> which direction is better."""
KEY = ["dataset", "seed", "fitter", "priors"]
COLUMNS = ("dataset", "priors", "fitter", "metric", "better", "this_run", "other_run",
           "change", "change_se", "n_seeds", "beyond_noise")


def read_verdict_fits(output_dir: str | Path) -> pd.DataFrame:
    """``<output_dir>/summary/verdict_fits.csv``; a clear error when it is missing."""
    path = Path(output_dir) / "summary" / VERDICT_FITS
    if not path.is_file():
        raise DatasetFormatError(
            f"--compare-to: {path} does not exist; allowed: the output folder of an earlier "
            "run of this benchmark (rebuild an old one with --plots-only)")
    return pd.read_csv(path)


def compare_runs(this: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, priors, fitter, metric) present in both runs (``COLUMNS``)."""
    ok = [frame[frame["status"] == "ok"] for frame in (this, other)]
    paired = ok[0].merge(ok[1], on=KEY, suffixes=("_this", "_other"))
    rows = []
    for (dataset, priors, fitter), group in paired.groupby(["dataset", "priors", "fitter"],
                                                           sort=False):
        for metric, better in METRICS.items():
            if f"{metric}_this" not in group:
                continue
            this_values = pd.to_numeric(group[f"{metric}_this"], errors="coerce")
            other_values = pd.to_numeric(group[f"{metric}_other"], errors="coerce")
            both = this_values.notna() & other_values.notna()
            this_values, other_values = this_values[both], other_values[both]
            change, se, n = mean_and_mcse(this_values - other_values)
            if n == 0:
                continue
            beyond = "no SE (one seed)" if pd.isna(se) else (
                "yes" if abs(change) > NOISE_SE * se else "no")
            rows.append({"dataset": dataset, "priors": priors, "fitter": fitter,
                         "metric": metric, "better": better,
                         "this_run": this_values.mean(), "other_run": other_values.mean(),
                         "change": change, "change_se": se, "n_seeds": n,
                         "beyond_noise": beyond})
    return pd.DataFrame(rows, columns=list(COLUMNS))
