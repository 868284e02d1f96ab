"""A fitted Meridian model -> canonical posterior (docs/architecture.md).

Meridian models the scaled KPI ``k = (y / population - mean) / std`` (mean and std of
the population-scaled KPI over all geos and weeks) as

    k[g, t] = mu_t[t] + tau_g[g] + sum_m beta_gm[g, m] * hill(adstock(media))[g, t, m]
              + sum_c gamma_gc[g, c] * controls_scaled[g, t, c] + N(0, sigma[g]).

Here, in y units:

- ``channel_contribution``: Meridian's ``Analyzer.incremental_outcome`` per geo and week
  against zero media in every week, so carry-over into later weeks is counted where it
  lands, as in the truth;
- ``non_media``: ``((mu_t + tau_g + controls) * std + mean) * population``, computed from
  the posterior parameters;
- the library's own mu is ``Analyzer.expected_outcome`` per geo and week;
- ``y_ppc``: noise drawn from ``N(0, sigma[g])`` on the scaled KPI, unscaled (times
  ``std * population``) and added to Meridian's expected outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.fitters.canonical import (
    SAMPLE_DIMS,
    LibraryParts,
    assemble_canonical,
    canonical_coords,
)

if TYPE_CHECKING:
    from meridian.model.model import Meridian

SAMPLED = ("knot_values", "sigma", "alpha_m", "ec_m", "slope_m", "eta_m", "beta_m",
           "gamma_c", "xi_c")
"""Meridian's sampled parameters stored under their own names in its posterior (those
whose prior is a point mass, e.g. ``slope_m``, are dropped)."""
GEO_LEVEL = ("beta_gm", "gamma_gc")
"""Geo-level coefficients: sampled non-centred (``*_dev``), stored centred; kept only
for geo models (in a national model they equal ``beta_m`` / ``gamma_c``)."""
_RENAME = {"time": "date", "media_channel": "channel"}


def canonical_posterior(
    model: Meridian, data_df: pd.DataFrame, *, seed: int = 0,
    attrs: Mapping[str, object] | None = None,
) -> az.InferenceData:
    """The canonical InferenceData of a fitted Meridian model, y units, data coords.

    ``seed`` seeds the observation noise of ``y_ppc``; ``attrs`` go on the posterior.
    """
    return _canonical_posterior(model, data_df, seed, attrs or {})


def _canonical_posterior(
    model: Meridian, data_df: pd.DataFrame, seed: int, attrs: Mapping[str, object]
) -> az.InferenceData:
    from meridian.analysis.analyzer import Analyzer

    analyzer = Analyzer(model_context=model.model_context, inference_data=model.inference_data)
    channels = list(model.input_data.media_channel.values)
    coords = canonical_coords(data_df, channels)
    coords["meridian_geo"] = _meridian_geos(model, coords["geo"])
    library_mu = _expected_outcome(analyzer, model, coords)
    contribution = analyzer.incremental_outcome_xr(aggregate_geos=False, aggregate_times=False)
    posterior = model.inference_data.posterior
    parts = LibraryParts(
        channel_contribution=_on_canonical(contribution, coords),
        non_media=_non_media(model, posterior, coords),
        library_mu=library_mu,
        y_ppc=library_mu + _noise(model, posterior, coords, seed),
        adstock_alpha=_on_canonical(posterior["alpha_m"], coords),
        adstock_normalized=True,
        free_parameters=_free_parameters(model, posterior),
        sample_stats=model.inference_data.sample_stats,
        response=_response(model, posterior, coords),
    )
    return assemble_canonical(parts, data_df, channels, attrs)


def _response(model: Meridian, posterior: xr.Dataset, coords: dict):
    """Meridian's steady-state response per draw (``metrics.response``): its own Hill
    transform with the posterior ``ec_m`` and ``slope_m`` applied to the spend over
    Meridian's media scale (population x the channel's median), times ``beta_gm`` and
    the KPI scale ``std x population`` (y units per week). Its adstock weights are
    normalised, so the settled adstock of a constant spend is the spend itself."""
    from meridian.model.adstock_hill import HillTransformer

    _, std, population = _kpi_scale(model)
    channels = [str(c) for c in model.input_data.media_channel.values]
    media_scale = _data_array(model.media_tensors.media_transformer.scale_factors_gm,
                              ("geo", "media_channel"), model)
    media_scale = media_scale.assign_coords(media_channel=channels)
    beta = posterior["beta_gm"] if "beta_gm" in posterior else posterior["beta_m"]
    amplitude = _on_canonical(beta * std * population, coords)
    media_scale = _on_canonical(media_scale, coords)
    ec, slope = (_on_canonical(posterior[name], coords) for name in ("ec_m", "slope_m"))

    def response(spend: xr.DataArray) -> xr.DataArray:
        chosen = {"channel": spend["channel"].values}
        media = (spend / media_scale.sel(chosen)).transpose("geo", "spend_point", "channel")
        hill = HillTransformer(ec=ec.sel(chosen).values, slope=slope.sel(chosen).values
                               ).forward(media.values)
        values = xr.DataArray(np.asarray(hill), dims=(*SAMPLE_DIMS, "geo", "spend_point",
                                                      "channel"), coords=media.coords)
        return (values * amplitude.sel(chosen)).transpose(
            *SAMPLE_DIMS, "geo", "channel", "spend_point")

    return response


def _meridian_geos(model: Meridian, geos: np.ndarray) -> np.ndarray:
    """Meridian's geo labels in canonical geo order (a national model has one geo,
    which Meridian calls ``national_geo``)."""
    if model.is_national:
        return np.asarray(model.input_data.kpi.coords["geo"].values)
    return geos


def _on_canonical(da: xr.DataArray, coords: dict) -> xr.DataArray:
    """Rename Meridian dims (time, media_channel), select the canonical coords by label
    and relabel geos with the data's names."""
    da = da.rename({k: v for k, v in _RENAME.items() if k in da.dims})
    if "geo" in da.dims:
        da = da.sel(geo=coords["meridian_geo"]).assign_coords(geo=coords["geo"])
    for dim in [d for d in ("date", "channel") if d in da.dims]:
        labels = da.coords[dim].values
        labels = pd.to_datetime(labels).values if dim == "date" else labels.astype(str)
        da = da.assign_coords({dim: labels}).sel({dim: coords[dim]})
    return da.transpose(*SAMPLE_DIMS, *[d for d in ("date", "geo", "channel") if d in da.dims],
                        missing_dims="ignore")


