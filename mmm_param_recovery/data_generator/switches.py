"""Factorial switches: one named change applied to every channel (or the baseline) of any
preset, so that a study can vary one property of the data at a time.

``customize_preset(name, trend=False, spend="flighted", hill_slope=1.0, spend_phase=3.14,
noise_level=0.1, n_periods=156)``; ``noise_level`` and ``n_periods`` are plain config
fields. A bad value raises ``ConfigError`` naming the switch (docs/data_generator.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from mmm_param_recovery.errors import ConfigError, invalid

from .config import ChannelConfig, MMMDataConfig

DEFAULT_TREND_GROWTH = 0.3
"""Baseline growth over the window that ``trend=True`` gives a preset without a trend."""
FLIGHT_ON, FLIGHT_OFF = 6, 4
"""Weeks on and off of ``spend="flighted"``; channel c starts ``2 c`` weeks into its cycle,
so channels are not perfectly collinear."""
SPEND_MODES = ("always_on", "flighted")


def _trend(config: MMMDataConfig, value: Any) -> MMMDataConfig:
    if not isinstance(value, bool):
        raise invalid("trend", value, "True or False", ConfigError)
    growth = (config.trend_growth or DEFAULT_TREND_GROWTH) if value else 0.0
    return dataclasses.replace(config, trend_growth=growth)


def _spend(config: MMMDataConfig, value: Any) -> MMMDataConfig:
    if value not in SPEND_MODES:
        raise invalid("spend", value, f"one of {SPEND_MODES}", ConfigError)

    def flighted(index: int, channel: ChannelConfig) -> ChannelConfig:
        params = {"on_periods": FLIGHT_ON, "off_periods": FLIGHT_OFF, "offset": 2 * index}
        return dataclasses.replace(channel, pattern="on_off", pattern_params=params)

    def always_on(index: int, channel: ChannelConfig) -> ChannelConfig:
        return dataclasses.replace(channel, pattern="linear_trend",
                                   pattern_params={"growth": 0.0})

    return _each_channel(config, flighted if value == "flighted" else always_on)


def _hill_slope(config: MMMDataConfig, value: Any) -> MMMDataConfig:
    if not _positive_number(value):
        raise invalid("hill_slope", value, "a number > 0", ConfigError)

    def hill(index: int, channel: ChannelConfig) -> ChannelConfig:
        tf = channel.transform
        kappa = tf.saturation_params.get("kappa", 1.0) if tf.saturation_fun == "hill" else 1.0
        transform = dataclasses.replace(tf, saturation_fun="hill",
                                        saturation_params={"slope": float(value), "kappa": kappa})
        return dataclasses.replace(channel, transform=transform)

    return _each_channel(config, hill)


def _spend_phase(config: MMMDataConfig, value: Any) -> MMMDataConfig:
    if not (_number(value) and 0 <= value < 2 * math.pi):
        raise invalid("spend_phase", value, "radians in [0, 2 pi)", ConfigError)
    if config.seasonality_amplitude <= 0:
        raise invalid("spend_phase", value, "a preset whose baseline is seasonal (set "
                      "seasonality_amplitude > 0 too)", ConfigError)
    if not any(c.pattern == "seasonal" for c in config.channels):
        raise invalid("spend_phase", value, "a preset with a seasonal channel (this one has "
                      "none; add one with channels.N.pattern)", ConfigError)

    def phased(index: int, channel: ChannelConfig) -> ChannelConfig:
        if channel.pattern != "seasonal":
            return channel
        params = {**channel.pattern_params, "phase": float(value)}
        return dataclasses.replace(channel, pattern_params=params)

    return _each_channel(config, phased)


SWITCHES: dict[str, Callable[[MMMDataConfig, Any], MMMDataConfig]] = {
    "trend": _trend, "spend": _spend, "hill_slope": _hill_slope, "spend_phase": _spend_phase,
}
"""Switch name -> what it does to a config: ``trend`` (bool: baseline growth 0, or the
preset's / DEFAULT_TREND_GROWTH), ``spend`` (``always_on``: constant level plus the
week-to-week noise; ``flighted``: on/off with zero weeks), ``hill_slope`` (every channel a
Hill curve with this slope, its half-saturation kept; 1.0 for a logistic channel),
``spend_phase`` (the yearly spend cycle of every seasonal channel at this phase, radians,
against the baseline's seasonality: 0 in phase, i.e. confounded; pi opposite)."""
EXCLUSIVE = (("spend", "spend_phase"),)
"""Switch pairs that set the same thing (the spend pattern) and cannot be combined."""


def apply_switches(config: MMMDataConfig, switches: dict[str, Any]) -> MMMDataConfig:
    """``config`` with every named switch applied, in the order given."""
    for pair in EXCLUSIVE:
        if all(name in switches for name in pair):
            raise invalid(pair[1], switches[pair[1]], f"not together with {pair[0]!r} "
                          "(both set the spend pattern)", ConfigError)
    for name, value in switches.items():
        config = SWITCHES[name](config, value)
    return config


def _each_channel(config: MMMDataConfig,
                  change: Callable[[int, ChannelConfig], ChannelConfig]) -> MMMDataConfig:
    channels = tuple(change(i, c) for i, c in enumerate(config.channels))
    return dataclasses.replace(config, channels=channels)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_number(value: Any) -> bool:
    return _number(value) and value > 0
