"""Frozen descriptions of the model that is fitted: priors as data, one spec per library.

A model spec holds everything that defines a library's model: every prior (distribution
and parameters, data-derived scales included), the transforms, seasonality, trend,
scaling and pooling. It is built in the parent from (observed data, prior profile) before
anything is fitted, written whole into ``run_spec.json`` and hashed into the run key, so
editing a prior can never reuse a posterior fitted under another one. Nothing here
imports a modelling library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mmm_param_recovery.errors import FitSpecError, invalid

PROFILES = ("seed", "library", "matched")
"""Prior profiles: ``seed`` (the original spend-share design), ``library`` (each library's
own defaults for the same structure), ``matched`` (the same prior on every channel's ROAS
for both libraries). docs/models.md lists every prior of every profile."""

MATCHED_ROAS_PRIOR = ("LogNormal", 0.0, 1.2)
"""``matched`` profile: ROAS ~ LogNormal(mu=0, sigma=1.2) per channel, for both libraries:
median 1, 95 % interval [0.095, 10.5], so it covers the ROAS range of realistic channels
(about 0.2 to 10) with most mass between 0.3 and 3.3 (the 68 % interval)."""



@dataclass(frozen=True)
class Dist:
    """A prior distribution: ``name`` (the library's class name, e.g. ``HalfNormal``),
    ``params`` as sorted ``(name, value)`` pairs, where a value is a number, a tuple of
    numbers (one per channel, in channel order) or a nested ``Dist``, and ``dims``."""

    name: str
    params: tuple[tuple[str, Any], ...]
    dims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key, value in self.params:
            _check_value(f"prior {self.name}.{key}", value)

    def param(self, key: str) -> Any:
        return dict(self.params)[key]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"dist", "params", "dims"}`` (nested priors as dicts)."""
        return {"dist": self.name, "dims": list(self.dims),
                "params": {k: _value_to_json(v) for k, v in self.params}}


def dist(name: str, dims: tuple[str, ...] = (), **params: Any) -> Dist:
    """A ``Dist`` with keyword parameters (lists become tuples)."""
    items = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
    return Dist(name, items, tuple(dims))


def _check_value(field: str, value: Any) -> None:
    if isinstance(value, Dist):
        return
    values = value if isinstance(value, tuple) else (value,)
    for number in values:
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(
                number):
            raise invalid(field, value, "finite numbers, tuples of them or a Dist", FitSpecError)


def _value_to_json(value: Any) -> Any:
    if isinstance(value, Dist):
        return value.to_dict()
    if isinstance(value, tuple):
        return [float(v) for v in value]
    return float(value)


def check_profile(profile: str) -> str:
    """``profile`` if it is one of PROFILES, else FitSpecError naming them."""
    if profile not in PROFILES:
        raise invalid("priors", profile, ", ".join(PROFILES), FitSpecError)
    return profile


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A model spec dataclass as JSON-ready data (priors by name, in field order)."""
    out: dict[str, Any] = {}
    for field in fields(spec):
        value = getattr(spec, field.name)
        if field.name == "priors":
            out["priors"] = {name: prior.to_dict() for name, prior in value}
        elif isinstance(value, tuple):
            out[field.name] = list(value)
        elif isinstance(value, Mapping):
            out[field.name] = dict(value)
        else:
            out[field.name] = value
    return out


def priors_of(spec: Any) -> dict[str, Dist]:
    """The spec's priors by name."""
    return dict(spec.priors)
