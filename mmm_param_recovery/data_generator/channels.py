"""Spend and control time series from patterns (pure numpy, one stream per series)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mmm_param_recovery.errors import ConfigError

from .config import ChannelConfig, ControlConfig, MMMDataConfig
from .utils import lognormal_multipliers, stream_rng

WEEKS_PER_YEAR = 52.18


def pattern_multipliers(
    pattern: str,
    params: Mapping[str, Any],
    n_periods: int,
    rng: np.random.Generator,
    custom_fn: Callable[..., Any] | None = None,
    where: str = "pattern",
) -> np.ndarray:
    """Unitless level of a series per period, shape (n_periods,), >= 0; mostly around 1."""
    t = np.arange(n_periods, dtype=float)
    if pattern == "linear_trend":
        level = 1.0 + params.get("growth", 0.2) * t / max(n_periods - 1, 1)
    elif pattern == "seasonal":
        phase = 2 * np.pi * t / params.get("period", WEEKS_PER_YEAR) + params.get("phase", 0.0)
        level = 1.0 + params.get("amplitude", 0.3) * np.sin(phase)
    elif pattern == "delayed_start":
        level = _delayed_start(t, params, n_periods)
    elif pattern == "on_off":
        cycle = params.get("on_periods", 4) + params.get("off_periods", 4)
        level = ((t + params.get("offset", 0)) % cycle < params.get("on_periods", 4)) * 1.0
    else:
        level = _custom_level(custom_fn, t, rng, where)
    return np.clip(level, 0.0, None)


def _delayed_start(t: np.ndarray, params: Mapping[str, Any], n_periods: int) -> np.ndarray:
    start = params.get("start_period", n_periods // 4)
    ramp = max(params.get("ramp_periods", 8), 1)
    level = np.clip((t - start + 1) / ramp, 0.0, 1.0)
    end = params.get("end_period")
    if end is not None:
        level[t >= end] = 0.0
    return level


def _custom_level(fn, t: np.ndarray, rng: np.random.Generator, where: str) -> np.ndarray:
    level = np.asarray(fn(t.astype(int), rng), dtype=float)
    if level.shape != t.shape or not np.all(np.isfinite(level)) or np.any(level < 0):
        raise ConfigError(
            f"{where}.custom_fn: returned shape {level.shape} with min "
            f"{np.nanmin(level) if level.size else 'n/a'}; allowed: {t.shape[0]} finite values >= 0"
        )
    return level


def generate_channel_spend(config: MMMDataConfig, spend_multipliers: np.ndarray) -> np.ndarray:
    """Weekly spend (date, geo, channel) in currency units, >= 0.

    ``spend_multipliers``: (geo, channel) per-geo spend levels from the regions layer.
    Each channel draws its week-to-week noise from its own stream.
    """
    n_geos = spend_multipliers.shape[0]
    spend = np.empty((config.n_periods, n_geos, len(config.channels)))
    for c, channel in enumerate(config.channels):
        rng = stream_rng(config.seed, "channels", c)
        spend[:, :, c] = _channel_spend(channel, config.n_periods, n_geos, rng, c)
    return spend * spend_multipliers[np.newaxis]


def _channel_spend(channel: ChannelConfig, n_periods: int, n_geos: int, rng, index: int):
    level = pattern_multipliers(
        channel.pattern, channel.pattern_params, n_periods, rng, channel.custom_fn,
        where=f"channels[{index}]",
    )
    noise = lognormal_multipliers(rng, channel.spend_noise, (n_periods, n_geos))
    return channel.base_spend * level[:, np.newaxis] * noise


def generate_controls(config: MMMDataConfig, n_geos: int) -> np.ndarray:
    """Control values (date, geo, control): the pattern centred to mean 0 and scaled to
    sd 1 over time, plus per-geo Gaussian noise of sd ``ControlConfig.noise``."""
    values = np.empty((config.n_periods, n_geos, len(config.controls)))
    for k, control in enumerate(config.controls):
        rng = stream_rng(config.seed, "controls", k)
        values[:, :, k] = _control_values(control, config.n_periods, n_geos, rng, k)
    return values


def _control_values(control: ControlConfig, n_periods: int, n_geos: int, rng, index: int):
    where = f"controls[{index}]"
    level = pattern_multipliers(
        control.pattern, control.pattern_params, n_periods, rng, control.custom_fn, where
    )
    spread = level.std()
    signal = (level - level.mean()) / spread if spread > 0 else np.zeros_like(level)
    values = signal[:, np.newaxis] + rng.normal(0.0, control.noise, (n_periods, n_geos))
    if np.any(values.std(axis=0) == 0):
        raise ConfigError(
            f"{where}: pattern {control.pattern!r} with noise={control.noise} gives a constant "
            "control; allowed: a varying pattern or noise > 0"
        )
    return values
