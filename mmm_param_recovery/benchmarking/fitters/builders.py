"""Build the unfitted PyMC-Marketing and Meridian models of one observed dataset.

Both builders take the observed data frame of docs/architecture.md (one row per
(date, geo), spend columns ``x{i}_{name}``, controls ``c{k}``, target ``y``), check it
(``FitSpecError`` before anything is built) and derive the media prior scale from spend
shares (``spend_share_prior_sigma``). The libraries are imported lazily, inside the
functions. docs/models.md lists every prior either model ends up with.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.fitters.priors import (
    ADSTOCK_BETA_PRIOR,
    ADSTOCK_MAX_LAG,
    HALF_NORMAL_SHAPE_SIGMA,
    TARGET_COLUMN,
    YEARLY_FOURIER_ORDER,
    meridian_knots,
    spend_share_prior_sigma,
    validate_model_inputs,
)

if TYPE_CHECKING:
    from meridian.model.model import Meridian
    from pymc_marketing.mmm.multidimensional import MMM

__all__ = [
    "build_meridian_model",
    "build_pymc_model",
    "pymc_inputs",
    "expected_meridian_warnings",
    "spend_share_prior_sigma",
]

MERIDIAN_EXPECTED_WARNINGS = (
    "Using coefficient priors",  # chosen on purpose (spend-share beta_m priors)
    "Revenue from the `kpi` data is used",  # revenue KPI: no revenue_per_kpi needed
    "The `population` argument is ignored in a nationally aggregated model",
    "Hierarchical distribution parameters must be deterministically zero",  # national
    "The `aggregate_geos` argument is ignored in the national model",
    "trace group is not defined",  # Meridian's extra InferenceData group
)
"""Warnings Meridian emits for choices this package makes on purpose."""
MERIDIAN_TIME_FORMAT = "%Y-%m-%d"
"""Meridian's time coordinates are strings; dates are written in this format."""
POPULATION_COLUMN = "population"


@contextmanager
def expected_meridian_warnings() -> Iterator[None]:
    """Silence ``MERIDIAN_EXPECTED_WARNINGS`` (and only those) inside the block."""
    with warnings.catch_warnings():
        for message in MERIDIAN_EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=re.escape(message))
        yield


