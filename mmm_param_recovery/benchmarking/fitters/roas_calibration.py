"""Calibrate PyMC-Marketing's effect-size prior so that its prior-implied ROAS matches the
``matched`` profile's ROAS prior (``model_spec.MATCHED_ROAS_PRIOR``).

PyMC-Marketing has no ROAS parametrisation, so the ``matched`` profile keeps its default
adstock and saturation-shape priors and gives the saturation's asymptote (the Hill
sigmoid's ``saturation_sigma``, the Hill function's ``saturation_beta``)
``[geo, c] ~ LogNormal(mu_c, s_c)``, with ``mu_c`` and ``s_c`` chosen by a prior Monte
Carlo of PyMC-Marketing's own transforms in numpy (max-scaling over dates per geo,
normalised geometric adstock, the unit-asymptote saturation ``1 / (1 + exp(-beta (x -
lam))) - 1 / (1 + exp(beta lam))`` or ``x^slope / (x^slope + kappa^slope)``, times the
per-geo target scale) so that the implied ROAS has the
target's 5 % and 95 % quantiles (the central 90 % interval, which the median cannot pin
down: PyMC-Marketing's log ROAS is skewed, so its median differs from the target's). The
draws use a fixed seed, so the spec is a deterministic function of the data. The check
that the built model really implies this ROAS is the prior-predictive check of every fit
(``metrics.prior_check``), from PyMC-Marketing's own prior samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.fitters.model_spec import MATCHED_ROAS_PRIOR, Dist, dist
from mmm_param_recovery.benchmarking.fitters.priors import ADSTOCK_MAX_LAG, TARGET_COLUMN

N_DRAWS = 4000
"""Prior draws of the calibration: at 500 the fitted sigma of a channel moved by up to 0.3
(Monte Carlo noise of the 5 % and 95 % quantiles); at 4000 it is stable to about 0.05."""
CALIBRATION_SEED = 20_261_202
_Z90 = 1.6448536269514722
_S_RANGE = (0.01, 4.0)


def _cubes(data_df: pd.DataFrame, channels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Spend (date, geo, channel) in currency and y (date, geo), rows sorted by date, geo."""
    frame = data_df.sort_values(["date", "geo"], kind="stable")
    n_dates, n_geos = frame["date"].nunique(), frame["geo"].nunique()
    spend = frame[list(channels)].to_numpy(float).reshape(n_dates, n_geos, len(channels))
    return spend, frame[TARGET_COLUMN].to_numpy(float).reshape(n_dates, n_geos)


