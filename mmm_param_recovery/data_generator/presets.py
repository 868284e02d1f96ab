"""Business presets, and dotted-key customisation of any preset.

Sizes (periods x geos x channels x controls): small_business 104x1x4x2,
growing_business 131x2x6x2, medium_business 156x8x8x4, large_business 208x50x30x10,
basic 104x1x2x0, seasonal 104x1x3x1, multi_region 104x5x3x1, shared_dgp 104x1x4x2,
meridian_native 104x5x3x1, pymc_native 104x3x4x2. The baseline of each
preset is set from its channels so that media is a realistic share of y; every random
choice (large_business draws its channels) comes from the ``preset`` stream of the seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from mmm_param_recovery.errors import ConfigError

from .config import ChannelConfig, ControlConfig, MMMDataConfig, RegionConfig, TransformConfig
from .switches import SWITCHES, apply_switches
from .utils import stream_rng

TYPICAL_SATURATION = 0.5  # response at the reference spend with kappa = 1


def _geometric(alpha: float, fun: str = "hill", **saturation: float) -> TransformConfig:
    params = saturation or {"slope": 1.0, "kappa": 1.0}
    return TransformConfig("geometric", {"alpha": alpha}, 8, True, fun, params)


def _channel(name, spend, effect, transform, pattern="linear_trend", **pattern_params):
    return ChannelConfig(name=name, base_spend=spend, pattern=pattern,
                         pattern_params=pattern_params, effect=effect, transform=transform)


def base_sales_for_media_share(channels: tuple[ChannelConfig, ...], media_share: float) -> float:
    """Weekly baseline per geo that makes media about ``media_share`` of y (a rough
    target: it assumes typical saturation; the real share is reported in the truth)."""
    media = TYPICAL_SATURATION * sum(c.effect * c.base_spend for c in channels)
    return media * (1 - media_share) / media_share


def _config(channels, controls, n_periods, media_share, seed, **fields) -> MMMDataConfig:
    base_sales = base_sales_for_media_share(tuple(channels), media_share)
    return MMMDataConfig(n_periods=n_periods, channels=tuple(channels), controls=tuple(controls),
                         base_sales=base_sales, seed=seed, **fields)


def _small_business(seed: int) -> MMMDataConfig:
    channels = [
        _channel("tv", 5000, 3.0, _geometric(0.6, slope=1.5, kappa=1.2), "seasonal", amplitude=0.4),
        _channel("search", 3000, 4.0, _geometric(0.2, slope=1.0, kappa=0.8), growth=0.3),
        _channel("social", 2000, 2.5, _geometric(0.4, "logistic", lam=1.5), "on_off",
                 on_periods=6, off_periods=4),
        _channel("radio", 1500, 1.5, _geometric(0.5, slope=2.0, kappa=1.0), "delayed_start",
                 start_period=20, ramp_periods=8),
    ]
    controls = [ControlConfig("seasonal", {"amplitude": 0.5, "phase": 1.0}, 0.3, 1500.0),
                ControlConfig("linear_trend", {"growth": 0.5}, 0.5, -800.0)]
    return _config(channels, controls, 104, 0.25, seed)


def _growing_business(seed: int) -> MMMDataConfig:
    channels = [
        _channel("tv", 8000, 2.5, _geometric(0.7, slope=1.2, kappa=1.0), "seasonal", amplitude=0.3),
        _channel("search", 5000, 4.5, _geometric(0.1, slope=1.0, kappa=0.7), growth=0.8),
        _channel("social", 4000, 3.0, _geometric(0.3, "logistic", lam=1.2), growth=1.5),
        _channel("video", 3000, 2.0, _geometric(0.5, slope=1.8, kappa=1.1), "delayed_start",
                 start_period=30, ramp_periods=10),
        _channel("print", 2000, 1.0, _geometric(0.4, slope=1.0, kappa=1.5), "delayed_start",
                 start_period=0, ramp_periods=1, end_period=90),
        _channel("affiliate", 1500, 3.5, _geometric(0.2, slope=1.3, kappa=0.9), "on_off",
                 on_periods=8, off_periods=5),
    ]
    controls = [ControlConfig("seasonal", {"amplitude": 0.5}, 0.3, 2000.0),
                ControlConfig("linear_trend", {"growth": 1.0}, 0.4, 1000.0)]
    return _config(channels, controls, 131, 0.3, seed, trend_growth=0.4,
                   regions=RegionConfig(n_regions=2))


def _medium_business(seed: int) -> MMMDataConfig:
    specs = [("tv", 12000, 2.5, 0.7, "seasonal", {"amplitude": 0.4}),
             ("search", 8000, 4.0, 0.1, "linear_trend", {"growth": 0.3}),
             ("social", 6000, 3.0, 0.3, "linear_trend", {"growth": 0.6}),
             ("display", 4000, 1.5, 0.3, "on_off", {"on_periods": 6, "off_periods": 6}),
             ("radio", 3000, 1.8, 0.5, "seasonal", {"amplitude": 0.3, "phase": 2.0}),
             ("ooh", 3000, 1.2, 0.6, "on_off", {"on_periods": 10, "off_periods": 8}),
             ("video", 5000, 2.2, 0.5, "delayed_start", {"start_period": 40, "ramp_periods": 12}),
             ("podcast", 1500, 2.8, 0.4, "linear_trend", {"growth": -0.3})]
    channels = [_channel(name, spend, effect, _geometric(alpha, slope=1.0 + 0.15 * i,
                                                         kappa=0.8 + 0.1 * i), pattern, **params)
                for i, (name, spend, effect, alpha, pattern, params) in enumerate(specs)]
    controls = [ControlConfig("seasonal", {"amplitude": 0.5, "phase": 0.5 * k}, 0.4, 1500.0)
                for k in range(4)]
    return _config(channels, controls, 156, 0.3, seed, regions=RegionConfig(n_regions=8))


def _large_business(seed: int) -> MMMDataConfig:
    rng = stream_rng(seed, "preset")
    channels = [_random_channel(rng, i) for i in range(30)]
    controls = [ControlConfig(str(rng.choice(["seasonal", "linear_trend"])),
                              {"amplitude": 0.5, "phase": float(rng.uniform(0, 2 * np.pi)),
                               "growth": float(rng.uniform(-0.5, 1.0))},
                              float(rng.uniform(0.2, 0.6)), float(rng.uniform(-2000, 4000)))
                for _ in range(10)]
    share = float(rng.uniform(0.2, 0.35))
    return _config(channels, controls, 208, share, seed, regions=RegionConfig(n_regions=50))


def _random_channel(rng: np.random.Generator, index: int) -> ChannelConfig:
    pattern = str(rng.choice(["linear_trend", "seasonal", "on_off", "delayed_start"]))
    params = {"linear_trend": {"growth": float(rng.uniform(-0.3, 1.0))},
              "seasonal": {"amplitude": float(rng.uniform(0.1, 0.5)),
                           "phase": float(rng.uniform(0, 2 * np.pi))},
              "on_off": {"on_periods": int(rng.integers(4, 12)),
                         "off_periods": int(rng.integers(2, 8))},
              "delayed_start": {"start_period": int(rng.integers(0, 80)),
                                "ramp_periods": int(rng.integers(1, 12))}}[pattern]
    transform = _geometric(float(rng.uniform(0.05, 0.75)), slope=float(rng.uniform(0.8, 2.5)),
                           kappa=float(rng.uniform(0.5, 2.0)))
    return _channel(f"ch{index + 1}", float(np.round(rng.lognormal(np.log(3000), 0.7), 2)),
                    float(rng.uniform(1.0, 5.0)), transform, pattern, **params)


def _slope_one_channels(tv_spend: float) -> list[ChannelConfig]:
    """small_business's tv, search and social with geometric adstock and slope-1 Hill
    curves (the form of both models); tv's base spend per week is ``tv_spend``."""
    return [
        _channel("tv", tv_spend, 3.0, _geometric(0.6, kappa=1.2, slope=1.0), "seasonal",
                 amplitude=0.4),
        _channel("search", 3000, 4.0, _geometric(0.2, kappa=0.8, slope=1.0), growth=0.3),
        _channel("social", 2000, 2.5, _geometric(0.4, kappa=1.0, slope=1.0), "on_off",
                 on_periods=6, off_periods=4),
    ]


