"""True vs posterior steady-state response curves, one panel per channel, all fitters."""

from __future__ import annotations

from collections.abc import Mapping

import xarray as xr
from matplotlib.figure import Figure

from mmm_param_recovery.benchmarking.metrics.checks import check_same_coords, posterior_dataset
from mmm_param_recovery.benchmarking.metrics.response import CURVE_VARIABLES
from mmm_param_recovery.benchmarking.metrics.sample_stats import mean_and_hdi, samples_last
from mmm_param_recovery.benchmarking.report.plots._common import Posterior, _grid, fitter_color
from mmm_param_recovery.errors import DatasetFormatError


def plot_response_recovery(posteriors: Mapping[str, Posterior], truth: xr.Dataset) -> Figure:
    """Per channel, the true steady-state response curve (black) against each fitter's
    posterior mean and 94 % HDI band; x: total weekly spend (currency), y: weekly
    contribution summed over geos (y units). The grey regions lie outside the observed
    weekly spends (darker: beyond the largest; lighter: below the smallest, for an
    always-on channel); both are extrapolations. The dotted line is the mean weekly spend, where
    marginal ROAS (the curve's slope) is evaluated.

    ``posteriors``: fitter -> canonical posterior with ``response_curve`` (chain, draw,
    channel, spend_point); ``truth``: canonical truth with the same variables and grid.
    """
    missing = [name for name in CURVE_VARIABLES if name not in truth]
    if missing:
        raise DatasetFormatError(f"truth: no {missing} (the dataset has no transforms)")
    true = truth["response_curve"]
    curves = {fitter: _curve(post, true) for fitter, post in posteriors.items()}
    channels = [str(c) for c in true["channel"].values]
    fig, axes = _grid(len(channels), ncols=3, panel_size=(4.2, 2.8), sharex=False)
    for ax, channel in zip(axes, channels, strict=True):
        spend = truth["response_spend"].sel(channel=channel).values
        for fitter, curve in curves.items():
            samples = samples_last(curve.sel(channel=channel), ("spend_point",))
            mean, low, high = mean_and_hdi(samples, 0.94)
            color = fitter_color(fitter)
            ax.fill_between(spend, low, high, color=color, alpha=0.25, lw=0)
            ax.plot(spend, mean, color=color, lw=1.3, label=fitter)
        ax.plot(spend, true.sel(channel=channel).values, color="black", lw=1.4, label="truth")
        weekly = truth["spend"].sum("geo").sel(channel=channel)
        ax.axvspan(float(weekly.max()), spend[-1], color="0.85", lw=0, zorder=0)
        if float(weekly.min()) > 0:
            ax.axvspan(0, float(weekly.min()), color="0.93", lw=0, zorder=0)
        ax.set_xlim(0, spend[-1])
        ax.axvline(float(weekly.mean()), color="0.4", ls=":", lw=1)
        ax.set_title(channel, fontsize=10)
        ax.set_xlabel("weekly spend", fontsize=8)
    axes[0].set_ylabel("weekly contribution", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle("Steady-state response: truth (black) vs posterior mean and 94% HDI; "
                 "grey = outside the observed weekly spends, dotted = mean spend")
    return fig


def _curve(posterior: Posterior, true: xr.DataArray) -> xr.DataArray:
    ds = posterior_dataset(posterior)
    if "response_curve" not in ds:
        raise DatasetFormatError("posterior: no response_curve (a fit made before curves "
                                 "were stored; re-fit with --force-rerun)")
    check_same_coords(ds["response_curve"], true, "response_curve")
    return ds["response_curve"]