def _draw(prior: Dist, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draws of a Beta or HalfNormal prior with scalar parameters."""
    if prior.name == "Beta":
        return rng.beta(prior.param("alpha"), prior.param("beta"), size)
    if prior.name == "HalfNormal":
        return np.abs(rng.normal(0.0, prior.param("sigma"), size))
    raise ValueError(f"prior {prior.name}: no numpy sampler; allowed: Beta, HalfNormal")


def _adstock(x: np.ndarray, alpha: np.ndarray, l_max: int) -> np.ndarray:
    """Normalised geometric adstock of x (date, geo) for alpha (draw, geo): (draw, date, geo)."""
    weights = alpha[..., None] ** np.arange(l_max)
    weights /= weights.sum(axis=-1, keepdims=True)
    out = np.zeros((alpha.shape[0], *x.shape))
    for lag in range(l_max):
        shifted = np.zeros_like(x)
        shifted[lag:] = x[: x.shape[0] - lag]
        out += weights[:, None, :, lag] * shifted[None]
    return out


def _unit_hill_sigmoid(x: np.ndarray, beta: np.ndarray, lam: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-beta * (x - lam))) - 1.0 / (1.0 + np.exp(beta * lam))


def _unit_hill(x: np.ndarray, slope: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 + np.exp(slope * (np.log(kappa) - np.log(x))))


UNIT_SATURATIONS = {"hill_sigmoid": (_unit_hill_sigmoid, ("saturation_beta", "saturation_lam")),
                    "hill": (_unit_hill, ("saturation_slope", "saturation_kappa"))}
"""Saturation name -> (its curve with asymptote 1 on (draw, date, geo) arrays, the prior
keys of its two shape parameters)."""


def unit_asymptote_roas_by_geo(data_df: pd.DataFrame, channels: Sequence[str],
                               priors: Mapping[str, Dist], saturation: str = "hill_sigmoid",
                               n: int = N_DRAWS, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """Per-geo ROAS parts with the saturation's asymptote 1: (draw, geo, channel) such that
    a channel's ROAS is ``sum_g asymptote[g] * part[:, g]``; y units per unit spend."""
    curve, shape_keys = UNIT_SATURATIONS[saturation]
    rng = np.random.default_rng(seed)
    spend, y = _cubes(data_df, channels)
    target_scale = y.max(axis=0)
    parts = np.zeros((n, spend.shape[1], len(channels)))
    for c in range(len(channels)):
        scale = spend[:, :, c].max(axis=0)
        x = spend[:, :, c] / np.where(scale > 0, scale, 1.0)
        size = (n, spend.shape[1])
        alpha, first, second = (_draw(priors[k], size, rng)
                                for k in ("adstock_alpha", *shape_keys))
        adstocked = _adstock(x, alpha, ADSTOCK_MAX_LAG)
        sat = curve(adstocked, first[:, None, :], second[:, None, :])
        parts[:, :, c] = (sat * target_scale).sum(axis=1) / spend[:, :, c].sum()
    return parts


def _log_interval(parts: np.ndarray, z: np.ndarray, s: float) -> tuple[float, float]:
    """5 % and 95 % quantiles of log ROAS for per-geo asymptotes exp(s z) (mu = 0)."""
    log_roas = np.log((np.exp(s * z) * parts).sum(axis=1))
    low, high = np.quantile(log_roas, [0.05, 0.95])
    return float(low), float(high)


def _log_width(parts: np.ndarray, z: np.ndarray, s: float) -> float:
    low, high = _log_interval(parts, z, s)
    return high - low


def _calibrate_channel(parts: np.ndarray, z: np.ndarray, target_width: float) -> tuple[float,
                                                                                         float]:
    """``(mu, s)`` of LogNormal per-geo asymptotes for one channel's parts (draw, geo)."""
    low, high = _S_RANGE
    if _log_width(parts, z, low) >= target_width:
        s = low  # the shape priors alone spread the ROAS wider than the target
    else:
        while high - low > 1e-3:
            mid = 0.5 * (low + high)
            low, high = (mid, high) if _log_width(parts, z, mid) < target_width else (low, mid)
        s = 0.5 * (low + high)
    q05, q95 = _log_interval(parts, z, s)
    return -0.5 * (q05 + q95), float(s)


def matched_asymptote_prior(data_df: pd.DataFrame, channels: Sequence[str],
                            priors: Mapping[str, Dist], saturation: str = "hill_sigmoid") -> Dist:
    """The asymptote prior ``LogNormal(mu_c, s_c)`` on (geo, channel) whose implied ROAS has
    the 5 % and 95 % quantiles of ``MATCHED_ROAS_PRIOR`` (see module docstring);
    ``priors`` supplies the adstock and saturation-shape priors (scalar Beta/HalfNormal)."""
    _, log_median, log_sigma = MATCHED_ROAS_PRIOR
    parts = unit_asymptote_roas_by_geo(data_df, channels, priors, saturation)
    z = np.random.default_rng(CALIBRATION_SEED + 1).normal(size=parts.shape[:2])
    fitted = [_calibrate_channel(parts[:, :, c], z, 2 * _Z90 * log_sigma)
              for c in range(len(channels))]
    mu = tuple(round(m + log_median, 6) for m, _ in fitted)
    s = tuple(round(v, 6) for _, v in fitted)
    return dist("LogNormal", ("geo", "channel"), mu=mu, sigma=s)
