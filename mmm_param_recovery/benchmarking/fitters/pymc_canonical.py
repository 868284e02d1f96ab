"""A fitted PyMC-Marketing MMM -> canonical posterior (docs/architecture.md).

Works on any fitted ``pymc_marketing.mmm.multidimensional.MMM`` built by
``model_builder.build_pymc_model``: one sampled with the adapter (free RVs only) or with
``MMM.fit`` (deterministics already there). Missing deterministics and the posterior
predictive are computed here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import arviz as az
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.fitters.canonical import (
    LibraryParts,
    assemble_canonical,
    canonical_coords,
)
from mmm_param_recovery.benchmarking.fitters.pymc_model import TREND_PREFIX, pymc_inputs

if TYPE_CHECKING:
    from pymc_marketing.mmm.multidimensional import MMM

LIBRARY_MU = "_mu_original_scale"
"""Deterministic added after the fit: the library's own ``mu`` (the mean of its
likelihood) times the target scale, y units, (date, geo). Used only for the identity."""
NON_MEDIA_TERMS = (
    "intercept_contribution_original_scale",
    "yearly_seasonality_contribution_original_scale",
)
CONTROL_TERM = "control_contribution_original_scale"
TREND_TERM = f"{TREND_PREFIX}_effect_contribution_original_scale"
PPC_VARIABLE = "y_original_scale"


def canonical_posterior(
    model: MMM, data_df: pd.DataFrame, *, seed: int = 0, attrs: Mapping[str, object] | None = None
) -> az.InferenceData:
    """The canonical InferenceData of a fitted MMM, in y units on the data's coords.

    ``seed`` seeds the posterior predictive draw (``y_ppc``) when the model has none yet.
    ``attrs`` are added to the posterior group.
    """
    add_library_mu(model)
    _compute_missing_deterministics(model)
    _sample_missing_predictive(model, data_df, seed)
    parts = _parts(model, data_df)
    return assemble_canonical(parts, data_df, model.channel_columns, attrs or {})


def add_library_mu(model: MMM) -> None:
    """Add ``LIBRARY_MU``: the likelihood's mean as built by PyMC-Marketing, y units."""
    import pymc.dims as pmd
    from pytensor.graph.traversal import ancestors

    if LIBRARY_MU in model.model.named_vars:
        return
    likelihood = model.model[model.output_var]
    mu = next(v for v in ancestors([likelihood]) if getattr(v, "name", None) == "mu")
    with model.model:
        pmd.Deterministic(
            LIBRARY_MU, (mu * model.model["target_scale"]).transpose("date", "geo")
        )


def _compute_missing_deterministics(model: MMM) -> None:
    import pymc as pm

    posterior = model.idata.posterior
    names = [v.name for v in model.model.deterministics if v.name not in posterior]
    if names:
        model.idata.posterior = pm.compute_deterministics(
            posterior, var_names=names, model=model.model, merge_dataset=True,
            progressbar=False,
        )


def _sample_missing_predictive(model: MMM, data_df: pd.DataFrame, seed: int) -> None:
    group = getattr(model.idata, "posterior_predictive", None)
    if group is not None and PPC_VARIABLE in group:
        return
    x, _ = pymc_inputs(data_df, model.channel_columns, model.control_columns or [])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The group posterior_predictive_constant")
        model.sample_posterior_predictive(
            x, extend_idata=True, combined=False, random_seed=seed, progressbar=False,
            var_names=[model.output_var, PPC_VARIABLE],
        )


def _on_canonical(da: xr.DataArray, coords: dict, *dims: str) -> xr.DataArray:
    """``da`` on (chain, draw, *dims), selected by label on the canonical coords."""
    for dim in dims:
        labels = da.coords[dim].values.astype(coords[dim].dtype)
        da = da.assign_coords({dim: labels}).sel({dim: coords[dim]})
    return da.transpose("chain", "draw", *dims)


def _alpha_dims(post: xr.Dataset) -> list[str]:
    """(channel,) or, for priors per geo and channel, (geo, channel)."""
    return [d for d in ("geo", "channel") if d in post["adstock_alpha"].dims]


def _parts(model: MMM, data_df: pd.DataFrame) -> LibraryParts:
    post = model.idata.posterior
    coords = canonical_coords(data_df, model.channel_columns)
    non_media = sum(post[name] for name in NON_MEDIA_TERMS)
    if TREND_TERM in post:
        non_media = non_media + post[TREND_TERM]
    if CONTROL_TERM in post:
        non_media = non_media + post[CONTROL_TERM].sum("control")
    ppc = model.idata.posterior_predictive[PPC_VARIABLE]
    free = [v.name for v in model.model.free_RVs]
    stats = model.idata.sample_stats
    return LibraryParts(
        channel_contribution=_on_canonical(
            post["channel_contribution_original_scale"], coords, "date", "geo", "channel"),
        non_media=_on_canonical(non_media, coords, "date", "geo"),
        library_mu=_on_canonical(post[LIBRARY_MU], coords, "date", "geo"),
        y_ppc=_on_canonical(ppc, coords, "date", "geo"),
        adstock_alpha=_on_canonical(post["adstock_alpha"], coords, *_alpha_dims(post)),
        adstock_normalized=bool(model.adstock.normalize),
        free_parameters=post[free],
        sample_stats=stats,
        response=_response(model, coords),
    )


def _response(model: MMM, coords: dict):
    """PyMC-Marketing's steady-state response per draw (``metrics.response``): its own
    saturation function with the posterior parameters, applied to the settled adstock of
    the spend over its channel scale, times the target scale (y units per week)."""
    post = model.idata.posterior
    scales = model.get_scales_as_xarray()
    channel_scale = _labelled(scales["channel_scale"], coords)
    target_scale = _labelled(scales["target_scale"], coords)
    params = {name: _labelled(post[variable], coords)
              for name, variable in model.saturation.variable_mapping.items()}
    carry = 1.0 if model.adstock.normalize else _geometric_carry(
        _labelled(post["adstock_alpha"], coords), model.adstock.l_max)

    def response(spend: xr.DataArray) -> xr.DataArray:
        channels = {"channel": spend["channel"].values}
        x = (carry * spend / channel_scale.sel(channels)).transpose(..., "spend_point")
        chosen = {name: _xtensor(value.sel(channels)) for name, value in params.items()}
        saturated = model.saturation.function(_xtensor(x), **chosen)
        values = xr.DataArray(saturated.eval(), dims=saturated.type.dims)
        values = values.assign_coords({d: x[d] for d in ("geo", "channel") if d in values.dims})
        return (values * target_scale).transpose("chain", "draw", "geo", "channel", "spend_point")

    return response


def _xtensor(da: xr.DataArray):
    """``da`` as a PyTensor xtensor constant with its dims (the saturation functions take
    xtensors; the Hill function's cannot read an xarray's coords)."""
    from pytensor.xtensor import as_xtensor

    return as_xtensor(da.values, dims=da.dims)


def _labelled(da: xr.DataArray, coords: dict) -> xr.DataArray:
    """``da`` with its geo and channel labels as the canonical (str) coords."""
    for dim in [d for d in ("geo", "channel") if d in da.dims]:
        da = da.assign_coords({dim: da.coords[dim].values.astype(str)}).sel({dim: coords[dim]})
    return da


def _geometric_carry(alpha: xr.DataArray, l_max: int) -> xr.DataArray:
    """Sum of the un-normalised geometric lag weights ``sum_l alpha**l``, l < l_max."""
    return (1 - alpha**l_max) / (1 - alpha)