def _shared_dgp(seed: int) -> MMMDataConfig:
    """small_business's channels in a form both models represent exactly: one geo (so
    per-geo and global spend scaling coincide), geometric adstock over lags 0..7, Hill
    saturation with slope 1, and a flat baseline whose season and trend are supplied as
    noise-free observed controls."""
    channels = [
        *_slope_one_channels(tv_spend=5000),
        _channel("radio", 1500, 1.5, _geometric(0.5, kappa=1.0, slope=1.0), "delayed_start",
                 start_period=20, ramp_periods=8),
    ]
    controls = [ControlConfig("seasonal", {"amplitude": 0.5, "phase": 1.0}, 0.0, 1500.0),
                ControlConfig("linear_trend", {"growth": 0.5}, 0.0, 1500.0)]
    return _config(channels, controls, 104, 0.25, seed, trend_growth=0.0,
                   seasonality_amplitude=0.0)


def _meridian_native(seed: int) -> MMMDataConfig:
    """Meridian's own model form: geos with log-normal media effects and geo-specific
    noise, geometric adstock over lags 0..7, slope-1 Hill curves shared by every geo on
    one spend scale, a baseline trend (a straight line, which Meridian's piecewise-linear
    knots hold exactly) with no seasonal cycle, and a control with per-geo effects. The
    geos have populations (a ``population`` column) and everything but the controls is
    per capita times population, as Meridian models it; one baseline level per capita,
    so every geo's baseline per capita is the same ``mu_t``."""
    channels = _slope_one_channels(tv_spend=6000)
    controls = [ControlConfig("seasonal", {"amplitude": 0.5}, 0.3, 1000.0)]
    regions = RegionConfig(n_regions=5, baseline_variation=0.0, effectiveness_variation=0.3,
                           population_variation=0.6)
    return _config(channels, controls, 104, 0.25, seed, trend_growth=0.3,
                   seasonality_amplitude=0.0, regions=regions)


