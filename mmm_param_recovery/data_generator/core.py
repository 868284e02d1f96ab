"""Orchestration: config -> channels -> regions -> transforms -> ground truth -> frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .channels import WEEKS_PER_YEAR, generate_channel_spend, generate_controls
from .config import MMMDataConfig, validate_config
from .ground_truth import (
    calculate_attribution_shares,
    calculate_media_contributions,
    calculate_roas,
    transform_parameters,
)
from .regions import PEOPLE_PER_UNIT, RegionalVariation, generate_regional_variations
from .utils import stream_rng
from .validation import POPULATION


def channel_column_names(config: MMMDataConfig) -> list[str]:
    """``x{i}_{name}`` for every channel, 1-based."""
    return [f"x{i}_{channel.name}" for i, channel in enumerate(config.channels, start=1)]


def control_column_names(config: MMMDataConfig) -> list[str]:
    """``c{k}`` for every control, 1-based."""
    return [f"c{k}" for k in range(1, len(config.controls) + 1)]


def generate_mmm_dataset(config: MMMDataConfig) -> dict[str, Any]:
    """Generate observed data and complete ground truth for ``config``.

    Returns ``{"data", "ground_truth", "config"}`` (layout in docs/architecture.md).
    ``y = baseline + control effects + media contributions + noise`` holds exactly.
    """
    validate_config(config)
    regions = generate_regional_variations(config)
    spend = generate_channel_spend(config, regions.spend)
    controls = generate_controls(config, len(regions.geos))
    contributions = calculate_media_contributions(config, spend, regions.effectiveness)
    baseline_parts = generate_baseline(config, regions)
    control_coefficients = _control_coefficients(config, regions)
    control_effects = controls * control_coefficients[np.newaxis]
    noise, noise_scale = generate_noise(config, baseline_parts["baseline"])
    y = baseline_parts["baseline"] + control_effects.sum(axis=2) + contributions.sum(axis=2) + noise
    arrays = {
        "spend": spend, "contributions": contributions, "control_effects": control_effects,
        "noise": noise, "y": y, **baseline_parts,
    }
    if regions.population is not None:  # all of it was per capita
        arrays = {name: _times_population(a, regions.population) for name, a in arrays.items()}
        control_coefficients = control_coefficients * regions.population[:, np.newaxis]
        noise_scale = noise_scale * regions.population
    arrays["controls"] = controls  # observed regressors, the same in every geo's units
    return _assemble(config, regions, arrays, control_coefficients, noise_scale)


def _times_population(values: np.ndarray, population: np.ndarray) -> np.ndarray:
    """(date, geo[, k]) per-capita values times each geo's population multiplier (geo,)."""
    return values * population.reshape(1, -1, *([1] * (values.ndim - 2)))


def generate_baseline(config: MMMDataConfig, regions: RegionalVariation) -> dict[str, np.ndarray]:
    """Baseline parts (date, geo) in y units: intercept, trend, seasonality and their sum."""
    t = np.arange(config.n_periods, dtype=float)[:, np.newaxis]
    level = config.base_sales * regions.baseline[np.newaxis, :]
    intercept = np.broadcast_to(level, (config.n_periods, level.shape[1])).copy()
    trend = level * config.trend_growth * t / max(config.n_periods - 1, 1)
    seasonality = level * config.seasonality_amplitude * np.sin(2 * np.pi * _year_fraction(config))
    baseline = intercept + trend + seasonality
    return {"intercept": intercept, "trend": trend, "seasonality": seasonality,
            "baseline": baseline}


DAYS_PER_YEAR = 365.25


def _year_fraction(config: MMMDataConfig) -> np.ndarray:
    """Position in the yearly cycle per period, (date, 1): week index / 52.18, or the
    calendar day of the week's date / 365.25 (``seasonality_clock``)."""
    if config.seasonality_clock == "day_of_year":
        days = _dates(config).dayofyear.to_numpy(dtype=float)
        return (days / DAYS_PER_YEAR)[:, np.newaxis]
    return np.arange(config.n_periods, dtype=float)[:, np.newaxis] / WEEKS_PER_YEAR


def _dates(config: MMMDataConfig) -> pd.DatetimeIndex:
    return pd.date_range(config.start_date, periods=config.n_periods, freq="W-MON")


def _control_coefficients(config: MMMDataConfig, regions: RegionalVariation) -> np.ndarray:
    """(geo, control): y units per unit of control, scaled by the geo's baseline level."""
    effects = np.array([control.effect for control in config.controls], dtype=float)
    return regions.baseline[:, np.newaxis] * effects[np.newaxis, :]


def generate_noise(config: MMMDataConfig, baseline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian observation noise (date, geo) with sd = noise_level * the geo's mean baseline."""
    scale = config.noise_level * baseline.mean(axis=0)
    rng = stream_rng(config.seed, "noise")
    return rng.normal(0.0, 1.0, baseline.shape) * scale[np.newaxis, :], scale


def _long_frame(keys: pd.DataFrame, values: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Stack (date, geo, k) values under ``columns`` beside the date/geo key columns."""
    n_rows = values.shape[0] * values.shape[1]
    flat = values.reshape(n_rows, values.shape[2] if values.ndim == 3 else 1)
    return pd.concat([keys, pd.DataFrame(flat, columns=columns)], axis=1)


def _keys(config: MMMDataConfig, geos: tuple[str, ...]) -> pd.DataFrame:
    dates = _dates(config)
    return pd.DataFrame({
        "date": np.repeat(dates.values, len(geos)),
        "geo": np.tile(np.array(geos, dtype=object), config.n_periods),
    })


def _assemble(config, regions, arrays, control_coefficients, noise_scale) -> dict[str, Any]:
    channels, controls = channel_column_names(config), control_column_names(config)
    keys = _keys(config, regions.geos)
    data = _long_frame(keys, np.concatenate(
        [arrays["spend"], arrays["controls"], arrays["y"][:, :, np.newaxis]], axis=2
    ), [*channels, *controls, "y"])
    if regions.population is not None:
        people = np.rint(regions.population * PEOPLE_PER_UNIT)
        data[POPULATION] = np.tile(people, config.n_periods)
    contributions = arrays["contributions"]
    truth = {
        "contributions": _long_frame(keys, contributions, [f"contribution_{c}" for c in channels]),
        "baseline": _long_frame(keys, np.stack([arrays[k] for k in (
            "intercept", "trend", "seasonality", "baseline")], axis=2),
            ["intercept", "trend", "seasonality", "baseline"]),
        "control_effects": _long_frame(keys, arrays["control_effects"],
                                       [f"effect_{c}" for c in controls]),
        "noise": _long_frame(keys, arrays["noise"], ["noise"]),
        "transform_parameters": transform_parameters(
            config, regions.effectiveness, regions.geos, channels, regions.population),
        "roas": calculate_roas(contributions, arrays["spend"], regions.geos, channels),
        "attribution_shares": calculate_attribution_shares(contributions, channels),
        "control_coefficients": {
            c: dict(zip(regions.geos, control_coefficients[:, k].tolist(), strict=True))
            for k, c in enumerate(controls)},
        "noise_scale": dict(zip(regions.geos, noise_scale.tolist(), strict=True)),
        "media_share": float(contributions.sum() / arrays["y"].sum()),
    }
    return {"data": data, "ground_truth": truth, "config": config}
