"""The Meridian model: its spec per prior profile, and the built ``Meridian`` object.

Structure shared by all profiles: revenue KPI (``y``), media = spend, population = the
``population`` column or ones, adstock before Hill, ``max_lag=7`` (lags 0..7, the window
of PyMC-Marketing and of the data), ``meridian_knots(n)`` equally spaced knots,
log-normal geo media effects and one residual sigma per geo (geo models; a one-geo
dataset is a national model, where Meridian fixes both).

- ``seed``: coefficient priors ``beta_m ~ LogNormal(0, spend-share sigma)``, adstock
  decay ``alpha_m ~ Beta(1, 3)`` (the original design); Meridian's defaults otherwise.
- ``library``: Meridian 2.1.0's defaults with ``media_prior_type="roi"`` (its default
  ``roi_m ~ LogNormal(0.2, 0.9)``).
- ``matched``: ``roi_m ~ MATCHED_ROAS_PRIOR`` per channel, Meridian's defaults otherwise.

Priors are tfd distributions in float64 (Meridian's JAX backend runs in 64-bit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.fitters.model_spec import (
    MATCHED_ROAS_PRIOR,
    Dist,
    check_profile,
    dist,
)
from mmm_param_recovery.benchmarking.fitters.priors import (
    ADSTOCK_BETA_PRIOR,
    MERIDIAN_MAX_LAG,
    TARGET_COLUMN,
    meridian_knots,
    spend_share_prior_sigma,
    validate_model_inputs,
)
from mmm_param_recovery.data_generator.validation import POPULATION
from mmm_param_recovery.errors import FitSpecError

if TYPE_CHECKING:
    from meridian.model.model import Meridian

MERIDIAN_TIME_FORMAT = "%Y-%m-%d"
"""Meridian's time coordinates are strings; dates are written in this format."""

LIBRARY_DEFAULTS = {
    "roi_m": dist("LogNormal", loc=0.2, scale=0.9),
    "alpha_m": dist("Uniform", low=0.0, high=1.0),
    "ec_m": dist("TruncatedNormal", loc=0.8, scale=0.8, low=0.1, high=10.0),
    "slope_m": dist("Deterministic", loc=1.0),
    "beta_m": dist("HalfNormal", scale=5.0),
    "eta_m": dist("HalfNormal", scale=1.0),
    "knot_values": dist("Normal", loc=0.0, scale=5.0),
    "tau_g_excl_baseline": dist("Normal", loc=0.0, scale=5.0),
    "sigma": dist("HalfNormal", scale=5.0),
    "gamma_c": dist("Normal", loc=0.0, scale=5.0),
    "xi_c": dist("HalfNormal", scale=5.0),
}
"""Meridian 2.1.0's default priors (``tests/test_model_spec.py`` checks them against the
installed library); in a national model Meridian itself fixes tau_g, eta_m and xi_c."""
_SET_BY_US = ("beta_m", "alpha_m", "roi_m")


@dataclass(frozen=True)
class MeridianModelSpec:
    """Everything that defines the Meridian model of one dataset and profile.

    ``priors``: ``(PriorDistribution field, Dist)`` pairs, every parameter Meridian
    samples or fixes (our choices and its defaults alike); ``Dist`` parameters use tfd's
    names, on Meridian's scales (centred-and-scaled KPI, median-scaled media).
    """

    profile: str
    channels: tuple[str, ...]
    controls: tuple[str, ...]
    priors: tuple[tuple[str, Dist], ...]
    media_prior_type: str
    knots: int
    max_lag: int = MERIDIAN_MAX_LAG
    hill_before_adstock: bool = False
    media_effects_dist: str = "log_normal"
    unique_sigma_for_each_geo: bool = True
    library: str = "meridian"


KNOTS = ("auto", "1")
"""The ``knots`` option: ``auto`` (``meridian_knots``: a time effect that can follow a
yearly season and a trend) or ``1`` (one knot: a constant level, no time effect, for data
whose season and trend are observed controls)."""


def meridian_model_spec(data_df: pd.DataFrame, channel_columns: Sequence[str],
                        control_columns: Sequence[str], profile: str = "seed",
                        knots: str = "auto") -> MeridianModelSpec:
    """The model spec of ``profile`` with ``knots`` (KNOTS) on this dataset
    (FitSpecError for bad input)."""
    check_profile(profile)
    if knots not in KNOTS:
        raise FitSpecError(f"knots: {knots!r} is invalid; allowed: {', '.join(KNOTS)}")
    validate_model_inputs(data_df, channel_columns, control_columns)
    channels = tuple(channel_columns)
    priors = dict(LIBRARY_DEFAULTS)
    prior_type = "roi"
    if profile == "seed":
        sigma = spend_share_prior_sigma(data_df, channels).loc[list(channels)]
        priors["beta_m"] = dist("LogNormal", loc=(0.0,) * len(channels),
                                scale=tuple(float(s) for s in sigma))
        a, b = ADSTOCK_BETA_PRIOR
        priors["alpha_m"] = dist("Beta", concentration1=a, concentration0=b)
        prior_type = "coefficient"
    elif profile == "matched":
        _, mu, sigma = MATCHED_ROAS_PRIOR
        priors["roi_m"] = dist("LogNormal", loc=(mu,) * len(channels),
                               scale=(sigma,) * len(channels))
    geo_model = data_df["geo"].nunique() > 1
    return MeridianModelSpec(
        profile, channels, tuple(control_columns), tuple(priors.items()), prior_type,
        knots=meridian_knots(data_df["date"].nunique()) if knots == "auto" else 1,
        media_effects_dist="log_normal" if geo_model else "normal",
        unique_sigma_for_each_geo=geo_model,
    )


