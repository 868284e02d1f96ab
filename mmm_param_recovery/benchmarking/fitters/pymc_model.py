"""The PyMC-Marketing model: its spec per prior profile, and the built ``MMM``.

``pymc_model_spec(data, channels, controls, profile)`` decides every prior without
importing PyMC-Marketing; ``build_pymc_model_from_spec`` builds exactly that model.
Structure shared by all profiles: ``MMM(dims=("geo",))``, geometric adstock (``l_max=8``,
normalised) then a saturation (``SATURATIONS``: the Hill sigmoid by default, or the Hill
function, chosen by the fitter option ``saturation``), channels and target max-scaled
over dates per geo, yearly Fourier seasonality of order 2, the controls. ``library`` and ``matched``
add PyMC-Marketing's own linear trend with changepoints (``LinearTrendEffect``).
docs/models.md lists every prior of every profile, read off the built objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.fitters.model_spec import Dist, check_profile, dist
from mmm_param_recovery.benchmarking.fitters.priors import (
    ADSTOCK_BETA_PRIOR,
    ADSTOCK_MAX_LAG,
    HALF_NORMAL_SHAPE_SIGMA,
    TARGET_COLUMN,
    YEARLY_FOURIER_ORDER,
    spend_share_prior_sigma,
    validate_model_inputs,
)
from mmm_param_recovery.benchmarking.fitters.roas_calibration import matched_asymptote_prior
from mmm_param_recovery.errors import FitSpecError, invalid

if TYPE_CHECKING:
    from pymc_marketing.mmm.multidimensional import MMM

TREND_PREFIX = "trend"
TREND_CHANGEPOINTS = 10
"""PyMC-Marketing's default number of ``LinearTrend`` changepoints (0.19.2)."""

LIBRARY_DEFAULTS = {
    "intercept": dist("Normal", ("geo",), mu=0.0, sigma=2.0),
    "likelihood": dist("Normal", ("date", "geo"), sigma=dist("HalfNormal", ("geo",), sigma=2.0)),
    "gamma_control": dist("Normal", ("geo", "control"), mu=0.0, sigma=2.0),
    "gamma_fourier": dist("Laplace", ("geo", "fourier_mode"), mu=0.0, b=1.0),
    "adstock_alpha": dist("Beta", ("geo", "channel"), alpha=1.0, beta=3.0),
    "saturation_sigma": dist("HalfNormal", ("geo", "channel"), sigma=1.5),
    "saturation_beta": dist("HalfNormal", ("geo", "channel"), sigma=1.5),
    "saturation_lam": dist("HalfNormal", ("geo", "channel"), sigma=1.5),
    "saturation_slope": dist("HalfNormal", ("geo", "channel"), sigma=1.5),
    "saturation_kappa": dist("HalfNormal", ("geo", "channel"), sigma=1.5),
    "trend_delta": dist("Laplace", ("changepoint",), mu=0.0, b=0.25),
}
"""PyMC-Marketing 0.19.2's default priors of this structure (``tests/test_model_spec.py``
checks them against the installed library)."""
_NON_MEDIA = ("intercept", "likelihood", "gamma_control", "gamma_fourier")
SATURATIONS = {"hill_sigmoid": ("sigma", "beta", "lam"), "hill": ("beta", "slope", "kappa")}
"""PyMC-Marketing saturations this benchmark builds -> their parameters, asymptote first.
``hill_sigmoid`` (``HillSaturationSigmoid``): ``sigma / (1 + exp(-beta (x - lam))) -
sigma / (1 + exp(beta lam))``; ``hill`` (``HillSaturation``): ``beta x^slope / (x^slope +
kappa^slope)``, the form of the generator's and Meridian's Hill curve."""
DEFAULT_SATURATION = "hill_sigmoid"


def _media_keys(saturation: str) -> tuple[str, ...]:
    return ("adstock_alpha", *(f"saturation_{name}" for name in SATURATIONS[saturation]))


def _asymptote_key(saturation: str) -> str:
    """The model_config key of the saturation's asymptote (its effect size)."""
    return f"saturation_{SATURATIONS[saturation][0]}"


