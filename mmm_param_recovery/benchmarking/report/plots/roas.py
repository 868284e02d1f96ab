"""ROAS plots across fitters: the forest against the truth, prior vs posterior, and the
calibration across seeds (interval coverage, rank histograms)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mmm_param_recovery.benchmarking.metrics.rows import ALL
from mmm_param_recovery.benchmarking.report.plots._common import (
    _GAP_COLOR,
    _MARKERS,
    COVERAGE_COLUMNS,
    ROAS_COLUMNS,
    ROAS_STATS,
    _dodge,
    _figure,
    _require_columns,
    fitter_color,
)
from mmm_param_recovery.errors import DatasetFormatError


def roas_interval_table(recovery_df: pd.DataFrame) -> pd.DataFrame:
    """ROAS intervals per (fitter, channel), picked from stored recovery rows (no recomputing).

    ``recovery_df``: recovery_metrics rows of ONE (dataset, seed) with columns ``fitter,
    quantity, stat, level, channel, geo, value``; it uses the per-channel rows
    (``geo == "all"``) of quantity ``roas`` and the stats of ``ROAS_STATS`` written by
    ``recovery.compute_recovery_metrics`` (HDIs: the ``arviz.hdi`` estimator). Returns
    columns ``ROAS_COLUMNS``; a missing statistic is NaN.
    """
    _require_columns(recovery_df, ("fitter", "quantity", "stat", "level", "channel", "geo",
                                   "value"), "recovery_df")
    runs = recovery_df[[c for c in ("dataset", "seed") if c in recovery_df]].drop_duplicates()
    if len(runs) > 1:
        raise DatasetFormatError(
            f"recovery_df: rows of {len(runs)} (dataset, seed) runs; allowed: one (filter first)"
        )
    column = [ROAS_STATS.get((stat, None if pd.isna(level) else float(level)))
              for stat, level in zip(recovery_df["stat"], recovery_df["level"], strict=True)]
    rows = recovery_df.assign(column=column)
    if "priors" in rows and rows["priors"].nunique() > 1:  # one entry per (fitter, profile)
        rows = rows.assign(fitter=rows["fitter"].astype(str) + " [" + rows["priors"] + "]")
    rows = rows[(rows["quantity"] == "roas") & rows["column"].notna()
                & (rows["geo"] == ALL) & (rows["channel"] != ALL)]
    if rows.duplicated(["fitter", "channel", "column"]).any():
        raise DatasetFormatError("recovery_df: several rows for one (fitter, channel, statistic)")
    table = rows.pivot(index=["fitter", "channel"], columns="column", values="value")
    order = pd.MultiIndex.from_frame(rows[["fitter", "channel"]].drop_duplicates())
    table = table.reindex(index=order, columns=list(ROAS_STATS.values()))
    return table.reset_index()[list(ROAS_COLUMNS)]



def _true_roas(df: pd.DataFrame, channels: list[str], column: str = "truth") -> np.ndarray:
    """The true ROAS per channel (one value per channel across the rows, else raise)."""
    truths = df.drop_duplicates(["channel", column]).set_index("channel")[column]
    if truths.index.duplicated().any():
        bad = sorted(set(truths.index[truths.index.duplicated()]))
        raise DatasetFormatError(f"{column}: differs between rows of {bad}")
    return truths.reindex(channels).to_numpy(float)


def plot_roas_forest(roas_intervals_df: pd.DataFrame) -> Figure:
    """Forest of ROAS per channel and fitter: mean, 50% and 94% intervals, true value.

    ``roas_intervals_df`` has the columns of ``roas_interval_table`` (``fitter, channel,
    mean, lo50, hi50, lo94, hi94, truth``), one row per (fitter, channel).
    """
    df = roas_intervals_df
    _require_columns(df, ROAS_COLUMNS, "roas_intervals_df")
    if df.duplicated(["fitter", "channel"]).any():
        raise DatasetFormatError("roas_intervals_df: several rows for one (fitter, channel)")
    channels, fitters = list(dict.fromkeys(df["channel"])), list(dict.fromkeys(df["fitter"]))
    position = {c: i for i, c in enumerate(channels)}
    fig = _figure(9, 1.0 + 0.28 * len(channels) * len(fitters) + 0.3 * len(channels))
    ax = fig.subplots()
    for fitter, offset in zip(fitters, _dodge(len(fitters), 0.6), strict=True):
        rows = df[df["fitter"] == fitter]
        y = rows["channel"].map(position).to_numpy(float) + offset
        color = fitter_color(fitter)
        ax.hlines(y, rows["lo94"], rows["hi94"], color=color, lw=1.2)
        ax.hlines(y, rows["lo50"], rows["hi50"], color=color, lw=4)
        ax.plot(rows["mean"], y, "o", color=color, mec="white", ms=6, label=fitter)
    ax.vlines(_true_roas(df, channels), np.arange(len(channels)) - 0.42,
              np.arange(len(channels)) + 0.42, color="black", lw=2, label="true ROAS")
    ax.set_yticks(range(len(channels)), channels)
    ax.set_ylim(len(channels) - 0.5, -0.5)
    ax.set_xlabel("ROAS (y per currency unit): dot = mean, thick = 50% HDI, thin = 94% HDI")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("ROAS recovery per channel and fitter")
    return fig


PRIOR_CHECK_COLUMNS = ("fitter", "priors", "channel", "prior_q05", "prior_q95", "true_roas",
                       "prior_excludes_truth", "posterior_mean", "posterior_hdi94_low",
                       "posterior_hdi94_high")


def plot_prior_checks(prior_checks_df: pd.DataFrame) -> Figure:
    """Per channel and (fitter, profile): the prior's 90 % ROAS interval (grey), the
    posterior mean and 94 % HDI (colour) and the true ROAS (black); a fit whose prior
    excludes the truth is drawn with a red prior bar and named so in the legend.

    ``prior_checks_df``: rows of ``summary/prior_checks.csv`` of ONE (dataset, seed), one
    per (fitter, priors, channel); rows without a prior check are left out (nothing to draw).
    """
    df = prior_checks_df
    _require_columns(df, PRIOR_CHECK_COLUMNS, "prior_checks_df")
    df = df.dropna(subset=["prior_q05"])
    if df.empty:
        raise DatasetFormatError("prior_checks_df: no fit with a prior check")
    labels = df["fitter"].astype(str) + " [" + df["priors"].astype(str) + "]"
    df = df.assign(label=labels)
    if df.duplicated(["label", "channel"]).any():
        raise DatasetFormatError("prior_checks_df: several rows for one (fitter, priors, channel)")
    channels, fits = list(dict.fromkeys(df["channel"])), list(dict.fromkeys(df["label"]))
    position = {c: i for i, c in enumerate(channels)}
    fig = _figure(9.5, 1.2 + 0.3 * len(channels) * len(fits) + 0.3 * len(channels))
    ax = fig.subplots()
    for label, offset in zip(fits, _dodge(len(fits), 0.7), strict=True):
        rows = df[df["label"] == label]
        y = rows["channel"].map(position).to_numpy(float) + offset
        excluded = rows["prior_excludes_truth"].fillna(0).to_numpy() > 0
        ax.hlines(y, rows["prior_q05"], rows["prior_q95"], lw=5, alpha=0.35,
                  color=np.where(excluded, _GAP_COLOR, "#888888"))
        color = fitter_color(label.split(" [")[0])
        ax.hlines(y, rows["posterior_hdi94_low"], rows["posterior_hdi94_high"], color=color, lw=1.4)
        flag = " (prior excludes truth)" if excluded.any() else ""
        ax.plot(rows["posterior_mean"], y, "o", color=color, mec="white", ms=6,
                label=label + flag)
    ax.vlines(_true_roas(df, channels, "true_roas"), np.arange(len(channels)) - 0.45,
              np.arange(len(channels)) + 0.45, color="black", lw=2, label="true ROAS")
    ax.set_xscale("log")
    ax.set_yticks(range(len(channels)), channels)
    ax.set_ylim(len(channels) - 0.5, -0.5)
    ax.set_xlabel("ROAS, log scale: grey = prior 90 %, red = prior excludes the truth, "
                  "dot and line = posterior mean and 94 % HDI")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Prior vs posterior ROAS per channel: did the data move the estimate?")
    return fig


def plot_coverage_calibration(coverage_df: pd.DataFrame) -> Figure:
    """Nominal vs empirical credible-interval coverage per fitter, with the diagonal.

    ``coverage_df``: replicate_summary coverage rows with ``fitter, nominal, empirical,
    binomial_se`` (fractions in [0, 1]); every row is one point, error bars are +-2
    binomial SE. With a ``metric`` column, each metric gets its own marker; with a
    ``priors`` column of several profiles, each profile gets its own panel.
    """
    _require_columns(coverage_df, COVERAGE_COLUMNS, "coverage_df")
    profiles = (list(dict.fromkeys(coverage_df["priors"])) if "priors" in coverage_df
                else [None])
    fig = _figure(4.6 * len(profiles) + 2.6, 5.2)
    axes = np.atleast_1d(fig.subplots(1, len(profiles), sharey=True))
    groups = ["fitter", "metric"] if "metric" in coverage_df.columns else ["fitter"]
    fitters = list(dict.fromkeys(coverage_df["fitter"]))
    offsets = dict(zip(fitters, _dodge(len(fitters), 0.03), strict=True))
    metrics = list(dict.fromkeys(coverage_df[groups[-1]]))
    for ax, profile in zip(axes, profiles, strict=True):
        rows_of = coverage_df if profile is None else coverage_df[coverage_df["priors"] == profile]
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
        for group, rows in rows_of.groupby(groups, sort=False):
            marker = _MARKERS[metrics.index(group[-1]) % len(_MARKERS)]
            ax.errorbar(rows["nominal"] + offsets[group[0]], rows["empirical"],
                        yerr=2 * rows["binomial_se"], fmt=marker, color=fitter_color(group[0]),
                        capsize=3, ms=5, label=" · ".join(map(str, group)))
        ax.set(xlim=(0, 1.05), ylim=(0, 1.08), xlabel="nominal coverage",
               title="" if profile is None else f"priors: {profile}")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("empirical coverage of the truth (±2 binomial SE)")
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle("Credible-interval calibration across replicate seeds")
    return fig


# --------------------------------------------------------------- runtime and memory




RANK_BINS = 5


def plot_rank_histograms(recovery_df: pd.DataFrame) -> Figure:
    """Per (fitter, priors): the histogram of the true ROAS's normalised rank among the
    posterior draws, pooled over channels and seeds, against the uniform count (dashed,
    with its ±2 SD band). Piled at the ends: intervals too narrow; in the middle: too wide;
    on one side: biased.

    ``recovery_df``: recovery_metrics rows; it uses quantity ``roas``, stat
    ``rank_normalized`` (in [0, 1]), per channel (``channel != all``, ``geo == all``).
    """
    _require_columns(recovery_df, ("fitter", "priors", "quantity", "stat", "channel", "geo",
                                   "value"), "recovery_df")
    ranks = recovery_df[(recovery_df["quantity"] == "roas")
                        & (recovery_df["stat"] == "rank_normalized")
                        & (recovery_df["channel"] != ALL) & (recovery_df["geo"] == ALL)]
    ranks = ranks.dropna(subset=["value"])
    if ranks.empty:
        raise DatasetFormatError("recovery_df: no ROAS rank rows (rank_normalized) to draw")
    groups = list(ranks.groupby(["fitter", "priors"], sort=False))
    fig = _figure(3.2 * len(groups) + 0.6, 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharey=True))
    edges = np.linspace(0.0, 1.0, RANK_BINS + 1)
    for ax, ((fitter, priors), rows) in zip(axes, groups, strict=True):
        values = rows["value"].clip(0.0, 1.0).to_numpy(float)
        ax.hist(values, bins=edges, color=fitter_color(fitter), alpha=0.75, edgecolor="white")
        expected = len(values) / RANK_BINS
        spread = 2.0 * np.sqrt(len(values) * (1 / RANK_BINS) * (1 - 1 / RANK_BINS))
        ax.axhspan(max(expected - spread, 0.0), expected + spread, color="grey", alpha=0.15)
        ax.axhline(expected, color="grey", ls="--", lw=1)
        ax.set(title=f"{fitter} [{priors}] (n={len(values)})", xlabel="rank of the truth",
               xlim=(0, 1))
    axes[0].set_ylabel("channels x seeds")
    fig.suptitle("ROAS rank histograms across seeds (uniform = calibrated)")
    return fig