def pymc_inputs(
    data_df: pd.DataFrame, channel_columns: Sequence[str], control_columns: Sequence[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """``(X, y)`` for PyMC-Marketing: X holds date, geo, spend (currency) and controls;
    y is the target in original units. Rows as in ``data_df``."""
    x = data_df[["date", "geo", *channel_columns, *control_columns]].copy()
    x["geo"] = x["geo"].astype(str)
    return x, data_df[TARGET_COLUMN].astype(float)


def build_pymc_model(
    data_df: pd.DataFrame, channel_columns: Sequence[str], control_columns: Sequence[str]
) -> MMM:
    """A built (not fitted) ``pymc_marketing.mmm.multidimensional.MMM`` with ``dims=("geo",)``.

    Geometric adstock (``l_max=8``, normalised, Beta(1, 3) decay per channel) then a
    Hill sigmoid saturation whose asymptote ``sigma`` varies by geo around a
    channel-level mean with a HalfNormal(spend-share sigma) prior; channels and target
    max-scaled per geo; yearly Fourier seasonality of order 2; the controls. The model is
    built on the data (``build_model``) and carries the original-scale (y units)
    contribution variables, which must be added before fitting.
    """
    validate_model_inputs(data_df, channel_columns, control_columns)
    prior_sigma = spend_share_prior_sigma(data_df, channel_columns)
    mmm = _pymc_mmm(list(channel_columns), list(control_columns), prior_sigma)
    x, y = pymc_inputs(data_df, channel_columns, control_columns)
    mmm.build_model(x, y)
    contributions = ["channel_contribution", "intercept_contribution",
                     "yearly_seasonality_contribution", TARGET_COLUMN]
    if control_columns:
        contributions.append("control_contribution")
    mmm.add_original_scale_contribution_variable(var=contributions)
    return mmm


def _pymc_mmm(
    channel_columns: list[str], control_columns: list[str], prior_sigma: pd.Series
) -> MMM:
    import xarray as xr
    from pymc_extras.prior import Prior
    from pymc_marketing.mmm import GeometricAdstock, HillSaturationSigmoid
    from pymc_marketing.mmm.multidimensional import MMM

    sigma_mu = xr.DataArray(
        prior_sigma.loc[channel_columns].to_numpy(dtype=float),
        dims=("channel",), coords={"channel": channel_columns},
    )
    shape = Prior("HalfNormal", sigma=HALF_NORMAL_SHAPE_SIGMA, dims=("channel",))
    saturation = HillSaturationSigmoid(priors={
        "sigma": Prior(
            "InverseGamma",
            mu=Prior("HalfNormal", sigma=sigma_mu, dims=("channel",)),
            sigma=Prior("HalfNormal", sigma=HALF_NORMAL_SHAPE_SIGMA),
            dims=("geo", "channel"),
        ),
        "beta": shape,
        "lam": shape,
    })
    a, b = ADSTOCK_BETA_PRIOR
    adstock = GeometricAdstock(
        l_max=ADSTOCK_MAX_LAG, normalize=True,
        priors={"alpha": Prior("Beta", alpha=a, beta=b, dims=("channel",))},
    )
    return MMM(
        date_column="date", target_column=TARGET_COLUMN, channel_columns=channel_columns,
        control_columns=control_columns or None, dims=("geo",),
        scaling={"channel": {"method": "max", "dims": ()},
                 "target": {"method": "max", "dims": ()}},
        adstock=adstock, saturation=saturation, yearly_seasonality=YEARLY_FOURIER_ORDER,
    )


def build_meridian_model(
    data_df: pd.DataFrame, channel_columns: Sequence[str], control_columns: Sequence[str]
) -> Meridian:
    """An unfitted ``meridian.model.model.Meridian`` on the dataset.

    Revenue KPI (``y``), media = spend, population = the ``population`` column or ones;
    coefficient media priors ``beta_m ~ LogNormal(0, spend-share sigma)``, adstock decay
    ``alpha_m ~ Beta(1, 3)``, adstock before Hill, ``max_lag=8``, log-normal geo media
    effects and one residual sigma per geo (geo models only; a one-geo dataset is a
    national model, where Meridian fixes both), ``meridian_knots(n_weeks)`` trend knots.
    """
    validate_model_inputs(data_df, channel_columns, control_columns)
    prior_sigma = spend_share_prior_sigma(data_df, channel_columns)
    from meridian.model import model

    with expected_meridian_warnings():
        input_data = _meridian_input_data(
            data_df, list(channel_columns), list(control_columns))
        model_spec = _meridian_spec(
            prior_sigma.loc[list(channel_columns)].to_numpy(dtype=np.float64),
            n_geos=data_df["geo"].nunique(), n_times=data_df["date"].nunique(),
        )
    with expected_meridian_warnings():
        return model.Meridian(input_data=input_data, model_spec=model_spec)


def _meridian_input_data(
    data_df: pd.DataFrame, channel_columns: list[str], control_columns: list[str]
):
    from meridian.data.data_frame_input_data_builder import DataFrameInputDataBuilder

    frame = data_df.assign(
        time=data_df["date"].dt.strftime(MERIDIAN_TIME_FORMAT),
        geo=data_df["geo"].astype(str),
    )
    if POPULATION_COLUMN not in frame.columns:
        frame[POPULATION_COLUMN] = 1.0
    builder = DataFrameInputDataBuilder(kpi_type="revenue", default_time_column="time")
    builder = builder.with_kpi(frame, kpi_col=TARGET_COLUMN).with_population(frame)
    if control_columns:
        builder = builder.with_controls(frame, control_cols=control_columns)
    builder = builder.with_media(
        frame, media_cols=channel_columns, media_spend_cols=channel_columns,
        media_channels=channel_columns,
    )
    return builder.build()


def _meridian_spec(prior_sigma: np.ndarray, n_geos: int, n_times: int):
    from meridian import backend
    from meridian.model import prior_distribution, spec

    tfd = backend.tfd
    a, b = ADSTOCK_BETA_PRIOR
    prior = prior_distribution.PriorDistribution(
        beta_m=tfd.LogNormal(np.zeros_like(prior_sigma), prior_sigma, name="beta_m"),
        alpha_m=tfd.Beta(np.float64(a), np.float64(b), name="alpha_m"),
    )
    geo_model = n_geos > 1
    return spec.ModelSpec(
        prior=prior,
        media_effects_dist="log_normal" if geo_model else "normal",
        hill_before_adstock=False,
        max_lag=ADSTOCK_MAX_LAG,
        unique_sigma_for_each_geo=geo_model,
        media_prior_type="coefficient",
        knots=meridian_knots(n_times),
    )


def pymc_observed_frame(mmm: MMM) -> pd.DataFrame:
    """The observed frame (date, geo, x*, c*, y) a built MMM was built on (its ``X`` and
    ``y``), rows as given to ``build_model``."""
    frame = mmm.X.reset_index(drop=True).copy()
    frame[TARGET_COLUMN] = np.asarray(mmm.y, dtype=float)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


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
    frame[POPULATION_COLUMN] = frame["geo"].map(data.population.to_series())
    frame["date"] = pd.to_datetime(frame["time"], format=MERIDIAN_TIME_FORMAT)
    columns = ["date", "geo", *map(str, spend.columns)]
    if data.controls is not None:
        columns += list(map(str, parts[-1].columns))
    frame = frame[[*columns, TARGET_COLUMN, POPULATION_COLUMN]]
    return frame.sort_values(["date", "geo"], kind="stable").reset_index(drop=True)
