"""Predictive fit of a canonical posterior to the observed y (same quantity for every library).

Point metrics (R^2, MAPE, Durbin-Watson) compare the posterior mean of ``mu`` (expected y,
no observation noise) with the observed y; per-draw R^2 and MAPE summarise each draw of
``mu``; CRPS and interval coverage use the posterior predictive ``y_ppc`` (with noise).
Every metric is reported per geo and pooled over geos (``geo="all"``); formulas in
docs/metrics.md.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.checks import (
    check_same_coords,
    count_nonfinite,
    posterior_dataset,
    require_variables,
)
from mmm_param_recovery.benchmarking.metrics.rows import (
    ALL,
    Row,
    mask_nonfinite,
    metric_row,
    nonfinite_rows,
)
from mmm_param_recovery.benchmarking.metrics.sample_stats import (
    crps_sorted,
    equal_tailed,
    mean_and_hdi,
    samples_last,
)
from mmm_param_recovery.errors import DatasetFormatError

COVERAGE_PROBS = (0.5, 0.94)
DRAW_HDI_PROB = 0.94
_PER_GEO = (-1,)
_POOLED = (-2, -1)
StatKey = tuple[str, float | None]


def compute_fit_metrics(
    posterior: az.InferenceData | xr.Dataset, observed_y: xr.DataArray
) -> list[Row]:
    """Fit rows of ``mu`` and ``y_ppc`` (chain, draw, date, geo) against ``observed_y``.

    ``observed_y`` (date, geo), y units, on exactly the posterior's coordinates (else
    ``CoordinateMismatchError``). Rows have ``channel=None``; ``geo`` is a geo or
    ``"all"``. Quantity ``mu``: ``r2``, ``mape``, ``durbin_watson`` of the posterior mean
    and, over draws, ``r2_per_draw_mean`` / ``_hdi_low`` / ``_hdi_high`` (level 0.94) and
    the same for ``mape``; quantity ``y_ppc``: ``crps`` and ``coverage`` (levels 0.5,
    0.94). A ``nonfinite_count`` row per variable is always emitted; rows computed from a
    variable with non-finite values are NaN with a ``note``.
    """
    ds = posterior_dataset(posterior)
    require_variables(ds, ("mu", "y_ppc"), "posterior")
    for name in ("mu", "y_ppc"):
        check_same_coords(ds[name], observed_y, name)
    if count_nonfinite(observed_y):
        raise DatasetFormatError(f"observed_y: {count_nonfinite(observed_y)} non-finite values")
    rows, counts = nonfinite_rows(ds, ("mu", "y_ppc"))
    geos = [str(g) for g in observed_y["geo"].values]
    y = observed_y.transpose("geo", "date").values
    mu_draws = samples_last(ds["mu"], ("geo", "date"))
    with np.errstate(divide="ignore", invalid="ignore"):
        point = _fit_stats(y, mu_draws.mean(axis=-1), ("r2", "mape", "durbin_watson"))
        point = {(name, None): values for name, values in point.items()}
        draws = _draw_summary(_fit_stats(y, np.moveaxis(mu_draws, -1, 0), ("r2", "mape")))
        predictive = _predictive_stats(y, samples_last(ds["y_ppc"], ("geo", "date")))
    rows += mask_nonfinite(_geo_rows("mu", point, geos), ("mu",), counts)
    rows += mask_nonfinite(_geo_rows("mu", draws, geos), ("mu",), counts)
    rows += mask_nonfinite(_geo_rows("y_ppc", predictive, geos), ("y_ppc",), counts)
    return rows


def observed_y_from_frame(data_df: pd.DataFrame) -> xr.DataArray:
    """The ``y`` column of an observed frame (one row per date and geo) as (date, geo).

    Dates and geos keep their order of first appearance; a missing or duplicated
    (date, geo) pair raises ``DatasetFormatError``.
    """
    dates, geos = pd.unique(data_df["date"]), pd.unique(data_df["geo"])
    if len(data_df) != len(dates) * len(geos) or data_df.duplicated(["date", "geo"]).any():
        raise DatasetFormatError(
            f"data_df: {len(data_df)} rows for {len(dates)} dates x {len(geos)} geos; "
            "allowed: exactly one row per (date, geo)"
        )
    table = data_df.pivot(index="date", columns="geo", values="y").loc[dates, geos]
    return xr.DataArray(
        table.to_numpy(dtype=float), dims=("date", "geo"), coords={"date": dates, "geo": geos}
    )


def _fit_stats(
    y: np.ndarray, y_hat: np.ndarray, names: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (per_geo, pooled)}`` of ``y`` (geo, date) vs ``y_hat`` (..., geo, date).

    R^2 = 1 - SS_res / SS_tot (SS_tot around the mean of y over the pooled cells), MAPE
    in percent, Durbin-Watson of the residuals y - y_hat (differences within each geo).
    """
    funcs = {"r2": _r2, "mape": _mape, "durbin_watson": _durbin_watson}
    return {
        name: (funcs[name](y, y_hat, _PER_GEO), funcs[name](y, y_hat, _POOLED)) for name in names
    }


