"""Media contributions and the truth derived from them (ROAS, shares, parameters)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .config import MMMDataConfig
from .transforms import adstock_weights, apply_adstock, apply_saturation


def calculate_media_contributions(
    config: MMMDataConfig, spend: np.ndarray, effectiveness: np.ndarray
) -> np.ndarray:
    """True weekly contribution (date, geo, channel) in y units.

    contribution = effect * effectiveness[geo] * base_spend * saturation(adstock(spend) /
    base_spend): the saturation sees spend in units of the channel's reference spend
    (the same for every geo), so a geo that spends more gets more contribution.
    """
    contributions = np.empty_like(spend)
    for c, channel in enumerate(config.channels):
        tf = channel.transform
        carried = apply_adstock(
            spend[:, :, c], tf.adstock_fun, dict(tf.adstock_params), tf.adstock_lmax,
            tf.adstock_normalize,
        )
        response = apply_saturation(
            carried / channel.base_spend, tf.saturation_fun, dict(tf.saturation_params)
        )
        scale = channel.effect * channel.base_spend * effectiveness[:, c]
        contributions[:, :, c] = scale[np.newaxis, :] * response
    return contributions


def calculate_roas(
    contributions: np.ndarray, spend: np.ndarray, geos: tuple[str, ...], columns: list[str]
) -> pd.DataFrame:
    """ROAS = total contribution / total spend over the window, per geo and ``overall``.

    Long frame with columns geo, channel, roas; NaN where a geo never spends on a channel.
    """
    per_geo = _safe_ratio(contributions.sum(axis=0), spend.sum(axis=0))
    overall = _safe_ratio(contributions.sum(axis=(0, 1)), spend.sum(axis=(0, 1)))
    table = np.vstack([per_geo, overall[np.newaxis]])
    frame = pd.DataFrame(table, index=[*geos, "overall"], columns=columns)
    frame = frame.rename_axis(index="geo", columns="channel").stack().rename("roas")
    return frame.reset_index()


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(
        numerator, denominator, out=np.full(numerator.shape, np.nan), where=denominator > 0
    )


def calculate_attribution_shares(contributions: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Each channel's share of the total media contribution over all dates and geos."""
    totals = contributions.sum(axis=(0, 1))
    return pd.DataFrame({"channel": columns, "share": totals / totals.sum()})


def transform_parameters(
    config: MMMDataConfig, effectiveness: np.ndarray, geos: tuple[str, ...], columns: list[str],
    population: np.ndarray | None = None,
) -> dict[str, Any]:
    """True transform parameters per channel, with the effect per geo (y units per week
    at full saturation: effect * effectiveness * base_spend, times the geo's population
    multiplier (geo,) when the geos have populations; the saturation's reference spend
    per geo, ``reference_spend_by_geo``, is then base_spend times that multiplier)."""
    people = np.ones(len(geos)) if population is None else population
    params = {}
    for c, (channel, column) in enumerate(zip(config.channels, columns, strict=True)):
        tf = channel.transform
        params[column] = {
            "adstock": {
                "type": tf.adstock_fun,
                "params": dict(tf.adstock_params),
                "normalized": tf.adstock_normalize,
                "l_max": tf.adstock_lmax,
            },
            "saturation": {
                "type": tf.saturation_fun,
                "params": dict(tf.saturation_params),
                "reference_spend": channel.base_spend,
            },
            "effect_by_geo": {
                geo: float(channel.effect * channel.base_spend * effectiveness[g, c] * people[g])
                for g, geo in enumerate(geos)
            },
        }
        if population is not None:
            params[column]["saturation"]["reference_spend_by_geo"] = {
                geo: float(channel.base_spend * people[g]) for g, geo in enumerate(geos)}
    return params


def reference_spend(parameters: dict[str, Any], geo: str) -> float:
    """The spend (currency per week) that the saturation of one channel's
    ``transform_parameters`` entry sees as 1 in ``geo``."""
    saturation = parameters["saturation"]
    return float(saturation.get("reference_spend_by_geo", {}).get(
        geo, saturation["reference_spend"]))


def steady_state_response(parameters: dict[str, Any], geo: str, spend: np.ndarray) -> np.ndarray:
    """True weekly contribution (y units) in ``geo`` of a constant weekly ``spend``
    (currency, any shape) once the carry-over has settled.

    ``parameters``: one channel's entry of ``transform_parameters``. The settled
    adstock is ``spend x`` the sum of the lag weights (exactly ``spend`` when normalised).
    """
    adstock, saturation = parameters["adstock"], parameters["saturation"]
    carry = adstock_weights(adstock["type"], dict(adstock["params"]), int(adstock["l_max"]),
                            bool(adstock["normalized"])).sum()
    response = apply_saturation(np.asarray(spend, float) * carry
                                / reference_spend(parameters, geo),
                                saturation["type"], dict(saturation["params"]))
    return parameters["effect_by_geo"][geo] * response
