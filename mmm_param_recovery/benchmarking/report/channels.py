"""Per-channel ROAS and marginal ROAS recovery: truth, oracle floor and every fit.

``channel_recovery_table`` (``summary/channel_recovery.csv``) is tidy: one row per fit and
channel. ``channel_recovery_display`` pivots one dataset of it for the report: one row
per (seed, channel), one column per (fitter, priors), cells as text.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.report.tables import channel_columns, channel_rows

STATS = {("posterior_mean", None): "posterior_mean", ("hdi_low", 0.94): "hdi94_low",
         ("hdi_high", 0.94): "hdi94_high", ("in_hdi", 0.94): "in_hdi94",
         ("true", None): "true_roas"}
MARGINAL_STATS = {("posterior_mean", None): "marginal_posterior_mean",
                  ("hdi_low", 0.94): "marginal_hdi94_low",
                  ("hdi_high", 0.94): "marginal_hdi94_high",
                  ("in_hdi", 0.94): "marginal_in_hdi94", ("true", None): "true_marginal_roas"}
CURVE_STATS = {("integrated_rel_error", None): "curve_rel_error",
               ("band_coverage", 0.94): "curve_band_coverage94"}
COLUMNS = ("dataset", "seed", "channel", "fitter", "priors", "true_roas", "oracle_roas",
           "oracle_roas_se", "identified", "posterior_mean", "hdi94_low", "hdi94_high",
           "in_hdi94", "prior_excludes_truth", *MARGINAL_STATS.values(), *CURVE_STATS.values())
FLAGS = ("identified", "prior_excludes_truth")


def channel_recovery_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per ok fit and channel: true ROAS, the oracle's estimate and SE, the
    ``identified`` flag, the posterior mean and 94 % HDI of ROAS, whether the HDI holds
    the truth and whether the fit's prior excludes it; the same for marginal ROAS at the
    mean spend; the response curve's integrated relative error and 94 % band coverage
    over the observed spend (ROAS in y units per spend unit)."""
    recovery = tables.get("recovery_metrics")
    if recovery is None or recovery.empty or "stat" not in recovery:
        return pd.DataFrame(columns=list(COLUMNS))
    rows = channel_rows(recovery).reindex(columns=list(dict.fromkeys(
        [*recovery.columns, *FLAGS])))
    keys = ["run_key", "channel"]
    columns = ["dataset", "seed", "fitter", "priors", *FLAGS]  # in order of appearance
    identity = rows.groupby(keys, as_index=False, sort=False)[columns].first()
    wide = identity.merge(channel_columns(rows, STATS), on=keys, how="left")
    for quantity, names in (("marginal_roas", MARGINAL_STATS), ("response_curve", CURVE_STATS)):
        extra = channel_rows(recovery, quantity)
        if not extra.empty:
            wide = wide.merge(channel_columns(extra, names), on=keys, how="left")
    oracle = tables.get("oracle")
    if oracle is not None and "roas_oracle" in oracle:
        floor = oracle.dropna(subset=["channel"])[["dataset", "seed", "channel", "roas_oracle",
                                                   "roas_se"]]
        wide = wide.merge(floor.rename(columns={"roas_oracle": "oracle_roas",
                                                "roas_se": "oracle_roas_se"}),
                          on=["dataset", "seed", "channel"], how="left")
    return wide.reindex(columns=list(COLUMNS))


def _cell(row: pd.Series) -> str:
    """ROAS ``mean [low, high]``, with ``✗`` when the HDI misses the truth and ``prior!``
    when the prior excludes it."""
    text = _interval(row["posterior_mean"], row["hdi94_low"], row["hdi94_high"],
                     row["in_hdi94"])
    return text + (" prior!" if row["prior_excludes_truth"] == 1 else "")


def _marginal_cell(row: pd.Series) -> str:
    """Marginal ROAS ``mean [low, high]`` (``✗`` as for ROAS), then the response curve's
    integrated relative error over the observed spend."""
    text = _interval(row["marginal_posterior_mean"], row["marginal_hdi94_low"],
                     row["marginal_hdi94_high"], row["marginal_in_hdi94"])
    if pd.notna(row["curve_rel_error"]):
        text += f"; curve err. {row['curve_rel_error']:.2f}"
    return text


def _interval(mean: float, low: float, high: float, inside: float) -> str:
    if pd.isna(mean):
        return "—"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]" + (" ✗" if inside == 0 else "")


def _flag(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return "yes" if bool(value) else "no"


def channel_recovery_display(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The rows of ``dataset`` pivoted for reading: seed, channel, truth, oracle ± SE,
    identified, then one text column per ``fitter [priors]`` (ROAS and its HDI)."""
    rows = _dataset_rows(table, dataset)
    if rows.empty:
        return pd.DataFrame()
    first = rows.groupby(["seed", "channel"], sort=False).first()
    oracle = [("—" if pd.isna(m) else f"{m:.3g} ± {s:.2g}")
              for m, s in zip(first["oracle_roas"], first["oracle_roas_se"], strict=True)]
    head = pd.DataFrame({"true ROAS": first["true_roas"], "oracle ± SE": oracle,
                         "identified": [_flag(v) for v in first["identified"]]},
                        index=first.index)
    return head.join(_fit_cells(rows, _cell)).reset_index()


def marginal_recovery_display(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Like ``channel_recovery_display`` for marginal ROAS at the mean spend, with each
    fit's response-curve error; empty when no fit of ``dataset`` has curves."""
    rows = _dataset_rows(table, dataset)
    if rows.empty or rows["marginal_posterior_mean"].isna().all():
        return pd.DataFrame()
    first = rows.groupby(["seed", "channel"], sort=False).first()
    head = pd.DataFrame({"true marginal ROAS": first["true_marginal_roas"],
                         "true ROAS": first["true_roas"]}, index=first.index)
    return head.join(_fit_cells(rows, _marginal_cell)).reset_index()


def _dataset_rows(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    rows = table[table["dataset"] == dataset]
    return rows.assign(fit=rows["fitter"].astype(str) + " [" + rows["priors"].astype(str) + "]")


def _fit_cells(rows: pd.DataFrame, cell) -> pd.DataFrame:
    """One text column per fit label, indexed by (seed, channel)."""
    return rows.assign(cell=rows.apply(cell, axis=1)).pivot_table(
        index=["seed", "channel"], columns="fit", values="cell", aggfunc="first", sort=False)