def _data_array(values, dims: tuple[str, ...], model: Meridian) -> xr.DataArray:
    """A (…, geo, time) tensor of this model as a DataArray with Meridian's coords."""
    kpi = model.input_data.kpi
    coords = {d: kpi.coords[d].values for d in dims if d in ("geo", "time")}
    return xr.DataArray(np.asarray(values), dims=dims, coords=coords)


def _expected_outcome(analyzer, model: Meridian, coords: dict) -> xr.DataArray:
    """Meridian's expected y per draw, geo and week (no noise), y units."""
    outcome = analyzer.expected_outcome(aggregate_geos=False, aggregate_times=False)
    return _on_canonical(_data_array(outcome, (*SAMPLE_DIMS, "geo", "time"), model), coords)


def _kpi_scale(model: Meridian) -> tuple[float, float, xr.DataArray]:
    """(mean, std) of the population-scaled KPI and the population per geo."""
    kpi = model.kpi_transformer
    population = _data_array(model.population, ("geo",), model)
    return float(kpi.population_scaled_mean), float(kpi.population_scaled_stdev), population


def _non_media(model: Meridian, posterior: xr.Dataset, coords: dict) -> xr.DataArray:
    """Trend/seasonality knots + geo intercept + controls, unscaled to y units."""
    mean, std, population = _kpi_scale(model)
    scaled = posterior["mu_t"] + posterior["tau_g"]
    if model.controls_scaled is not None:
        controls = _data_array(model.controls_scaled, ("geo", "time", "control_variable"), model)
        scaled = scaled + (posterior["gamma_gc"] * controls).sum("control_variable")
    return _on_canonical((scaled * std + mean) * population, coords)


def _noise(model: Meridian, posterior: xr.Dataset, coords: dict, seed: int) -> xr.DataArray:
    """One observation-noise draw per draw, geo and week, y units."""
    _, std, population = _kpi_scale(model)
    sigma = posterior["sigma"]
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], len(coords["geo"]),
             len(coords["date"]))
    eps = xr.DataArray(
        np.random.default_rng(seed).standard_normal(shape),
        dims=(*SAMPLE_DIMS, "geo", "date"), coords={"geo": coords["geo"], "date": coords["date"]},
    )
    scale = _on_canonical((sigma * std * population).astype(float), coords)
    return (eps * scale).transpose(*SAMPLE_DIMS, "date", "geo")


def _free_parameters(model: Meridian, posterior: xr.Dataset) -> xr.Dataset:
    """Sampled parameters under Meridian's names; point-mass priors dropped; geo-level
    ones and ``tau_g_excl_baseline`` (``tau_g`` without the baseline geo's fixed 0)
    only for geo models."""
    prior = model.prior_broadcast
    names = [n for n in SAMPLED if n in posterior and not prior.has_deterministic_param(n)]
    free = posterior[names]
    if model.n_geos > 1:
        free = free.assign({n: posterior[n] for n in GEO_LEVEL if n in posterior})
        tau = posterior["tau_g"].drop_isel(geo=int(model.baseline_geo_idx))
        # own dim: on "geo" it would be realigned to every geo, with NaN for the baseline
        free = free.assign(tau_g_excl_baseline=tau.rename(geo="geo_excl_baseline"))
    return free