@dataclass(frozen=True)
class PyMCModelSpec:
    """Everything that defines the PyMC-Marketing model of one dataset and profile.

    ``priors``: ``(model_config key, Dist)`` pairs in a fixed order; priors are on the
    max-scaled target and spend. ``trend_changepoints``: 0 = no trend term.
    """

    profile: str
    channels: tuple[str, ...]
    controls: tuple[str, ...]
    priors: tuple[tuple[str, Dist], ...]
    adstock: str = "geometric"
    adstock_l_max: int = ADSTOCK_MAX_LAG
    adstock_normalize: bool = True
    saturation: str = "hill_sigmoid"
    yearly_seasonality: int = YEARLY_FOURIER_ORDER
    trend_changepoints: int = 0
    scaling: str = "max over dates per geo (channels and target)"
    library: str = "pymc"


def _seed_media_priors(data_df: pd.DataFrame, channels: Sequence[str],
                       saturation: str) -> dict[str, Dist]:
    """The original design: spend-share HalfNormal on the channel-level asymptote mean,
    HalfNormal shape parameters."""
    sigma = spend_share_prior_sigma(data_df, channels).loc[list(channels)]
    shape = dist("HalfNormal", ("channel",), sigma=HALF_NORMAL_SHAPE_SIGMA)
    a, b = ADSTOCK_BETA_PRIOR
    asymptote = dist("InverseGamma", ("geo", "channel"),
                     mu=dist("HalfNormal", ("channel",), sigma=tuple(float(s) for s in sigma)),
                     sigma=dist("HalfNormal", sigma=HALF_NORMAL_SHAPE_SIGMA))
    alpha_key, asymptote_key, *shape_keys = _media_keys(saturation)
    return {alpha_key: dist("Beta", ("channel",), alpha=a, beta=b), asymptote_key: asymptote,
            **{key: shape for key in shape_keys}}


def check_saturation(saturation: str) -> str:
    """``saturation`` if it is one of ``SATURATIONS``; FitSpecError naming them otherwise."""
    if saturation not in SATURATIONS:
        raise invalid("settings.options.saturation", saturation, str(tuple(SATURATIONS)),
                      FitSpecError)
    return saturation


def pymc_model_spec(data_df: pd.DataFrame, channel_columns: Sequence[str],
                    control_columns: Sequence[str], profile: str = "seed",
                    saturation: str = DEFAULT_SATURATION) -> PyMCModelSpec:
    """The model spec of ``profile`` with ``saturation`` on this dataset (FitSpecError for
    bad input)."""
    check_profile(profile)
    check_saturation(saturation)
    validate_model_inputs(data_df, channel_columns, control_columns)
    channels, controls = tuple(channel_columns), tuple(control_columns)
    priors = {k: LIBRARY_DEFAULTS[k] for k in _NON_MEDIA}
    if profile == "seed":
        priors.update(_seed_media_priors(data_df, channels, saturation))
        return PyMCModelSpec(profile, channels, controls, tuple(priors.items()),
                             saturation=saturation)
    priors.update({k: LIBRARY_DEFAULTS[k] for k in _media_keys(saturation)})
    if profile == "matched":
        priors[_asymptote_key(saturation)] = matched_asymptote_prior(
            data_df, channels, priors, saturation)
    priors["trend_delta"] = LIBRARY_DEFAULTS["trend_delta"]
    return PyMCModelSpec(profile, channels, controls, tuple(priors.items()),
                         saturation=saturation, trend_changepoints=TREND_CHANGEPOINTS)


def to_prior(prior: Dist, channels: Sequence[str]) -> Any:
    """The ``pymc_extras.prior.Prior`` of ``prior``; per-channel tuples become DataArrays
    on ``channel``."""
    import xarray as xr
    from pymc_extras.prior import Prior

    def value(v: Any) -> Any:
        if isinstance(v, Dist):
            return to_prior(v, channels)
        if isinstance(v, tuple):
            return xr.DataArray(np.asarray(v, dtype=float), dims=("channel",),
                                coords={"channel": list(channels)})
        return v

    kwargs = {key: value(v) for key, v in prior.params}
    return Prior(prior.name, dims=prior.dims or None, **kwargs)


