"""Steady-state response curves and marginal ROAS, of the truth and of a posterior.

A channel's steady-state response ``f_gc(s)`` is its weekly contribution in geo ``g``
(y units per week) once a constant weekly spend ``s`` (currency per week) has run long
enough for the carry-over to settle. It is what a planner changes when moving budget,
and, unlike average ROAS, what the observed spend range identifies.

Pooled over geos, extra spend is allocated in proportion to each geo's mean weekly
spend, ``w_gc = mean_t spend[t, g, c] / sum_g mean_t spend[t, g, c]``:

- ``response_curve`` ``F_c(S) = sum_g f_gc(w_gc S)`` on ``RESPONSE_POINTS`` total weekly
  spends ``S`` from 0 to ``BEYOND`` x the largest observed total weekly spend
  ``max_t sum_g spend[t, g, c]`` (coordinate ``response_spend``; ``spend_fraction`` is
  ``S`` over that maximum, so the observed range is ``spend_fraction <= 1``);
- ``marginal_roas_by_geo`` ``f_gc'(s_gc)`` at the geo's mean weekly spend ``s_gc``, by a
  central difference of relative step ``MARGINAL_STEP``; NaN where the geo never spends;
- ``marginal_roas`` ``F_c'(S_c) = sum_g w_gc f_gc'(s_gc)`` at the mean total spend ``S_c``:
  y units per extra currency unit, spread over geos like today's spend.

The same function computes the truth (from the generator's transforms) and the posterior
(from each library's own transforms and posterior draws), so both sides are on one grid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

RESPONSE_POINTS = 25
BEYOND = 1.2
"""The curve runs to 20 % past the largest observed weekly spend."""
MARGINAL_STEP = 1e-3
"""Relative half-step of the central difference (error ~ step**2)."""
CURVE_VARIABLES = ("response_curve", "marginal_roas", "marginal_roas_by_geo")

ResponseFunction = Callable[[xr.DataArray], xr.DataArray]
"""Constant weekly spend (geo, channel, spend_point), currency per week -> steady-state
weekly contribution ([chain, draw,] geo, channel, spend_point), y units per week."""


def spend_fractions() -> np.ndarray:
    """Grid spends as fractions of the largest observed total weekly spend (points,)."""
    return np.linspace(0.0, BEYOND, RESPONSE_POINTS)


def response_summaries(response: ResponseFunction, spend: xr.DataArray) -> xr.Dataset:
    """``response_curve`` ([chain, draw,] channel, spend_point), ``marginal_roas``
    ([chain, draw,] channel) and ``marginal_roas_by_geo`` ([chain, draw,] geo, channel)
    of ``response`` on the grid of the observed ``spend`` (date, geo, channel).

    ``response`` is called once per channel, so memory stays at one channel's draws.
    """
    mean = spend.mean("date")
    allocation = (mean / mean.sum("geo")).fillna(0.0)
    observed_max = spend.sum("geo").max("date")
    fraction = xr.DataArray(spend_fractions(), dims="spend_point")
    grid = observed_max * fraction
    steps = xr.DataArray([1.0 - MARGINAL_STEP, 1.0 + MARGINAL_STEP], dims="spend_point")
    curves, marginals = [], []
    for channel in spend["channel"].values:
        one = {"channel": [channel]}
        curves.append(response(allocation.sel(one) * grid.sel(one)).sum("geo"))
        ends = response(mean.sel(one) * steps)
        rise = ends.isel(spend_point=1) - ends.isel(spend_point=0)
        marginals.append(rise / (2 * MARGINAL_STEP * mean.sel(one).where(mean.sel(one) > 0)))
    by_geo = xr.concat(marginals, "channel")
    pooled = (by_geo.where(allocation > 0, 0.0) * allocation).sum("geo")
    return xr.Dataset(
        {"response_curve": xr.concat(curves, "channel"), "marginal_roas": pooled,
         "marginal_roas_by_geo": by_geo},
    ).assign_coords(response_spend=grid, spend_fraction=fraction)


def observed_range(ds: xr.Dataset, include_zero: bool = False) -> xr.DataArray:
    """Boolean (spend_point,): grid points inside the observed spend range; spend 0 only
    with ``include_zero`` (every curve is 0 there: it would flatter a coverage)."""
    fraction = ds["spend_fraction"]
    inside = fraction <= 1.0 + 1e-12
    return inside if include_zero else inside & (fraction > 0)
