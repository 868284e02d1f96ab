"""Frozen, validated configuration of a synthetic MMM dataset.

Every config validates itself on construction and raises ``ConfigError`` naming the
field, the bad value and what is allowed. Money is in currency units per week; the
reference spend of a channel (``ChannelConfig.base_spend``) is the unit in which its
saturation is defined, so a geo that spends more gets more contribution.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mmm_param_recovery.errors import ConfigError, invalid

from .transforms import ADSTOCK_FUNCTIONS, SATURATION_FUNCTIONS

SPEND_PATTERNS = ("linear_trend", "seasonal", "delayed_start", "on_off", "custom")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_ADSTOCK_PARAMS = {"geometric": {"alpha"}, "delayed": {"alpha", "theta"}, "weibull": {"lam", "k"}}
_SATURATION_PARAMS = {"hill": {"slope", "kappa"}, "logistic": {"lam"},
                      "hill_sigmoid": {"beta", "lam"}}
SEASONALITY_CLOCKS = ("weeks", "day_of_year")




def _frozen_mapping(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = _is_number(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise invalid(name, value, "a number >= 0" if allow_zero else "a number > 0", ConfigError)


@dataclass(frozen=True)
class TransformConfig:
    """Carry-over and saturation of one channel.

    ``adstock_params``: geometric {alpha in [0,1)}, delayed {alpha in [0,1), theta >= 0},
    weibull {lam > 0, k > 0}; ``adstock_lmax`` lags (weeks); ``adstock_normalize``
    divides the lag weights by their sum (then adstock keeps the spend's total).
    ``saturation_params``: hill {slope > 0, kappa > 0}, logistic {lam > 0}, hill_sigmoid
    {beta > 0, lam > 0} (PyMC-Marketing's Hill sigmoid scaled to asymptote 1), where
    kappa, lam and 1/beta are in units of the channel's reference spend.
    """

    adstock_fun: str = "geometric"
    adstock_params: Mapping[str, float] = field(default_factory=lambda: {"alpha": 0.5})
    adstock_lmax: int = 8
    adstock_normalize: bool = True
    saturation_fun: str = "hill"
    saturation_params: Mapping[str, float] = field(
        default_factory=lambda: {"slope": 1.0, "kappa": 1.0}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "adstock_params", _frozen_mapping(self.adstock_params))
        object.__setattr__(self, "saturation_params", _frozen_mapping(self.saturation_params))
        self.validate("transform")

    def validate(self, where: str) -> None:
        if self.adstock_fun not in ADSTOCK_FUNCTIONS:
            raise invalid(f"{where}.adstock_fun", self.adstock_fun,
                          f"one of {ADSTOCK_FUNCTIONS}", ConfigError)
        if self.saturation_fun not in SATURATION_FUNCTIONS:
            raise invalid(
                f"{where}.saturation_fun", self.saturation_fun, f"one of {SATURATION_FUNCTIONS}"
            , ConfigError)
        _check_keys(
            f"{where}.adstock_params", self.adstock_params, _ADSTOCK_PARAMS[self.adstock_fun]
        )
        _check_keys(
            f"{where}.saturation_params",
            self.saturation_params,
            _SATURATION_PARAMS[self.saturation_fun],
        )
        if not isinstance(self.adstock_lmax, int) or self.adstock_lmax < 1:
            raise invalid(f"{where}.adstock_lmax", self.adstock_lmax, "an integer >= 1",
                          ConfigError)
        for key, value in self.adstock_params.items():
            if key == "alpha" and not (_is_number(value) and 0 <= value < 1):
                raise invalid(f"{where}.adstock_params.alpha", value, "0 <= alpha < 1", ConfigError)
            elif key != "alpha":
                _check_positive(f"{where}.adstock_params.{key}", value, allow_zero=key == "theta")
        for key, value in self.saturation_params.items():
            _check_positive(f"{where}.saturation_params.{key}", value)


def _check_keys(name: str, params: Mapping[str, float], expected: set[str]) -> None:
    if set(params) != expected:
        raise invalid(name, dict(params), f"exactly the keys {sorted(expected)}", ConfigError)


@dataclass(frozen=True)
class ChannelConfig:
    """One media channel.

    ``base_spend``: typical weekly spend per geo (currency), also the reference spend of
    the saturation. ``pattern``: one of SPEND_PATTERNS with ``pattern_params``:
    linear_trend {growth: relative change over the window}, seasonal {amplitude in [0,1),
    period weeks, phase radians}, delayed_start {start_period, ramp_periods,
    end_period (optional; spend is 0 from it on)}, on_off {on_periods, off_periods,
    offset}, custom {} with ``custom_fn(t, rng) -> multipliers >= 0`` of shape (n_periods,).
    ``spend_noise``: sd of the log-normal week-to-week spend noise. ``effect``: the
    weekly contribution at full saturation, in units of ``base_spend`` (so at the
    half-saturation point ROAS is about effect / 2).
    """

    name: str
    base_spend: float = 1000.0
    pattern: str = "linear_trend"
    pattern_params: Mapping[str, Any] = field(default_factory=dict)
    spend_noise: float = 0.2
    effect: float = 2.0
    transform: TransformConfig = field(default_factory=TransformConfig)
    custom_fn: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern_params", _frozen_mapping(self.pattern_params))
        self.validate("channel")

    def validate(self, where: str) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise invalid(f"{where}.name", self.name,
                          "letters and digits only, starting with a letter", ConfigError)
        _check_positive(f"{where}.base_spend", self.base_spend)
        _check_positive(f"{where}.spend_noise", self.spend_noise, allow_zero=True)
        _check_positive(f"{where}.effect", self.effect, allow_zero=True)
        validate_pattern(where, self.pattern, self.pattern_params, self.custom_fn)
        self.transform.validate(f"{where}.transform")


def validate_pattern(where: str, pattern: str, params: Mapping[str, Any], custom_fn) -> None:
    """Check a spend/control pattern name and its parameters."""
    if pattern not in SPEND_PATTERNS:
        raise invalid(f"{where}.pattern", pattern, f"one of {SPEND_PATTERNS}", ConfigError)
    if pattern == "custom" and not callable(custom_fn):
        raise invalid(f"{where}.custom_fn", custom_fn, "a callable (t, rng) -> multipliers",
                      ConfigError)
    if pattern == "seasonal" and not 0 <= params.get("amplitude", 0.3) < 1:
        raise invalid(f"{where}.pattern_params.amplitude", params["amplitude"],
                      "0 <= amplitude < 1", ConfigError)
    if pattern == "delayed_start":
        start, end = params.get("start_period", 0), params.get("end_period")
        if end is not None and end <= start:
            raise invalid(f"{where}.pattern_params.end_period", end,
                          f"an integer > start_period={start}", ConfigError)
    if pattern == "on_off" and params.get("on_periods", 4) < 1:
        raise invalid(f"{where}.pattern_params.on_periods", params["on_periods"],
                      "an integer >= 1", ConfigError)


@dataclass(frozen=True)
class ControlConfig:
    """One control variable ``c{k}``: a pattern (as for channels) around 0, plus noise.

    The pattern level is built like a spend pattern (so a ``custom_fn`` returns values
    >= 0), then centred to mean 0 and scaled to sd 1 over time.

    ``effect``: the change of y (currency per week, per geo, before the geo's baseline
    multiplier) for a one-unit change of the control; controls are centred, unit-scale.
    """

    pattern: str = "seasonal"
    pattern_params: Mapping[str, Any] = field(default_factory=dict)
    noise: float = 0.3
    effect: float = 1000.0
    custom_fn: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern_params", _frozen_mapping(self.pattern_params))
        self.validate("control")

    def validate(self, where: str) -> None:
        validate_pattern(where, self.pattern, self.pattern_params, self.custom_fn)
        _check_positive(f"{where}.noise", self.noise, allow_zero=True)
        if not isinstance(self.effect, int | float):
            raise invalid(f"{where}.effect", self.effect, "a number", ConfigError)


@dataclass(frozen=True)
class RegionConfig:
    """Geos and how they differ: log-normal sds of per-geo multipliers.

    ``baseline_variation`` scales each geo's baseline, ``spend_variation`` its spend on
    every channel (times a smaller per-channel jitter), ``effectiveness_variation`` the
    ``effect`` of each (geo, channel). ``population_variation`` > 0 gives the geos
    populations (people, ``regions.PEOPLE_PER_UNIT`` times a log-normal multiplier, written as the
    data's ``population`` column): everything but the controls is then generated per
    capita and multiplied by the geo's population multiplier, so saturation sees spend
    per capita (Meridian's form). 0 (the default): no population column, every geo 1.
    """

    n_regions: int = 1
    region_names: tuple[str, ...] | None = None
    baseline_variation: float = 0.2
    spend_variation: float = 0.3
    effectiveness_variation: float = 0.15
    population_variation: float = 0.0

    def __post_init__(self) -> None:
        if self.region_names is not None:
            object.__setattr__(self, "region_names", tuple(self.region_names))
        self.validate("regions")

    def validate(self, where: str) -> None:
        if not isinstance(self.n_regions, int) or self.n_regions < 1:
            raise invalid(f"{where}.n_regions", self.n_regions, "an integer >= 1", ConfigError)
        names = self.region_names
        if names is not None and (len(names) != self.n_regions or len(set(names)) != len(names)):
            raise invalid(f"{where}.region_names", names, f"{self.n_regions} distinct names",
                          ConfigError)
        for name in ("baseline_variation", "spend_variation", "effectiveness_variation",
                     "population_variation"):
            _check_positive(f"{where}.{name}", getattr(self, name), allow_zero=True)

    @property
    def names(self) -> tuple[str, ...]:
        if self.region_names is not None:
            return self.region_names
        width = 1
        while 26**width < self.n_regions:
            width += 1
        return tuple(f"geo_{_letters(i, width)}" for i in range(self.n_regions))


def _letters(index: int, width: int) -> str:
    """Fixed-width base-26 letters (0 -> 'a', or 'aa' at width 2): names sort in order."""
    letters = []
    for _ in range(width):
        index, rem = divmod(index, 26)
        letters.append(chr(ord("a") + rem))
    return "".join(reversed(letters))


@dataclass(frozen=True)
class MMMDataConfig:
    """A whole dataset: size, channels, controls, geos, baseline and noise.

    ``base_sales``: weekly baseline revenue of an average geo (currency);
    ``trend_growth``: relative baseline change over the window; ``seasonality_amplitude``:
    relative amplitude of the yearly baseline cycle, a sine of ``seasonality_clock``:
    ``weeks`` (the week index over a 52.18-week period) or ``day_of_year`` (the calendar
    day over 365.25 days, as a Fourier basis on dates sees it);
    ``noise_level``: observation-noise sd as a fraction of the geo's mean baseline.
    """

    n_periods: int = 104
    start_date: str = "2022-01-03"
    channels: tuple[ChannelConfig, ...] = field(
        default_factory=lambda: (ChannelConfig("tv"), ChannelConfig("search"))
    )
    controls: tuple[ControlConfig, ...] = field(default_factory=tuple)
    regions: RegionConfig = field(default_factory=RegionConfig)
    base_sales: float = 20000.0
    trend_growth: float = 0.1
    seasonality_amplitude: float = 0.1
    seasonality_clock: str = "weeks"
    noise_level: float = 0.05
    seed: int = 42

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "controls", tuple(self.controls))
        validate_config(self)


def validate_config(config: MMMDataConfig) -> MMMDataConfig:
    """Check every field and cross-field rule; return the config or raise ConfigError."""
    if not isinstance(config.n_periods, int) or config.n_periods < 2:
        raise invalid("n_periods", config.n_periods, "an integer >= 2", ConfigError)
    if not isinstance(config.seed, int) or isinstance(config.seed, bool) or config.seed < 0:
        raise invalid("seed", config.seed, "an integer >= 0", ConfigError)
    if not config.channels:
        raise invalid("channels", config.channels, "at least one ChannelConfig", ConfigError)
    names = [channel.name for channel in config.channels]
    if len(set(names)) != len(names):
        raise invalid("channels", names, "distinct channel names", ConfigError)
    for i, channel in enumerate(config.channels):
        channel.validate(f"channels[{i}]")
        lmax = channel.transform.adstock_lmax
        if config.n_periods < lmax:
            raise invalid("n_periods", config.n_periods,
                          f">= channels[{i}].transform.adstock_lmax={lmax}", ConfigError)
    for k, control in enumerate(config.controls):
        control.validate(f"controls[{k}]")
    config.regions.validate("regions")
    _check_positive("base_sales", config.base_sales)
    _check_positive("noise_level", config.noise_level, allow_zero=True)
    if not 0 <= config.seasonality_amplitude < 1:
        raise invalid("seasonality_amplitude", config.seasonality_amplitude, "0 <= value < 1",
                      ConfigError)
    if config.seasonality_clock not in SEASONALITY_CLOCKS:
        raise invalid("seasonality_clock", config.seasonality_clock,
                      f"one of {SEASONALITY_CLOCKS}", ConfigError)
    if not -1 < config.trend_growth:
        raise invalid("trend_growth", config.trend_growth, "a number > -1", ConfigError)
    return config
