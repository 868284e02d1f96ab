"""Per-channel ROAS recovery: truth, oracle floor and every fit, side by side.

``channel_recovery_table`` (``summary/channel_recovery.csv``) is tidy: one row per fit and
channel. ``channel_recovery_display`` pivots one dataset of it for the report: one row
per (seed, channel), one column per (fitter, priors), cells as text.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.report.tables import channel_columns, channel_roas_rows

STATS = {("posterior_mean", None): "posterior_mean", ("hdi_low", 0.94): "hdi94_low",
         ("hdi_high", 0.94): "hdi94_high", ("in_hdi", 0.94): "in_hdi94",
         ("true", None): "true_roas"}
COLUMNS = ("dataset", "seed", "channel", "fitter", "priors", "true_roas", "oracle_roas",
           "oracle_roas_se", "identified", "posterior_mean", "hdi94_low", "hdi94_high",
           "in_hdi94", "prior_excludes_truth")
FLAGS = ("identified", "prior_excludes_truth")


def channel_recovery_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per ok fit and channel: true ROAS, the oracle's estimate and SE, the
    ``identified`` flag, the posterior mean and 94 % HDI of ROAS, whether the HDI holds
    the truth and whether the fit's prior excludes it (ROAS in y units per spend unit)."""
    recovery = tables.get("recovery_metrics")
    if recovery is None or recovery.empty or "stat" not in recovery:
        return pd.DataFrame(columns=list(COLUMNS))
    rows = channel_roas_rows(recovery).reindex(columns=list(dict.fromkeys(
        [*recovery.columns, *FLAGS])))
    keys = ["run_key", "channel"]
    columns = ["dataset", "seed", "fitter", "priors", *FLAGS]  # in order of appearance
    identity = rows.groupby(keys, as_index=False, sort=False)[columns].first()
    wide = identity.merge(channel_columns(rows, STATS), on=keys, how="left")
    oracle = tables.get("oracle")
    if oracle is not None and "roas_oracle" in oracle:
        floor = oracle.dropna(subset=["channel"])[["dataset", "seed", "channel", "roas_oracle",
                                                   "roas_se"]]
        wide = wide.merge(floor.rename(columns={"roas_oracle": "oracle_roas",
                                                "roas_se": "oracle_roas_se"}),
                          on=["dataset", "seed", "channel"], how="left")
    return wide.reindex(columns=list(COLUMNS))


def _cell(row: pd.Series) -> str:
    """``mean [low, high]``, with ``✗`` when the HDI misses the truth and ``prior!`` when
    the prior excludes it."""
    if pd.isna(row["posterior_mean"]):
        return "—"
    text = f"{row['posterior_mean']:.3g} [{row['hdi94_low']:.3g}, {row['hdi94_high']:.3g}]"
    if row["in_hdi94"] == 0:
        text += " ✗"
    if row["prior_excludes_truth"] == 1:
        text += " prior!"
    return text


def _flag(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return "yes" if bool(value) else "no"


def channel_recovery_display(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The rows of ``dataset`` pivoted for reading: seed, channel, truth, oracle ± SE,
    identified, then one text column per ``fitter [priors]``."""
    rows = table[table["dataset"] == dataset]
    if rows.empty:
        return pd.DataFrame()
    label = rows["fitter"].astype(str) + " [" + rows["priors"].astype(str) + "]"
    rows = rows.assign(fit=label, cell=rows.apply(_cell, axis=1))
    cells = rows.pivot_table(index=["seed", "channel"], columns="fit", values="cell",
                             aggfunc="first", sort=False)
    first = rows.groupby(["seed", "channel"], sort=False).first()
    oracle = [("—" if pd.isna(m) else f"{m:.3g} ± {s:.2g}")
              for m, s in zip(first["oracle_roas"], first["oracle_roas_se"], strict=True)]
    head = pd.DataFrame({"true ROAS": first["true_roas"], "oracle ± SE": oracle,
                         "identified": [_flag(v) for v in first["identified"]]},
                        index=first.index)
    return head.join(cells).reset_index()