def _r2(y: np.ndarray, y_hat: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    ss_res = np.sum((y - y_hat) ** 2, axis=axes)
    return 1.0 - ss_res / np.sum((y - y.mean(axis=axes, keepdims=True)) ** 2, axis=axes)


def _mape(y: np.ndarray, y_hat: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return 100.0 * np.mean(np.abs((y - y_hat) / y), axis=axes)


def _durbin_watson(y: np.ndarray, y_hat: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    resid = y - y_hat
    return np.sum(np.diff(resid, axis=-1) ** 2, axis=axes) / np.sum(resid**2, axis=axes)


def _draw_summary(
    draws: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[StatKey, tuple[np.ndarray, np.ndarray]]:
    """Per-draw statistics (sample, geo) / (sample,) -> mean and 94% HDI over draws."""
    out = {}
    for name, (per_geo, pooled) in draws.items():
        geo_stats = mean_and_hdi(per_geo.T, DRAW_HDI_PROB)
        pooled_stats = mean_and_hdi(pooled, DRAW_HDI_PROB)
        keys = ((f"{name}_per_draw_mean", None), (f"{name}_per_draw_hdi_low", DRAW_HDI_PROB),
                (f"{name}_per_draw_hdi_high", DRAW_HDI_PROB))
        for key, geo_value, pooled_value in zip(keys, geo_stats, pooled_stats, strict=True):
            out[key] = (geo_value, pooled_value)
    return out


def _predictive_stats(
    y: np.ndarray, y_ppc: np.ndarray
) -> dict[StatKey, tuple[np.ndarray, np.ndarray]]:
    """Mean fair CRPS and equal-tailed coverage of y (geo, date) by y_ppc (geo, date, n)."""
    crps = crps_sorted(np.sort(y_ppc, axis=-1), y)
    out = {("crps", None): (crps.mean(axis=-1), crps.mean())}
    for prob in COVERAGE_PROBS:
        low, high = equal_tailed(y_ppc, prob)
        inside = (y >= low) & (y <= high)
        out[("coverage", prob)] = (inside.mean(axis=-1), inside.mean())
    return out


def _geo_rows(
    quantity: str, stats: dict[StatKey, tuple[np.ndarray, np.ndarray]], geos: list[str]
) -> list[Row]:
    """Rows per geo and pooled (``geo="all"``) of ``{(stat, level): (per_geo, pooled)}``."""
    rows = []
    for (stat, level), (per_geo, pooled) in stats.items():
        rows += [metric_row(quantity, stat, v, level, geo=g)
                 for g, v in zip(geos, per_geo, strict=True)]
        rows.append(metric_row(quantity, stat, pooled, level, geo=ALL))
    return rows
