"""Adstock and saturation transforms in plain, vectorised numpy.

Every function works along axis 0 (time) of an array of any trailing shape, e.g.
``(date, geo, channel)``, and broadcasts its parameters over the trailing axes, so a
whole dataset is transformed in one call. Definitions match PyMC-Marketing's
``geometric_adstock``, ``delayed_adstock``, ``weibull_adstock`` (pdf), ``hill_function``
and ``logistic_saturation`` (cross-checked in tests/test_transforms.py); ``hill_sigmoid``
is PyMC-Marketing's ``HillSaturationSigmoid`` divided by its asymptote (tests/test_scenarios.py).
"""

from __future__ import annotations

import numpy as np

ADSTOCK_FUNCTIONS = ("geometric", "delayed", "weibull")
SATURATION_FUNCTIONS = ("hill", "logistic", "hill_sigmoid")


def _convolve_lags(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """y[t] = sum_l weights[l] * x[t - l] along axis 0 (zero before the first period).

    ``x``: (time, ...); ``weights``: (l_max, ...) broadcastable against ``x[0]``.
    """
    out = np.zeros(np.broadcast_shapes(x.shape, weights.shape[1:]), dtype=float)
    n_time = x.shape[0]
    for lag in range(min(weights.shape[0], n_time)):
        out[lag:] += weights[lag] * x[: n_time - lag]
    return out


def _normalise(weights: np.ndarray, normalize: bool) -> np.ndarray:
    return weights / weights.sum(axis=0, keepdims=True) if normalize else weights


def geometric_weights(alpha: np.ndarray | float, l_max: int, normalize: bool) -> np.ndarray:
    """Weights alpha**l for l = 0..l_max-1, shape (l_max, *alpha.shape)."""
    alpha = np.asarray(alpha, dtype=float)
    lags = np.arange(l_max).reshape((l_max,) + (1,) * alpha.ndim)
    return _normalise(alpha**lags, normalize)


def delayed_weights(
    alpha: np.ndarray | float, theta: np.ndarray | float, l_max: int, normalize: bool
) -> np.ndarray:
    """Weights alpha**((l - theta)**2): a carry-over that peaks ``theta`` periods later."""
    alpha, theta = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(theta, float))
    lags = np.arange(l_max).reshape((l_max,) + (1,) * alpha.ndim)
    return _normalise(alpha ** ((lags - theta) ** 2), normalize)


def weibull_weights(
    lam: np.ndarray | float, k: np.ndarray | float, l_max: int, normalize: bool
) -> np.ndarray:
    """Weibull-pdf weights over lags 1..l_max, min-max scaled to [0, 1] before normalising.

    Same definition as PyMC-Marketing's ``weibull_adstock(type="PDF")``, except that a
    flat kernel (e.g. ``l_max=1``), where min-max scaling is 0/0, gets weights 1.
    """
    lam, k = np.broadcast_arrays(np.asarray(lam, float), np.asarray(k, float))
    t = np.arange(1, l_max + 1).reshape((l_max,) + (1,) * lam.ndim).astype(float)
    pdf = (k / lam) * (t / lam) ** (k - 1) * np.exp(-((t / lam) ** k))
    low, span = pdf.min(axis=0, keepdims=True), np.ptp(pdf, axis=0, keepdims=True)
    scaled = np.divide(pdf - low, span, out=np.ones(pdf.shape), where=span > 0)
    return _normalise(scaled, normalize)


def adstock_weights(fun: str, params: dict, l_max: int, normalize: bool) -> np.ndarray:
    """Lag weights (l_max, ...) of the named adstock with its parameters."""
    if fun == "geometric":
        return geometric_weights(params["alpha"], l_max, normalize)
    if fun == "delayed":
        return delayed_weights(params["alpha"], params["theta"], l_max, normalize)
    if fun == "weibull":
        return weibull_weights(params["lam"], params["k"], l_max, normalize)
    raise ValueError(f"adstock function {fun!r}; allowed: {ADSTOCK_FUNCTIONS}")


def geometric_adstock(
    x: np.ndarray, alpha: np.ndarray | float, l_max: int, normalize: bool = True
) -> np.ndarray:
    """Geometric carry-over of ``x`` (time, ...) with decay ``alpha`` in [0, 1)."""
    return _convolve_lags(np.asarray(x, float), geometric_weights(alpha, l_max, normalize))


def apply_adstock(x: np.ndarray, fun: str, params: dict, l_max: int, normalize: bool):
    """Carry-over of ``x`` (time, ...) by the named adstock; same units as ``x``."""
    return _convolve_lags(np.asarray(x, float), adstock_weights(fun, params, l_max, normalize))


def hill_saturation(x: np.ndarray, slope: np.ndarray | float, kappa: np.ndarray | float):
    """x**s / (kappa**s + x**s): 0 at x=0, 1/2 at x=kappa, tends to 1; x >= 0."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):  # tiny x: kappa / x -> inf, response -> 0 (exact limit)
        ratio = np.divide(kappa, x, out=np.full(np.broadcast(x, kappa).shape, np.inf),
                          where=x > 0)
        return 1.0 / (1.0 + ratio**slope)


def logistic_saturation(x: np.ndarray, lam: np.ndarray | float) -> np.ndarray:
    """(1 - exp(-lam x)) / (1 + exp(-lam x)): 0 at x=0, tends to 1; x >= 0."""
    return np.tanh(0.5 * np.asarray(lam, float) * np.asarray(x, dtype=float))


def hill_sigmoid_saturation(x: np.ndarray, beta: np.ndarray | float, lam: np.ndarray | float):
    """(s(beta (x - lam)) - s(-beta lam)) / (1 - s(-beta lam)) with s the logistic function:
    an S-curve through 0 at x=0 with its inflection at x=lam (if lam > 0), tending to 1."""
    x, beta, lam = (np.asarray(v, dtype=float) for v in (x, beta, lam))
    at_zero = 1.0 / (1.0 + np.exp(beta * lam))
    return (1.0 / (1.0 + np.exp(-beta * (x - lam))) - at_zero) / (1.0 - at_zero)


def apply_saturation(x: np.ndarray, fun: str, params: dict) -> np.ndarray:
    """Saturated response in [0, 1) of ``x`` (spend in units of the reference spend)."""
    if fun == "hill":
        return hill_saturation(x, params["slope"], params["kappa"])
    if fun == "logistic":
        return logistic_saturation(x, params["lam"])
    if fun == "hill_sigmoid":
        return hill_sigmoid_saturation(x, params["beta"], params["lam"])
    raise ValueError(f"saturation function {fun!r}; allowed: {SATURATION_FUNCTIONS}")
