"""Plots of one fit's posterior against the data and the truth: posterior predictive,
model comparison, weekly contributions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mmm_param_recovery.benchmarking.metrics.checks import (
    SAMPLE_DIMS,
    check_same_coords,
    posterior_dataset,
    require_variables,
)
from mmm_param_recovery.benchmarking.metrics.sample_stats import (
    equal_tailed,
    mean_and_hdi,
    samples_last,
)
from mmm_param_recovery.benchmarking.report.plots._common import (
    BAND_PROBS,
    MAX_GEO_PANELS,
    Posterior,
    _date_axis,
    _figure,
    _grid,
    fitter_color,
)
from mmm_param_recovery.errors import DatasetFormatError


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


