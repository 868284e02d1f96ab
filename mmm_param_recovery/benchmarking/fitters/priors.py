"""Prior scales and input checks shared by the PyMC-Marketing and Meridian builders.

Nothing here imports a modelling library: the numbers below are computed from the
observed data frame (docs/architecture.md) and handed to both builders, so the two
models see the same data-derived prior scales. See docs/models.md for the priors each
library ends up with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmm_param_recovery.errors import FitSpecError

ADSTOCK_MAX_LAG = 8
"""Adstock window: the number of lag weights (lags 0..7), the generator presets' ``l_max``.
PyMC-Marketing takes it as ``l_max=8``; Meridian's ``max_lag`` counts lags after the
current week, so it gets ``MERIDIAN_MAX_LAG = 7``: both models then use exactly the
window of the data (see docs/models.md)."""
MERIDIAN_MAX_LAG = ADSTOCK_MAX_LAG - 1
ADSTOCK_BETA_PRIOR = (1.0, 3.0)
"""Beta(alpha, beta) prior of the geometric adstock decay, both libraries."""
HALF_NORMAL_SHAPE_SIGMA = 1.5
"""HalfNormal scale of PyMC-Marketing's Hill-sigmoid ``beta`` and ``lam`` and of the
geo spread of its asymptote ``sigma``."""
YEARLY_FOURIER_ORDER = 2
"""PyMC-Marketing ``yearly_seasonality``: Fourier order (2 sine + 2 cosine terms)."""
WEEKS_PER_YEAR = 52.18
MAX_KNOT_SPACING_WEEKS = WEEKS_PER_YEAR / 6
"""Largest spacing of Meridian's trend knots: at least six knots per year (see
``meridian_knots``)."""
KEY_COLUMNS = ("date", "geo")
_CONSTANT_RTOL = 1e-12
TARGET_COLUMN = "y"


def spend_share_prior_sigma(data_df: pd.DataFrame, channel_columns: Sequence[str]) -> pd.Series:
    """Per-channel prior scale from spend shares: ``n_channels x share``, averaged over geos.

    For each geo, ``share[c] = spend[c] / total spend`` over the whole window; the scale
    is ``n_channels * share`` (so a channel with an average share gets 1.0), averaged
    over geos with equal weight. Unitless; index = channel column names.
    """
    channels = list(channel_columns)
    by_geo = data_df.groupby("geo", sort=False)[channels].sum()
    totals = by_geo.sum(axis=1)
    if (totals <= 0).any():
        bad = list(totals.index[totals <= 0])
        raise FitSpecError(f"data: geo(s) {bad} have zero total spend; allowed: spend > 0")
    shares = by_geo.div(totals, axis=0)
    sigma = (len(channels) * shares).mean(axis=0)
    sigma.name = "prior_sigma"
    return sigma


def meridian_knots(n_times: int) -> int:
    """Number of equally spaced Meridian trend knots for ``n_times`` weeks.

    Meridian has no Fourier seasonality: its time effect ``mu_t`` is a piecewise-linear
    interpolation between knots, so seasonality must come from the knots. Knots that
    fall on the zeros of a yearly sine (spacing a multiple of 26 weeks, e.g. 5 knots
    over 105 weeks: weeks 0, 26, 52, 78, 104) interpolate it as exactly zero. We use the
    fewest knots whose spacing is at most a sixth of a year (~8.7 weeks): whatever its
    phase, a yearly sine is then interpolated with a largest error of
    ``1 - cos(pi / 6)`` = 13 % of its amplitude, and no spacing can be a multiple of 26.
    Returns at least 2.
    """
    if n_times < 2:
        raise FitSpecError(f"data.date: {n_times} week(s) is invalid; allowed: at least 2")
    return max(2, math.ceil((n_times - 1) / MAX_KNOT_SPACING_WEEKS) + 1)


def validate_model_inputs(
    data_df: pd.DataFrame, channel_columns: Sequence[str], control_columns: Sequence[str]
) -> None:
    """Raise FitSpecError, before any model is built, for data neither library can fit.

    Checks: the key, target, channel and control columns exist; no missing values;
    spend >= 0; every channel spends something; no control is constant over time in
    every geo (it would be collinear with the per-geo intercept).
    """
    if not channel_columns:
        raise FitSpecError("channel_columns: [] is invalid; allowed: at least one channel")
    needed = [*KEY_COLUMNS, TARGET_COLUMN, *channel_columns, *control_columns]
    missing = [c for c in needed if c not in data_df.columns]
    if missing:
        raise FitSpecError(
            f"data: missing column(s) {missing}; present: {list(map(str, data_df.columns))}"
        )
    numeric = data_df[[TARGET_COLUMN, *channel_columns, *control_columns]]
    nan_columns = list(numeric.columns[numeric.isna().any()])
    if nan_columns:
        raise FitSpecError(f"data: column(s) {nan_columns} contain NaN; allowed: finite values")
    _check_spend(data_df, channel_columns)
    _check_controls(data_df, control_columns)


def _check_spend(data_df: pd.DataFrame, channel_columns: Sequence[str]) -> None:
    spend = data_df[list(channel_columns)]
    negative = list(spend.columns[(spend < 0).any()])
    if negative:
        raise FitSpecError(f"data: channel(s) {negative} have negative spend; allowed: >= 0")
    silent = list(spend.columns[(spend.sum() <= 0).to_numpy()])
    if silent:
        raise FitSpecError(
            f"data: channel(s) {silent} never spend (total spend 0); allowed: channels "
            "with some spend (drop the column)"
        )


def _check_controls(data_df: pd.DataFrame, control_columns: Sequence[str]) -> None:
    if not control_columns:
        return
    spread = data_df.groupby("geo", sort=False)[list(control_columns)].std(ddof=0)
    level = data_df[list(control_columns)].abs().max()
    constant = [
        c for c in control_columns
        if bool(np.all(spread[c].to_numpy() <= _CONSTANT_RTOL * max(float(level[c]), 1.0)))
    ]
    if constant:
        raise FitSpecError(
            f"data: control(s) {constant} are constant over time in every geo; allowed: "
            "controls that vary (a constant is collinear with the intercept)"
        )