def _pymc_native(seed: int) -> MMMDataConfig:
    """PyMC-Marketing's own model form: Hill-sigmoid curves after geometric adstock over
    lags 0..7 on spend max-scaled per geo, a yearly season that is the first Fourier mode
    of the calendar day (its ``yearly_seasonality`` basis) with a level per geo, no trend,
    noisy controls with per-geo effects. Three geos of different sizes (populations,
    ``population_variation``) whose per-capita spend follows the same noise-free pattern,
    so each geo's curve in units of its own maximum spend is the same curve, as
    PyMC-Marketing's shared ``beta`` and ``lam`` have it; effects differ by geo."""
    channels = [
        _channel("tv", 5000, 3.0, _geometric(0.6, "hill_sigmoid", beta=2.0, lam=0.8),
                 "seasonal", amplitude=0.4),
        _channel("search", 3000, 4.0, _geometric(0.2, "hill_sigmoid", beta=3.0, lam=0.3),
                 growth=0.3),
        _channel("social", 2000, 2.5, _geometric(0.4, "hill_sigmoid", beta=1.5, lam=0.5),
                 "on_off", on_periods=6, off_periods=4),
        _channel("radio", 1500, 1.5, _geometric(0.5, "hill_sigmoid", beta=2.5, lam=1.0),
                 "delayed_start", start_period=20, ramp_periods=8),
    ]
    channels = [dataclasses.replace(channel, spend_noise=0.0) for channel in channels]
    controls = [ControlConfig("seasonal", {"amplitude": 0.5, "phase": 1.0}, 0.3, 1500.0),
                ControlConfig("linear_trend", {"growth": 0.5}, 0.5, -800.0)]
    regions = RegionConfig(n_regions=3, baseline_variation=0.2, spend_variation=0.0,
                           effectiveness_variation=0.2, population_variation=0.5)
    return _config(channels, controls, 104, 0.25, seed, trend_growth=0.0,
                   seasonality_amplitude=0.15, seasonality_clock="day_of_year",
                   regions=regions)