def to_tfd(name: str, prior: Dist) -> Any:
    """The float64 tfd distribution of ``prior`` named ``name``."""
    from meridian import backend

    params = {k: np.asarray(v, dtype=np.float64) for k, v in prior.params}
    return getattr(backend.tfd, prior.name)(**params, name=name)


def _meridian_input_data(
    data_df: pd.DataFrame, channel_columns: list[str], control_columns: list[str]
):
    from meridian.data.data_frame_input_data_builder import DataFrameInputDataBuilder

    frame = data_df.assign(
        time=data_df["date"].dt.strftime(MERIDIAN_TIME_FORMAT),
        geo=data_df["geo"].astype(str),
    )
    if POPULATION not in frame.columns:
        frame[POPULATION] = 1.0
    builder = DataFrameInputDataBuilder(kpi_type="revenue", default_time_column="time")
    builder = builder.with_kpi(frame, kpi_col=TARGET_COLUMN).with_population(frame)
    if control_columns:
        builder = builder.with_controls(frame, control_cols=control_columns)
    builder = builder.with_media(
        frame, media_cols=channel_columns, media_spend_cols=channel_columns,
        media_channels=channel_columns,
    )
    return builder.build()


def _meridian_spec(spec: MeridianModelSpec):
    from meridian.model import prior_distribution
    from meridian.model import spec as meridian_spec

    chosen = {name: to_tfd(name, prior) for name, prior in spec.priors
              if name in _SET_BY_US and prior != LIBRARY_DEFAULTS[name]}
    return meridian_spec.ModelSpec(
        prior=prior_distribution.PriorDistribution(**chosen),
        media_effects_dist=spec.media_effects_dist,
        hill_before_adstock=spec.hill_before_adstock,
        max_lag=spec.max_lag,
        unique_sigma_for_each_geo=spec.unique_sigma_for_each_geo,
        media_prior_type=spec.media_prior_type,
        knots=spec.knots,
    )


def build_meridian_model_from_spec(data_df: pd.DataFrame, spec: MeridianModelSpec) -> Meridian:
    """An unfitted ``Meridian`` of ``spec`` on ``data_df``. Meridian's warnings are not
    silenced: the fit child records them with the run."""
    validate_model_inputs(data_df, spec.channels, spec.controls)
    from meridian.model import model

    input_data = _meridian_input_data(data_df, list(spec.channels), list(spec.controls))
    return model.Meridian(input_data=input_data, model_spec=_meridian_spec(spec))


def build_meridian_model(
    data_df: pd.DataFrame, channel_columns: Sequence[str], control_columns: Sequence[str]
) -> Meridian:
    """The seed API's builder: the ``seed`` profile's Meridian model on ``data_df``."""
    spec = meridian_model_spec(data_df, channel_columns, control_columns, "seed")
    return build_meridian_model_from_spec(data_df, spec)


def meridian_observed_frame(model: Meridian) -> pd.DataFrame:
    """The observed frame (date, geo, x*, c*, y, population) of a Meridian model, read
    from its ``input_data``: one row per (date, geo), sorted by date then geo. Channel
    and control names are the ones the model was built with (``build_meridian_model``
    names Meridian's channels after the spend columns)."""
    data = model.input_data
    parts = [data.kpi.rename(TARGET_COLUMN).to_dataframe()[[TARGET_COLUMN]]]
    spend = data.media_spend.to_dataframe(name="spend")["spend"].unstack("media_channel")
    parts.append(spend)
    if data.controls is not None:
        controls = data.controls.to_dataframe(name="value")["value"]
        parts.append(controls.unstack(controls.index.names[-1]))
    frame = pd.concat(parts, axis=1).reset_index()
    frame[POPULATION] = frame["geo"].map(data.population.to_series())
    frame["date"] = pd.to_datetime(frame["time"], format=MERIDIAN_TIME_FORMAT)
    columns = ["date", "geo", *map(str, spend.columns)]
    if data.controls is not None:
        columns += list(map(str, parts[-1].columns))
    frame = frame[[*columns, TARGET_COLUMN, POPULATION]]
    return frame.sort_values(["date", "geo"], kind="stable").reset_index(drop=True)
