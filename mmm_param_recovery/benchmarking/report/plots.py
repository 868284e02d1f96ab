"""Plots of stored benchmark results: predictive fit, contributions, ROAS, speed, memory.

Every function takes already-loaded inputs — canonical posteriors (``az.InferenceData`` or
their ``posterior`` Dataset), the canonical truth (``truth.canonical_truth``), observed y as
an ``xr.DataArray`` (date, geo), or summary tables as DataFrames with the columns of
docs/architecture.md — and returns the Figure; ``report.figures.save_figure`` writes it. Figures
are bare ``matplotlib.figure.Figure`` objects on the Agg canvas (no pyplot registry, nothing
to close, nothing shown). Posterior and truth/observed coordinates must match exactly
(``CoordinateMismatchError``); nothing is aligned or trimmed. Failed and skipped fits stay in
the summary plots as labelled gaps. Money and contributions are in y units per week.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.metrics.checks import (
    SAMPLE_DIMS,
    check_same_coords,
    posterior_dataset,
    require_variables,
)
from mmm_param_recovery.benchmarking.metrics.rows import ALL
from mmm_param_recovery.benchmarking.metrics.sample_stats import (
    equal_tailed,
    mean_and_hdi,
    samples_last,
)
from mmm_param_recovery.benchmarking.report.tables import FIT_KEY
from mmm_param_recovery.errors import CoordinateMismatchError, DatasetFormatError, FitSpecError

Posterior = az.InferenceData | xr.Dataset

MAX_GEO_PANELS = 6
BAND_PROBS = (0.5, 0.94)
KEY = FIT_KEY
IDENTITY = (*KEY, "status", "reason")
PHASES = (
    ("build_seconds", "build (incl. compile)", "#9ecae1"),
    ("sampling_seconds", "sampling (tune + draws)", "#3182bd"),
    ("postprocess_seconds", "post-processing", "#fdae6b"),
)
ROAS_COLUMNS = ("fitter", "channel", "mean", "lo50", "hi50", "lo94", "hi94", "truth")
ROAS_STATS = {
    ("posterior_mean", None): "mean", ("hdi_low", 0.5): "lo50", ("hdi_high", 0.5): "hi50",
    ("hdi_low", 0.94): "lo94", ("hdi_high", 0.94): "hi94", ("true", None): "truth",
}
"""(stat, level) of the quantity ``roas`` -> column of ``roas_interval_table``."""
COVERAGE_COLUMNS = ("fitter", "nominal", "empirical", "binomial_se")
_OTHER_COLORS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_GAP_COLOR = "#b00020"
_MARKERS = "osD^vP*X"


def fitter_color(fitter: str) -> str:
    """A fixed colour per fitter: its registry entry's ``color``, else one derived from
    the name (stable across plots and runs)."""
    try:
        color = get_fitter(fitter).color
    except FitSpecError:
        color = None
    return color or _OTHER_COLORS[zlib.crc32(fitter.encode()) % len(_OTHER_COLORS)]


# --------------------------------------------------------------------------- helpers


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(n_panels: int, ncols: int, panel_size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes on a grid (unused cells hidden), shared x."""
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    fig = _figure(panel_size[0] * ncols, panel_size[1] * nrows + 0.6)
    axes = list(fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _date_axis(ax: Axes) -> None:
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _require_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetFormatError(
            f"{name}: missing column(s) {missing}; present: {list(map(str, df.columns))}"
        )
    if df.empty:
        raise DatasetFormatError(f"{name}: no rows; allowed: at least one row to plot")


def _checked_variable(posterior: Posterior, name: str, reference: xr.DataArray) -> xr.DataArray:
    """Posterior ``name`` (chain, draw, *dims) after checking its coords equal ``reference``'s."""
    ds = posterior_dataset(posterior)
    require_variables(ds, (name,), "posterior")
    check_same_coords(ds[name], reference, name)
    return ds[name]


def _summed_samples(da: xr.DataArray, geos: Sequence[str]) -> np.ndarray:
    """(date, chain * draw) samples of ``da`` (chain, draw, date, geo) summed over ``geos``."""
    return samples_last(da.sel(geo=list(geos)).sum("geo"), ("date",))


# ------------------------------------------------------------- posterior predictive


def _geo_panels(geos: list[str]) -> tuple[list[tuple[str, list[str]]], str]:
    """Panels ``(label, geos summed)``: the sum over geos, then up to MAX_GEO_PANELS geos."""
    if len(geos) == 1:
        return [(f"geo {geos[0]}", geos)], ""
    shown = geos[:MAX_GEO_PANELS]
    note = f"; per-geo panels: first {len(shown)} of {len(geos)} geos" if shown != geos else ""
    return [(f"sum over {len(geos)} geos", geos)] + [(f"geo {g}", [g]) for g in shown], note


def _ppc_panel(ax: Axes, dates: np.ndarray, y_ppc: np.ndarray, mu: np.ndarray,
               observed: np.ndarray) -> None:
    """Bands of ``y_ppc`` (date, n), posterior-mean ``mu`` (date, n) and ``observed`` (date,)."""
    for prob, alpha in zip(sorted(BAND_PROBS, reverse=True), (0.2, 0.4), strict=True):
        low, high = equal_tailed(y_ppc, prob)
        ax.fill_between(dates, low, high, color="#3182bd", alpha=alpha, lw=0,
                        label=f"y_ppc {prob:.0%} interval")
    ax.plot(dates, y_ppc.mean(axis=-1), color="#3182bd", ls="--", lw=1, label="y_ppc mean")
    ax.plot(dates, mu.mean(axis=-1), color="#e6550d", lw=1.4, label="mu posterior mean")
    ax.plot(dates, observed, "o-", color="black", ms=2.5, lw=0.7, label="observed y")


def plot_posterior_predictive(posterior: Posterior, observed_y: xr.DataArray,
                              title: str) -> Figure:
    """Observed y against the posterior predictive and posterior-mean ``mu``, per panel.

    ``posterior`` holds ``y_ppc`` and ``mu`` (chain, draw, date, geo); ``observed_y``
    (date, geo) in y units on the same coords. Bands are equal-tailed 50% and 94% intervals
    of ``y_ppc`` (the intervals the y-coverage metrics use). One geo: one panel; several:
    the sum over geos, then the first MAX_GEO_PANELS geos (the title says how many).
    """
    y_ppc = _checked_variable(posterior, "y_ppc", observed_y)
    mu = _checked_variable(posterior, "mu", observed_y)
    dates = observed_y["date"].values
    panels, note = _geo_panels([str(g) for g in observed_y["geo"].values])
    fig, axes = _grid(len(panels), ncols=2, panel_size=(6.5, 2.8))
    for ax, (label, geos) in zip(axes, panels, strict=True):
        observed = observed_y.sel(geo=geos).sum("geo").transpose("date").values
        _ppc_panel(ax, dates, _summed_samples(y_ppc, geos), _summed_samples(mu, geos), observed)
        ax.set_title(label, fontsize=10)
        ax.set_ylabel("y per week")
        _date_axis(ax)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(f"{title}{note}")
    return fig


def plot_model_comparison(posteriors: Mapping[str, Posterior], observed_y: xr.DataArray) -> Figure:
    """Each fitter's posterior-mean ``mu`` summed over geos against the observed y.

    ``posteriors`` maps fitter name -> posterior with ``mu`` (chain, draw, date, geo);
    ``observed_y`` (date, geo) in y units on the same coords. The lower panel shows each
    fitter's posterior-mean ``mu`` minus observed y.
    """
    if not posteriors:
        raise DatasetFormatError("posteriors: empty; allowed: at least one fitter's posterior")
    fig = _figure(11, 6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    dates = observed_y["date"].values
    observed = observed_y.sum("geo").transpose("date").values
    for fitter, posterior in posteriors.items():
        mu = _checked_variable(posterior, "mu", observed_y)
        mean = mu.mean(SAMPLE_DIMS).sum("geo").transpose("date").values
        top.plot(dates, mean, color=fitter_color(fitter), lw=1.4, label=fitter)
        bottom.plot(dates, mean - observed, color=fitter_color(fitter), lw=1.2)
    top.plot(dates, observed, "o-", color="black", ms=2.5, lw=0.7, label="observed y")
    bottom.axhline(0.0, color="black", lw=0.8)
    top.set_ylabel("y per week (sum over geos)")
    bottom.set_ylabel("mu mean - observed")
    top.legend(fontsize=8)
    _date_axis(bottom)
    fig.suptitle("Posterior-mean mu (expected y, no noise) by fitter vs observed y")
    return fig


# ------------------------------------------------------------------------ recovery


def plot_contribution_recovery(posterior: Posterior, truth: xr.Dataset,
                               fitter: str) -> Figure:
    """Per channel, true vs estimated weekly contribution summed over geos, with 94% HDI.

    ``posterior`` holds ``channel_contribution`` (chain, draw, date, geo, channel) and
    ``truth`` (canonical truth) ``channel_contribution`` (date, geo, channel), both in y
    units per week, on the same coords. The band is the 94% HDI of the geo-summed draws.
    """
    true = truth["channel_contribution"]
    contribution = _checked_variable(posterior, "channel_contribution", true).sum("geo")
    channels = [str(c) for c in true["channel"].values]
    dates = true["date"].values
    fig, axes = _grid(len(channels), ncols=3, panel_size=(4.5, 2.6))
    color = fitter_color(fitter)
    for ax, channel in zip(axes, channels, strict=True):
        samples = samples_last(contribution.sel(channel=channel), ("date",))
        mean, low, high = mean_and_hdi(samples, 0.94)
        ax.fill_between(dates, low, high, color=color, alpha=0.3, lw=0, label="94% HDI")
        ax.plot(dates, mean, color=color, lw=1.3, label="posterior mean")
        ax.plot(dates, true.sel(channel=channel).sum("geo").values, color="black", lw=1.1,
                label="truth")
        ax.set_title(channel, fontsize=10)
        _date_axis(ax)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{fitter}: weekly channel contribution (y units, sum over geos)")
    return fig


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


def _dodge(n: int, span: float) -> np.ndarray:
    """``n`` offsets centred on 0 spread over ``span``."""
    return np.zeros(1) if n == 1 else np.linspace(-span / 2, span / 2, n)


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
    binomial SE. With a ``metric`` column, each metric gets its own marker.
    """
    _require_columns(coverage_df, COVERAGE_COLUMNS, "coverage_df")
    fig = _figure(7.5, 6)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    groups = ["fitter", "metric"] if "metric" in coverage_df.columns else ["fitter"]
    fitters = list(dict.fromkeys(coverage_df["fitter"]))
    offsets = dict(zip(fitters, _dodge(len(fitters), 0.03), strict=True))
    metrics = list(dict.fromkeys(coverage_df[groups[-1]]))
    for group, rows in coverage_df.groupby(groups, sort=False):
        marker = _MARKERS[metrics.index(group[-1]) % len(_MARKERS)]
        ax.errorbar(rows["nominal"] + offsets[group[0]], rows["empirical"],
                    yerr=2 * rows["binomial_se"], fmt=marker, color=fitter_color(group[0]),
                    capsize=3, ms=5, label=" · ".join(map(str, group)))
    ax.set(xlim=(0, 1.05), ylim=(0, 1.08), xlabel="nominal coverage",
           ylabel="empirical coverage of the truth (±2 binomial SE)")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Credible-interval calibration across replicate seeds")
    return fig


# --------------------------------------------------------------- runtime and memory


def _check_keys(df: pd.DataFrame, name: str) -> list[tuple]:
    _require_columns(df, IDENTITY, name)
    keys = list(df[list(KEY)].itertuples(index=False, name=None))
    if len(set(keys)) != len(keys):
        raise DatasetFormatError(f"{name}: several rows for one (dataset, seed, fitter, priors)")
    return keys


def _aligned(reference: pd.DataFrame, other: pd.DataFrame, name: str) -> pd.DataFrame:
    """``other`` in the row order of ``reference``; both must hold the same fit keys."""
    ref_keys, other_keys = _check_keys(reference, "runtime_df"), _check_keys(other, name)
    if set(ref_keys) != set(other_keys):
        raise CoordinateMismatchError(
            f"{name}: fits (dataset, seed, fitter, priors) differ from runtime_df; only in {name}: "
            f"{sorted(set(other_keys) - set(ref_keys))[:5]}, only in runtime_df: "
            f"{sorted(set(ref_keys) - set(other_keys))[:5]}"
        )
    return other.set_index(list(KEY)).loc[ref_keys].reset_index()


def _row_labels(df: pd.DataFrame) -> list[str]:
    """Fitter names, with the prior profile when there are several, and dataset and seed
    appended when a (fitter, profile) has several rows."""
    names = df["fitter"].astype(str)
    if df["priors"].nunique() > 1:
        names = names + " [" + df["priors"].astype(str) + "]"
    if not names.duplicated().any():
        return names.tolist()
    return [f"{n} · {r.dataset} · seed {r.seed}" for n, r in zip(names, df.itertuples(),
                                                                  strict=True)]


def _gaps(df: pd.DataFrame, has_value: np.ndarray) -> list[str | None]:
    """Per row: None when a bar is drawn, else the text shown in its place."""
    texts: list[str | None] = []
    for status, reason, ok in zip(df["status"], df["reason"], has_value, strict=True):
        if status == "ok":
            texts.append(None if ok else "ok, but no value recorded")
            continue
        text = f"{status}: {reason}" if isinstance(reason, str) and reason else str(status)
        texts.append(text if len(text) <= 70 else text[:67] + "...")
    return texts


def _rows_axis(ax: Axes, labels: list[str], gaps: list[str | None]) -> np.ndarray:
    """Row positions top-down, y tick labels, and gap texts in place of missing bars."""
    y = np.arange(len(labels), dtype=float)
    ax.set_yticks(y, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    for yi, text in zip(y, gaps, strict=True):
        if text is not None:
            ax.text(0.01, yi, text, transform=ax.get_yaxis_transform(), va="center",
                    fontsize=8, color=_GAP_COLOR, style="italic")
    ax.grid(axis="x", alpha=0.3)
    return y


def _short(value: float) -> str:
    """3 significant digits, or whole numbers with separators from 1,000 (no exponents)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _value_bars(ax: Axes, df: pd.DataFrame, column: str, labels: list[str],
                fmt: Callable[[float], str]) -> None:
    """Horizontal bars of ``df[column]`` coloured by fitter, values printed, gaps labelled."""
    values = df[column].to_numpy(float)
    gaps = _gaps(df, np.isfinite(values))
    y = _rows_axis(ax, labels, gaps)
    drawn = np.array([g is None for g in gaps])
    colors = [fitter_color(str(f)) for f in df["fitter"][drawn]]
    ax.barh(y[drawn], values[drawn], color=colors, height=0.6)
    for yi, value in zip(y[drawn], values[drawn], strict=True):
        ax.annotate(fmt(value), (value, yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    positive = values[drawn][values[drawn] > 0]
    if positive.size and positive.max() / positive.min() > 50:
        ax.set_xscale("log")
    _finish_bar_axis(ax, drawn.any(), margin=0.15)


def _finish_bar_axis(ax: Axes, any_drawn: bool, margin: float) -> None:
    """Room for the value labels; a linear axis starts at 0; no ticks when nothing is drawn."""
    ax.margins(x=margin)
    if ax.get_xscale() == "linear":
        ax.set_xlim(left=0)
    if not any_drawn:
        ax.set_xticks([])


def _phase_bars(ax: Axes, df: pd.DataFrame, labels: list[str]) -> None:
    """Stacked build / sampling / post-processing seconds; a missing phase draws nothing."""
    phases = df[[p[0] for p in PHASES]].to_numpy(float)
    gaps = _gaps(df, np.isfinite(phases).any(axis=1))
    y = _rows_axis(ax, labels, gaps)
    drawn = np.array([g is None for g in gaps])
    left = np.zeros(int(drawn.sum()))
    for (*_, color), width in zip(PHASES, np.nan_to_num(phases[drawn]).T, strict=True):
        ax.barh(y[drawn], width, left=left, color=color, height=0.6)
        left = left + width
    for yi, end, total in zip(y[drawn], left, df["total_seconds"][drawn], strict=True):
        ax.annotate(f"total {_short(total)} s", (end, yi), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    _finish_bar_axis(ax, drawn.any(), margin=0.2)
    ax.legend(handles=[Patch(color=color, label=label) for _, label, color in PHASES],
              fontsize=8, loc="lower right")


def plot_runtime_ess(runtime_df: pd.DataFrame, ess_df: pd.DataFrame) -> Figure:
    """Seconds per phase (stacked) and ESS per sampling second, one row per fit.

    ``runtime_df``: runtime_comparison rows (identity columns ``dataset, seed, fitter,
    status, reason`` plus ``build_seconds, sampling_seconds, postprocess_seconds,
    total_seconds``); ``ess_df``: ess_comparison rows (identity plus ``ess_per_second``)
    for the same fits. Failed/skipped fits are labelled gaps. ESS/s goes to a log axis
    when the values span more than 50x.
    """
    _require_columns(runtime_df, [p[0] for p in PHASES] + ["total_seconds"], "runtime_df")
    _require_columns(ess_df, ["ess_per_second"], "ess_df")
    ess = _aligned(runtime_df, ess_df, "ess_df")
    labels = _row_labels(runtime_df)
    fig = _figure(13, 1.4 + 0.45 * len(labels))
    left, right = fig.subplots(1, 2, sharey=True)
    _phase_bars(left, runtime_df, labels)
    left.set_xlabel("wall-clock seconds")
    _value_bars(right, ess, "ess_per_second", labels, _short)
    right.set_xlabel("min bulk ESS (canonical quantities) per sampling second")
    fig.suptitle("Time per phase and sampling efficiency")
    return fig


def plot_memory(runtime_df: pd.DataFrame) -> Figure:
    """Peak RSS of each fit's process tree in GB (``runtime_df.peak_rss_gb``), gaps labelled.

    ``runtime_df``: runtime_comparison rows (identity columns and ``peak_rss_gb``).
    """
    _require_columns(runtime_df, ["peak_rss_gb"], "runtime_df")
    _check_keys(runtime_df, "runtime_df")
    fig = _figure(8, 1.4 + 0.45 * len(runtime_df))
    ax = fig.subplots()
    _value_bars(ax, runtime_df, "peak_rss_gb", _row_labels(runtime_df), "{:.2f}".format)
    ax.set_xlabel("peak resident memory of the fit process tree (GB)")
    fig.suptitle("Peak memory per fit")
    return fig
