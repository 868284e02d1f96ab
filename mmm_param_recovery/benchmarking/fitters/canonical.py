"""Assemble the canonical posterior (docs/architecture.md) from library-neutral parts.

Each library's canonical module extracts, on the canonical coords, the per-week channel
contributions and non-media terms in y units, its own expected y (``mu``) and a
posterior predictive draw; ``assemble_canonical`` derives ``mu``, ROAS and the groups
that every adapter returns the same way, and checks
``mu = non_media + sum(channel_contribution)`` against the library's own ``mu``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.response import (
    ResponseFunction,
    response_summaries,
)
from mmm_param_recovery.errors import MMMBenchmarkError

logger = logging.getLogger(__name__)

SAMPLE_DIMS = ("chain", "draw")
MU_IDENTITY_RTOL = 1e-6
"""Largest allowed ``max |mu - library mu| / mean |library mu|``."""
SAMPLE_STATS = ("diverging", "energy")


@dataclass(frozen=True)
class LibraryParts:
    """What a library contributes to its canonical posterior (y units, canonical coords).

    ``channel_contribution`` (chain, draw, date, geo, channel); ``non_media`` (chain,
    draw, date, geo): every non-media term of the expected y; ``library_mu`` (chain,
    draw, date, geo): the library's own expected y, used only to check the identity;
    ``y_ppc`` (chain, draw, date, geo): posterior predictive y with noise;
    ``adstock_alpha`` (chain, draw, channel) or, when it varies by geo, (chain, draw, geo,
    channel): geometric decay; ``free_parameters``:
    the sampled parameters under the library's names; ``sample_stats`` the library's
    sampler statistics (``diverging`` and ``energy`` are kept); ``response``: the
    library's steady-state response per draw (``metrics.response.ResponseFunction``),
    from its own transforms and scalings, or None when the library cannot give one.
    """

    channel_contribution: xr.DataArray
    non_media: xr.DataArray
    library_mu: xr.DataArray
    y_ppc: xr.DataArray
    adstock_alpha: xr.DataArray
    adstock_normalized: bool
    free_parameters: xr.Dataset
    sample_stats: xr.Dataset
    response: ResponseFunction | None = None


def canonical_coords(data_df: pd.DataFrame, channel_columns: Sequence[str]) -> dict:
    """``date`` (datetime64[ns], data order), ``geo`` (str, data order), ``channel``."""
    return {
        "date": pd.DatetimeIndex(pd.unique(data_df["date"])).astype("datetime64[ns]").values,
        "geo": np.asarray(pd.unique(data_df["geo"].astype(str)), dtype=str),
        "channel": np.asarray(list(channel_columns), dtype=str),
    }


def frame_to_array(data_df: pd.DataFrame, columns: Sequence[str], name: str) -> xr.DataArray:
    """Columns of the observed frame as a (date, geo, column) array on canonical coords."""
    frame = data_df.assign(geo=data_df["geo"].astype(str)).set_index(["date", "geo"])
    coords = canonical_coords(data_df, columns)
    arr = frame[list(columns)].to_xarray().to_dataarray("channel", name=name)
    return arr.reindex(date=coords["date"], geo=coords["geo"]).transpose(
        "date", "geo", "channel").assign_coords(channel=coords["channel"])


def observed_y(data_df: pd.DataFrame) -> xr.DataArray:
    """Observed y (date, geo), original units."""
    return frame_to_array(data_df, ["y"], "y").isel(channel=0, drop=True)


def mu_identity_error(mu: xr.DataArray, library_mu: xr.DataArray) -> float:
    """``max |mu - library_mu| / mean |library_mu|`` over every draw, date and geo."""
    scale = float(np.abs(library_mu).mean())
    return float(np.abs(mu - library_mu).max()) / scale


def _roas(contribution: xr.DataArray, spend: xr.DataArray, dims: tuple[str, ...]):
    """Contribution / spend summed over ``dims``; a non-finite draw stays non-finite so
    that the metrics count it instead of seeing a ROAS of 0."""
    return contribution.sum(dims, skipna=False) / spend.sum(dims, skipna=False)


def assemble_canonical(
    parts: LibraryParts,
    data_df: pd.DataFrame,
    channel_columns: Sequence[str],
    attrs: Mapping[str, object],
) -> az.InferenceData:
    """The canonical InferenceData: posterior, free_parameters, sample_stats, observed_data.

    ``mu = non_media + channel_contribution.sum("channel")``; raises MMMBenchmarkError
    when it differs from the library's own mu by more than ``MU_IDENTITY_RTOL``. ROAS =
    total contribution / total spend (all dates; all geos for ``roas``, per geo for
    ``roas_by_geo``). With ``parts.response``, the steady-state response curve and
    marginal ROAS of ``metrics.response`` on the grid of the observed spend. ``attrs`` go
    on the posterior group (dicts as JSON strings).
    """
    contribution = parts.channel_contribution.transpose(*SAMPLE_DIMS, "date", "geo", "channel")
    mu = parts.non_media + contribution.sum("channel")
    error = mu_identity_error(mu, parts.library_mu)
    logger.info("mu identity: max relative error %.3g", error)
    if not error <= MU_IDENTITY_RTOL:
        raise MMMBenchmarkError(
            f"posterior.mu: non_media + sum(channel_contribution) differs from the "
            f"library's mu by {error:.3g} (relative); allowed: <= {MU_IDENTITY_RTOL:g}"
        )
    spend = frame_to_array(data_df, channel_columns, "spend")
    alpha = parts.adstock_alpha.assign_attrs(adstock_normalized=int(parts.adstock_normalized))
    posterior = xr.Dataset({
        "channel_contribution": contribution,
        "non_media": parts.non_media.transpose(*SAMPLE_DIMS, "date", "geo"),
        "mu": mu.transpose(*SAMPLE_DIMS, "date", "geo"),
        "y_ppc": parts.y_ppc.transpose(*SAMPLE_DIMS, "date", "geo"),
        "roas": _roas(contribution, spend, ("date", "geo")),
        "roas_by_geo": _roas(contribution, spend, ("date",)).transpose(*SAMPLE_DIMS, "geo", ...),
        "adstock_alpha": alpha.transpose(*SAMPLE_DIMS, ..., "channel"),
    })
    if parts.response is not None:
        posterior = posterior.merge(response_summaries(parts.response, spend))
    posterior.attrs = {key: _attr(value) for key, value in attrs.items()}
    posterior.attrs["mu_identity_max_rel_error"] = error
    stats = parts.sample_stats[[s for s in SAMPLE_STATS if s in parts.sample_stats]]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="free_parameters group is not defined")
        return az.InferenceData(
            posterior=posterior,
            free_parameters=parts.free_parameters,
            sample_stats=stats,
            observed_data=xr.Dataset({"y": observed_y(data_df)}),
        )


def _attr(value: object) -> object:
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True, default=str)
    return value
