"""Recovery of the true media effects by a canonical posterior (formulas: docs/metrics.md).

Rows are labelled per (channel, geo), per channel pooled over geos (``geo="all"``) and
overall (``channel="all", geo="all"``). A posterior and a truth on different coordinates
raise ``CoordinateMismatchError``; nothing is aligned or trimmed. A ``nonfinite_count``
row is emitted per posterior variable, and rows computed from a variable holding NaN or
inf are NaN with a ``note``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import arviz as az
import numpy as np
import xarray as xr
from scipy.integrate import trapezoid

from mmm_param_recovery.benchmarking.metrics.checks import (
    SAMPLE_DIMS,
    check_dim_equal,
    check_same_coords,
    posterior_dataset,
    require_variables,
)
from mmm_param_recovery.benchmarking.metrics.response import CURVE_VARIABLES, observed_range
from mmm_param_recovery.benchmarking.metrics.rows import (
    ALL,
    Row,
    mask_nonfinite,
    metric_row,
    nonfinite_rows,
)
from mmm_param_recovery.benchmarking.metrics.sample_stats import (
    crps_sorted,
    hdi_sorted,
    rank_of_truth,
    samples_last,
)
from mmm_param_recovery.errors import DatasetFormatError

INTERVAL_PROBS = (0.5, 0.8, 0.94)
POSTERIOR_VARIABLES = ("channel_contribution", "roas", "roas_by_geo", "adstock_alpha")
TRUTH_VARIABLES = ("channel_contribution", "spend", "roas", "roas_by_geo", "attribution_share")
_LEVELS = ((), ("geo",), ("geo", "channel"))


class Stat(NamedTuple):
    """A statistic and its interval level (``None`` when it has none)."""

    stat: str
    level: float | None = None


def compute_recovery_metrics(
    posterior: az.InferenceData | xr.Dataset, truth: xr.Dataset
) -> list[Row]:
    """All recovery rows of one canonical posterior against the canonical truth.

    ``posterior``: variables of docs/architecture.md (chain, draw, date, geo, channel);
    ``truth``: ``canonical_truth`` output on the same coordinates.
    """
    ds = posterior_dataset(posterior)
    require_variables(ds, POSTERIOR_VARIABLES[:3], "posterior")
    require_variables(truth, TRUTH_VARIABLES, "truth")
    check_same_coords(ds["channel_contribution"], truth["channel_contribution"], "contribution")
    rows, counts = nonfinite_rows(ds, POSTERIOR_VARIABLES)
    rows.append(metric_row("posterior", "n_draws", ds.sizes["chain"] * ds.sizes["draw"]))
    total = ds["channel_contribution"].sum("date", skipna=False)
    true_total = truth["channel_contribution"].sum("date", skipna=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows += _total_rows(total, true_total)
        weekly = _weekly_rows(ds, truth)
        rows += mask_nonfinite(weekly, ("channel_contribution",), counts)
        rows += _overall_roas_rows(total, true_total, truth)
        rows += _share_rows(total, truth)
        for name in ("roas_by_geo", "roas"):
            rows += _scalar_rows("roas", ds[name], truth[name])
        rows.append(_mean_abs_rel_error_row("roas", ds["roas"], truth["roas"]))
        rows += _adstock_rows(ds, truth)
        rows += _response_rows(ds, truth)
    return rows


def scalar_recovery_stats(samples: np.ndarray, truth: np.ndarray) -> dict[Stat, np.ndarray]:
    """Error, interval, CRPS and rank statistics of scalar quantities against their truth.

    ``samples`` (*cells, n) posterior draws, ``truth`` (*cells,), same units. Returns
    arrays (*cells,) keyed by ``(stat, level)``: ``posterior_mean``, ``true``, ``bias``
    (mean - truth), ``abs_error``, ``rel_error`` (bias / truth), per probability p in
    INTERVAL_PROBS ``hdi_low``, ``hdi_high``, ``hdi_width`` and ``in_hdi`` (1.0 if
    low <= truth <= high) at level p, ``crps`` (fair estimator), ``rank`` (#draws < truth
    + #ties / 2) and ``rank_normalized`` (rank / n, in [0, 1]); level ``None`` for all but
    the interval statistics.
    """
    mean = samples.mean(axis=-1)
    bias = mean - truth
    stats = {Stat("posterior_mean"): mean, Stat("true"): truth, Stat("bias"): bias,
             Stat("abs_error"): np.abs(bias), Stat("rel_error"): bias / truth}
    ordered = np.sort(samples, axis=-1)
    for prob in INTERVAL_PROBS:
        low, high = hdi_sorted(ordered, prob)
        stats[Stat("hdi_low", prob)], stats[Stat("hdi_high", prob)] = low, high
        stats[Stat("hdi_width", prob)] = high - low
        stats[Stat("in_hdi", prob)] = ((low <= truth) & (truth <= high)).astype(float)
    stats[Stat("crps")] = crps_sorted(ordered, truth)
    stats[Stat("rank")] = rank_of_truth(samples, truth)
    stats[Stat("rank_normalized")] = stats[Stat("rank")] / samples.shape[-1]
    return stats


def response_curve_error(
    spend_grid: xr.DataArray,
    true_curve: xr.DataArray,
    posterior_curves: xr.DataArray,
    grid_dim: str = "grid",
) -> xr.DataArray:
    """Integrated absolute error of the posterior-mean response curve, relative to the truth.

    ``spend_grid`` (*cells, grid): spend values (currency), strictly increasing along
    ``grid_dim``, e.g. (channel, grid) over each channel's observed range;
    ``true_curve`` (*cells, grid): true contribution at each spend (y units);
    ``posterior_curves`` (chain, draw, *cells, grid): the fitted curves (y units).
    Returns (*cells,), unitless: ``int |E[f](s) - f(s)| ds / int |f(s)| ds`` with the
    trapezoid rule over the grid.
    """
    check_same_coords(posterior_curves, true_curve, "response_curve")
    for dim in spend_grid.dims:
        check_dim_equal(spend_grid, true_curve, dim, "spend_grid")
    if not bool((spend_grid.diff(grid_dim) > 0).all()):
        raise DatasetFormatError(f"spend_grid: not strictly increasing along {grid_dim!r}")
    error = abs(posterior_curves.mean(SAMPLE_DIMS, skipna=False) - true_curve)
    scale = _integrate(abs(true_curve), spend_grid, grid_dim)
    return _integrate(error, spend_grid, grid_dim) / scale


def _integrate(values: xr.DataArray, x: xr.DataArray, dim: str) -> xr.DataArray:
    return xr.apply_ufunc(trapezoid, values, x, input_core_dims=[[dim], [dim]])


def _scalar_rows(name: str, draws: xr.DataArray, truth: xr.DataArray) -> list[Row]:
    """``scalar_recovery_stats`` rows of ``draws`` (chain, draw, *dims) vs ``truth`` (*dims).

    A cell with a non-finite draw or truth gets NaN rows with a ``note``.
    """
    check_same_coords(draws, truth, name)
    dims = tuple(map(str, truth.dims))
    samples, true = samples_last(draws, dims), truth.transpose(*dims).values
    stats = scalar_recovery_stats(samples, true)
    notes = _cell_notes(samples, true)
    coords = {dim: truth[dim].values for dim in dims}
    return _labelled_rows(name, {k: (dims, v) for k, v in stats.items()}, coords, notes)


def _cell_notes(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per cell, why its statistics are undefined ("" when draws and truth are finite)."""
    bad_draws = samples.shape[-1] - np.count_nonzero(np.isfinite(samples), axis=-1)
    notes = np.full(truth.shape, "", dtype=object)
    for index in np.ndindex(truth.shape):
        if bad_draws[index] or not np.isfinite(truth[index]):
            notes[index] = (
                f"{bad_draws[index]} of {samples.shape[-1]} draws non-finite; truth {truth[index]}"
            )
    return notes


def _labelled_rows(
    name: str,
    stats: dict[Stat, tuple[tuple[str, ...], np.ndarray]],
    coords: dict[str, np.ndarray],
    notes: np.ndarray | None = None,
) -> list[Row]:
    """One row per cell of each ``{Stat: (dims, array)}`` of quantity ``name``; a dim
    absent from dims is ``"all"``.

    Where ``notes`` (cells,) is non-empty the value is NaN and the note is kept.
    """
    rows = []
    for (stat, level), (dims, values) in stats.items():
        for index in np.ndindex(values.shape):
            labels = {dim: str(coords[dim][i]) for dim, i in zip(dims, index, strict=True)}
            note = notes[index] if notes is not None else ""
            rows.append(metric_row(
                name, stat, math.nan if note else values[index], level,
                channel=labels.get("channel", ALL), geo=labels.get("geo", ALL), note=note,
            ))
    return rows


def _total_rows(total: xr.DataArray, true_total: xr.DataArray) -> list[Row]:
    """Total contribution (y units) per (channel, geo), per channel and overall."""
    rows = []
    for dims in _LEVELS:
        draws = total.sum(dims, skipna=False) if dims else total
        truth = true_total.sum(dims, skipna=False) if dims else true_total
        rows += _scalar_rows("contribution_total", draws, truth)
    return rows


def _weekly_rows(ds: xr.Dataset, truth: xr.Dataset) -> list[Row]:
    """SRMSE, R^2 and bias of the posterior-mean weekly contribution vs the true one."""
    true = truth["channel_contribution"]
    error = ds["channel_contribution"].mean(SAMPLE_DIMS, skipna=False) - true
    rows = []
    for dims in _LEVELS:
        over = ("date", *dims)
        mean_true = true.mean(over, skipna=False)
        squared = error**2
        stats = {
            Stat("srmse"): np.sqrt(squared.mean(over, skipna=False)) / mean_true,
            Stat("r2"): 1.0
            - squared.sum(over, skipna=False) / ((true - mean_true) ** 2).sum(over, skipna=False),
            Stat("bias"): error.mean(over, skipna=False),
        }
        arrays = {k: (tuple(map(str, v.dims)), v.values) for k, v in stats.items()}
        rows += _labelled_rows("contribution_weekly", arrays, _coords(true))
    return rows


def _overall_roas_rows(
    total: xr.DataArray, true_total: xr.DataArray, truth: xr.Dataset
) -> list[Row]:
    """Overall ROAS: total media contribution / total spend (all channels, geos, weeks)."""
    spend = float(truth["spend"].sum(skipna=False))
    media = ("geo", "channel")
    draws = total.sum(media, skipna=False) / spend
    return _scalar_rows("roas", draws, true_total.sum(media, skipna=False) / spend)


def _mean_abs_rel_error_row(name: str, draws: xr.DataArray, truth: xr.DataArray) -> Row:
    """``{name}_mean_abs_rel_error``: mean over channels of |posterior mean - truth| /
    truth (channel and geo ``"all"``); for ``roas`` the headline ROAS error of a fit."""
    mean = draws.mean(SAMPLE_DIMS, skipna=False).transpose("channel").values
    true = truth.transpose("channel").values
    error = float(np.mean(np.abs(mean - true) / true))
    return metric_row(name, "mean_abs_rel_error", error, channel=ALL, geo=ALL)


def _response_rows(ds: xr.Dataset, truth: xr.Dataset) -> list[Row]:
    """``response_curve comparable`` (0 with a note naming what is missing), then the
    marginal ROAS and response-curve rows when both sides have curves."""
    missing = [f"{where} has no {name}" for where, data in (("posterior", ds), ("truth", truth))
               for name in CURVE_VARIABLES if name not in data.data_vars]
    if missing:
        return [metric_row("response_curve", "comparable", 0.0, channel=ALL, geo=ALL,
                           note="; ".join(missing))]
    return [metric_row("response_curve", "comparable", 1.0, channel=ALL, geo=ALL),
            *_marginal_rows(ds, truth), *_curve_rows(ds, truth)]


def _marginal_rows(ds: xr.Dataset, truth: xr.Dataset) -> list[Row]:
    """Marginal ROAS per channel and geo, per channel, and the mean over channels."""
    rows = _scalar_rows("marginal_roas", ds["marginal_roas_by_geo"],
                        truth["marginal_roas_by_geo"])
    rows += _scalar_rows("marginal_roas", ds["marginal_roas"], truth["marginal_roas"])
    rows.append(_mean_abs_rel_error_row("marginal_roas", ds["marginal_roas"],
                                        truth["marginal_roas"]))
    return rows


def _curve_rows(ds: xr.Dataset, truth: xr.Dataset) -> list[Row]:
    """Per channel ``integrated_rel_error`` over the observed spend range
    (``response_curve_error``) and ``band_coverage`` at 0.94 (share of observed grid
    points, 0 excluded, whose true value lies in the pointwise 94 % HDI); the mean error
    over channels."""
    curve, true_curve = ds["response_curve"], truth["response_curve"]
    check_same_coords(curve, true_curve, "response_curve")
    observed = {"spend_point": np.flatnonzero(observed_range(truth, include_zero=True).values)}
    error = response_curve_error(truth["response_spend"].isel(observed), true_curve.isel(observed),
                                 curve.isel(observed), grid_dim="spend_point")
    band = {"spend_point": np.flatnonzero(observed_range(truth).values)}
    dims = ("channel", "spend_point")
    stats = scalar_recovery_stats(samples_last(curve.isel(band), dims),
                                  true_curve.isel(band).transpose(*dims).values)
    coverage = stats[Stat("in_hdi", 0.94)].mean(axis=-1)
    rows = []
    for channel, value, covered in zip(error["channel"].values, error.values, coverage,
                                       strict=True):
        rows.append(metric_row("response_curve", "integrated_rel_error", float(value),
                               channel=str(channel), geo=ALL))
        rows.append(metric_row("response_curve", "band_coverage", float(covered), 0.94,
                               channel=str(channel), geo=ALL))
    rows.append(metric_row("response_curve", "integrated_rel_error", float(error.mean()),
                           channel=ALL, geo=ALL))
    return rows


def _share_rows(total: xr.DataArray, truth: xr.Dataset) -> list[Row]:
    """Attribution share per channel: share of total media contribution, per draw."""
    by_channel = total.sum("geo", skipna=False)
    share = by_channel / by_channel.sum("channel", skipna=False)
    return _scalar_rows("attribution_share", share, truth["attribution_share"])


def _adstock_rows(ds: xr.Dataset, truth: xr.Dataset) -> list[Row]:
    """``adstock_alpha_comparable`` per channel, then recovery rows where comparable."""
    channels = truth["channel_contribution"]["channel"].values
    reason = _adstock_reason(ds, truth)
    if reason:
        return [_comparable_row(c, reason) for c in channels]
    post, true = ds["adstock_alpha"], truth["adstock_alpha"]
    check_dim_equal(true, truth["channel_contribution"], "channel", "adstock_alpha")
    for dim in set(post.dims) & set(true.dims):
        check_dim_equal(post, true, dim, "adstock_alpha")
    finite = np.isfinite(true.transpose(..., "channel").values)
    geometric = finite.reshape(-1, true.sizes["channel"]).all(axis=0)
    note = "truth adstock is not geometric (truth adstock_alpha is NaN)"
    rows = [
        _comparable_row(c, "" if ok else note)
        for c, ok in zip(channels, geometric, strict=True)
    ]
    keep = channels[geometric]
    if keep.size:
        post, true = post.sel(channel=keep), true.sel(channel=keep)
        draws = post.broadcast_like(true)
        true = true.broadcast_like(post.isel(chain=0, draw=0, drop=True))
        rows += _scalar_rows("adstock_alpha", draws, true)
    return rows


def _adstock_reason(ds: xr.Dataset, truth: xr.Dataset) -> str:
    """Why adstock decays cannot be compared at all ("" when they can)."""
    for where, data in (("posterior", ds), ("truth", truth)):
        if "adstock_alpha" not in data.data_vars:
            return f"{where} has no adstock_alpha"
    flags = [_flag(d["adstock_alpha"].attrs.get("adstock_normalized")) for d in (ds, truth)]
    if None in flags or flags[0] != flags[1]:
        return f"adstock_normalized differs or is unknown (posterior {flags[0]}, truth {flags[1]})"
    return ""


def _flag(value: object) -> bool | None:
    """A boolean attribute as stored in memory or netCDF (bool, 0/1, "true"/"false")."""
    text = str(value).strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(text)


def _comparable_row(channel: object, note: str) -> Row:
    return metric_row("adstock_alpha", "comparable", 0.0 if note else 1.0, channel=str(channel),
                      geo=ALL, note=note)


def _coords(da: xr.DataArray) -> dict[str, np.ndarray]:
    return {str(dim): da[dim].values for dim in da.dims}
