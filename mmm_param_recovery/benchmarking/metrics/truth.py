"""Ground truth on the canonical coordinates of a posterior (docs/architecture.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.response import response_summaries
from mmm_param_recovery.data_generator.ground_truth import steady_state_response
from mmm_param_recovery.data_generator.validation import channel_columns


def _cube(frame: pd.DataFrame, columns: list[str], dates, geos) -> np.ndarray:
    """(date, geo, k) array of ``columns`` of a frame sorted by date then geo."""
    return frame[columns].to_numpy(dtype=float).reshape(len(dates), len(geos), len(columns))


def canonical_truth(result: dict[str, Any]) -> xr.Dataset:
    """The truth of a dataset (generated or loaded) as an xr.Dataset on (date, geo, channel).

    Variables: channel_contribution and spend (date, geo, channel), y and, when the noise
    is known, mu = y - noise (date, geo); roas and attribution_share (channel,),
    roas_by_geo (geo, channel), and adstock_alpha (channel,) for the channels whose true
    adstock is geometric (NaN for others; attr ``adstock_normalized``); when the truth has
    its transforms, the steady-state ``response_curve`` (channel, spend_point),
    ``marginal_roas`` (channel,) and ``marginal_roas_by_geo`` (geo, channel) of
    ``metrics.response``.
    """
    data, truth = result["data"], result["ground_truth"]
    channels = channel_columns(data)
    dates, geos = pd.DatetimeIndex(data["date"].unique()), data["geo"].unique().astype(str)
    coords = {"date": dates.values, "geo": geos, "channel": channels}
    contribution = _cube(truth["contributions"], [f"contribution_{c}" for c in channels],
                         dates, geos)
    spend = _cube(data, channels, dates, geos)
    y = data["y"].to_numpy(float).reshape(len(dates), len(geos))
    ds = xr.Dataset(
        {
            "channel_contribution": (("date", "geo", "channel"), contribution),
            "spend": (("date", "geo", "channel"), spend),
            "y": (("date", "geo"), y),
        },
        coords=coords,
    )
    if "noise" in truth:
        ds["mu"] = ds["y"] - truth["noise"]["noise"].to_numpy(float).reshape(y.shape)
    ds = _add_summaries(ds, truth.get("transform_parameters", {}))
    if "transform_parameters" in truth:
        response = _true_response(truth["transform_parameters"])
        ds = ds.merge(response_summaries(response, ds["spend"]))
    return ds


def _true_response(transform_parameters: dict[str, Any]):
    """The generator's steady-state response as a ``metrics.response.ResponseFunction``."""
    def response(spend: xr.DataArray) -> xr.DataArray:
        out = xr.zeros_like(spend, dtype=float)
        for channel in spend["channel"].values:
            for geo in spend["geo"].values:
                cell = {"channel": channel, "geo": geo}
                out.loc[cell] = steady_state_response(
                    transform_parameters[str(channel)], str(geo), spend.sel(cell).values)
        return out
    return response


def _add_summaries(ds: xr.Dataset, transform_parameters: dict[str, Any]) -> xr.Dataset:
    total = ds["channel_contribution"].sum(("date", "geo"))
    ds["roas"] = total / ds["spend"].sum(("date", "geo"))
    geo_spend = ds["spend"].sum("date")
    ds["roas_by_geo"] = (ds["channel_contribution"].sum("date") / geo_spend).where(geo_spend > 0)
    ds["attribution_share"] = total / total.sum("channel")
    alphas, normalized = [], set()
    for channel in ds["channel"].values:
        adstock = transform_parameters.get(str(channel), {}).get("adstock", {})
        geometric = adstock.get("type") == "geometric"
        alphas.append(adstock["params"]["alpha"] if geometric else np.nan)
        if geometric:
            normalized.add(bool(adstock.get("normalized", True)))
    ds["adstock_alpha"] = ("channel", np.asarray(alphas, dtype=float))
    if len(normalized) == 1:
        ds["adstock_alpha"].attrs["adstock_normalized"] = int(normalized.pop())
    return ds
