"""``replicate_summary.csv``: each (dataset, fitter, priors) across its replicate seeds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import pandas as pd

from mmm_param_recovery.benchmarking.metrics.replicates import (
    coverage_rates,
    rank_uniformity,
    replicate_summary,
)
from mmm_param_recovery.benchmarking.metrics.rows import IDENTITY
from mmm_param_recovery.benchmarking.run.records import RunRecord, Status

COLUMNS = ("dataset", "fitter", "priors", "kind", *IDENTITY, "mean", "mcse", "n_seeds", "nominal",
           "empirical", "binomial_se", "n", "note")


def _rows_by_seed(records: Sequence[RunRecord]) -> dict[tuple[str, str, str], dict[int, list]]:
    """Metric rows of every ok fit by (dataset, fitter, priors), then by seed."""
    grouped: dict[tuple[str, str, str], dict[int, list]] = defaultdict(dict)
    for record in records:
        if record.status == Status.OK and record.metrics is not None:
            rows = record.metrics[record.metrics["family"].isin(["fit", "recovery"])]
            rows = rows.drop(columns=["family", "note", "run_key"]).astype(object)
            rows = rows.where(rows.notna(), None).to_dict("records")
            p = record.planned
            grouped[(p.dataset, p.fitter, p.profile)][p.seed] = rows
    return grouped


def replicate_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Mean and Monte-Carlo SE of every fit/recovery metric across seeds, coverage rates
    of the 50/80/94 % intervals (empirical vs nominal, binomial SE) and SBC rank tests,
    per (dataset, fitter, priors). Fitters with no successful seed have no rows."""
    frames = []
    for (dataset, fitter, priors), by_seed in _rows_by_seed(records).items():
        parts = {
            "mean": pd.DataFrame(replicate_summary(by_seed)).rename(columns={"value": "mean"}),
            "coverage": pd.DataFrame(coverage_rates(by_seed)).rename(
                columns={"value": "empirical"}),
            "rank_test": pd.DataFrame(rank_uniformity(by_seed)).rename(
                columns={"value": "mean"}),
        }
        for kind, frame in parts.items():
            frame = frame.dropna(axis=1, how="all")  # an all-empty column must not set dtypes
            frames.append(frame.assign(dataset=dataset, fitter=fitter, priors=priors, kind=kind))
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True).reindex(columns=list(COLUMNS))