def _basic(seed: int) -> MMMDataConfig:
    channels = [_channel("tv", 5000, 3.0, _geometric(0.5), "seasonal", amplitude=0.3),
                _channel("search", 3000, 3.5, _geometric(0.2, slope=1.5, kappa=0.8), growth=0.2)]
    return _config(channels, (), 104, 0.25, seed)


def _seasonal(seed: int) -> MMMDataConfig:
    channels = [
        _channel("tv", 6000, 3.0, _geometric(0.6), "seasonal", amplitude=0.6),
        _channel("search", 3000, 4.0, _geometric(0.2, slope=1.2, kappa=0.8), "seasonal",
                 amplitude=0.5, phase=1.5),
        _channel("social", 2000, 2.5, _geometric(0.4, slope=1.0, kappa=1.2), growth=0.5),
    ]
    controls = [ControlConfig("seasonal", {"amplitude": 0.5, "phase": 3.0}, 0.3, 1500.0)]
    return _config(channels, controls, 104, 0.25, seed, seasonality_amplitude=0.3)


def _multi_region(seed: int) -> MMMDataConfig:
    channels = [_channel("tv", 5000, 3.0, _geometric(0.6), "seasonal", amplitude=0.4),
                _channel("search", 3000, 4.0, _geometric(0.2, slope=1.2, kappa=0.8), growth=0.3),
                _channel("social", 2000, 2.5, _geometric(0.4, "logistic", lam=1.5), "on_off",
                         on_periods=6, off_periods=4)]
    controls = [ControlConfig("seasonal", {"amplitude": 0.5}, 0.3, 1000.0)]
    return _config(channels, controls, 104, 0.25, seed, regions=RegionConfig(n_regions=5))


_PRESETS: dict[str, Callable[[int], MMMDataConfig]] = {
    "small_business": _small_business, "growing_business": _growing_business,
    "medium_business": _medium_business, "large_business": _large_business,
    "basic": _basic, "seasonal": _seasonal, "multi_region": _multi_region,
    "shared_dgp": _shared_dgp, "pymc_native": _pymc_native, "meridian_native": _meridian_native,
}


def list_available_presets() -> list[str]:
    """Names accepted by get_preset_config, in a stable order."""
    return list(_PRESETS)


def get_preset_config(name: str, seed: int = 42) -> MMMDataConfig:
    """The preset's config; every parameter of it derives from ``seed``."""
    if name not in _PRESETS:
        raise ConfigError(f"preset: {name!r} is unknown; allowed: {list_available_presets()}")
    return _PRESETS[name](seed)


def customize_preset(name: str, **overrides: Any) -> MMMDataConfig:
    """A preset with fields replaced; nested fields by dotted keys, sequences by index.

    Example: ``customize_preset("basic", n_periods=60, **{"regions.n_regions": 3,
    "channels.0.transform.adstock_params": {"alpha": 0.3}})``. ``seed`` picks the
    preset's seed (and so large_business's drawn channels) before other overrides; the
    factorial switches of ``switches.SWITCHES`` (``trend``, ``spend``, ``hill_slope``,
    ``spend_phase``) come next, then the field overrides.
    """
    config = get_preset_config(name, seed=overrides.pop("seed", 42))
    config = apply_switches(config, {k: overrides.pop(k) for k in list(overrides)
                                     if k in SWITCHES})
    for key, value in overrides.items():
        config = _replace_path(config, key.split("."), value, key)
    return config


def _replace_path(obj: Any, parts: list[str], value: Any, key: str) -> Any:
    head, rest = parts[0], parts[1:]
    if isinstance(obj, tuple):
        if not head.isdigit() or int(head) >= len(obj):
            raise ConfigError(f"{key}: index {head!r} is invalid; allowed: 0..{len(obj) - 1}")
        index = int(head)
        new_item = _replace_path(obj[index], rest, value, key) if rest else value
        return obj[:index] + (new_item,) + obj[index + 1:]
    if not dataclasses.is_dataclass(obj) or head not in {f.name for f in dataclasses.fields(obj)}:
        allowed = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else []
        raise ConfigError(f"{key}: field {head!r} is unknown; allowed: {allowed}")
    new_value = _replace_path(getattr(obj, head), rest, value, key) if rest else value
    return dataclasses.replace(obj, **{head: new_value})