def pymc_inputs(
    data_df: pd.DataFrame, channel_columns: Sequence[str], control_columns: Sequence[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """``(X, y)`` for PyMC-Marketing: X holds date, geo, spend (currency) and controls;
    y is the target in original units. Rows as in ``data_df``."""
    x = data_df[["date", "geo", *channel_columns, *control_columns]].copy()
    x["geo"] = x["geo"].astype(str)
    return x, data_df[TARGET_COLUMN].astype(float)


def _mmm(spec: PyMCModelSpec) -> MMM:
    from pymc_marketing.mmm import GeometricAdstock, HillSaturation, HillSaturationSigmoid
    from pymc_marketing.mmm.multidimensional import MMM

    priors = {key: to_prior(prior, spec.channels) for key, prior in spec.priors}
    saturation_class = {"hill_sigmoid": HillSaturationSigmoid, "hill": HillSaturation}
    saturation = saturation_class[spec.saturation](priors={
        name: priors[f"saturation_{name}"] for name in SATURATIONS[spec.saturation]})
    adstock = GeometricAdstock(l_max=spec.adstock_l_max, normalize=spec.adstock_normalize,
                               priors={"alpha": priors["adstock_alpha"]})
    config = {key: priors[key] for key in _NON_MEDIA}
    return MMM(
        date_column="date", target_column=TARGET_COLUMN, channel_columns=list(spec.channels),
        control_columns=list(spec.controls) or None, dims=("geo",),
        scaling={"channel": {"method": "max", "dims": ()},
                 "target": {"method": "max", "dims": ()}},
        adstock=adstock, saturation=saturation, yearly_seasonality=spec.yearly_seasonality,
        model_config=config,
    )


def _add_trend(mmm: MMM, spec: PyMCModelSpec) -> None:
    from pymc_marketing.mmm.additive_effect import LinearTrendEffect
    from pymc_marketing.mmm.linear_trend import LinearTrend

    delta = to_prior(dict(spec.priors)["trend_delta"], spec.channels)
    trend = LinearTrend(priors={"delta": delta}, n_changepoints=spec.trend_changepoints)
    mmm.mu_effects.append(LinearTrendEffect(trend=trend, prefix=TREND_PREFIX))


def build_pymc_model_from_spec(data_df: pd.DataFrame, spec: PyMCModelSpec) -> MMM:
    """A built (not fitted) MMM of ``spec`` on ``data_df``, with the original-scale (y
    units) contribution variables the canonical conversion reads."""
    validate_model_inputs(data_df, spec.channels, spec.controls)
    mmm = _mmm(spec)
    if spec.trend_changepoints:
        _add_trend(mmm, spec)
    x, y = pymc_inputs(data_df, spec.channels, spec.controls)
    mmm.build_model(x, y)
    contributions = ["channel_contribution", "intercept_contribution",
                     "yearly_seasonality_contribution", TARGET_COLUMN]
    if spec.controls:
        contributions.append("control_contribution")
    if spec.trend_changepoints:
        contributions.append(f"{TREND_PREFIX}_effect_contribution")
    mmm.add_original_scale_contribution_variable(var=contributions)
    return mmm


def build_pymc_model(
    data_df: pd.DataFrame, channel_columns: Sequence[str], control_columns: Sequence[str]
) -> MMM:
    """The seed API's builder: the ``seed`` profile's MMM (see the module docstring and
    ``pymc_model_spec``) on ``data_df``."""
    spec = pymc_model_spec(data_df, channel_columns, control_columns, "seed")
    return build_pymc_model_from_spec(data_df, spec)


def pymc_observed_frame(mmm: MMM) -> pd.DataFrame:
    """The observed frame (date, geo, x*, c*, y) a built MMM was built on (its ``X`` and
    ``y``), rows as given to ``build_model``."""
    frame = mmm.X.reset_index(drop=True).copy()
    frame[TARGET_COLUMN] = np.asarray(mmm.y, dtype=float)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
