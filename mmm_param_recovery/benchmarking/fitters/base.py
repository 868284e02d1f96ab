"""The one interface every library adapter implements.

A fit runs in a fresh child process (see ``isolation``); the child calls, in order,
``environment`` (before any heavy import, applied to ``os.environ``), ``build``,
``sample`` and ``postprocess``, timing each phase the same way for every library.
Adapters import their library lazily, inside these methods, so that importing this
package never pulls in PyMC or Meridian.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from mmm_param_recovery.errors import FitSpecError


@dataclass(frozen=True)
class SamplingSettings:
    """NUTS settings shared by every fitter of a run.

    ``sampler`` is the PyMC-Marketing NUTS backend (``pymc``, ``nutpie``, ``numpyro``,
    ``blackjax``) or ``None`` for libraries with a single sampler (Meridian).
    ``tune`` is the number of warm-up (adaptation) iterations per chain, ``draws`` the
    kept draws per chain. ``options`` holds fitter-specific choices recorded with the
    run (e.g. ``{"nutpie_backend": "numba"}``), as a tuple of sorted key/value pairs so
    the settings stay hashable.
    """

    chains: int
    draws: int
    tune: int
    target_accept: float
    seed: int
    sampler: str | None = None
    options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("chains", "draws", "tune"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FitSpecError(f"{name}: {value!r} is invalid; allowed: an integer >= 1")
        if not 0.0 < float(self.target_accept) < 1.0:
            raise FitSpecError(
                f"target_accept: {self.target_accept!r} is invalid; allowed: 0 < value < 1"
            )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise FitSpecError(f"seed: {self.seed!r} is invalid; allowed: an integer >= 0")

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)


@dataclass(frozen=True)
class PreparedData:
    """An observed dataset as the adapters receive it (see docs/architecture.md)."""

    data: pd.DataFrame
    channel_columns: tuple[str, ...]
    control_columns: tuple[str, ...]


class LibraryAdapter(Protocol):
    """What a library must provide to join the benchmark (one module per library).

    Optional: ``prior_roas(built, prepared, settings)``, prior draws of each channel's
    ROAS from the library's own prior sampling, as an ``xr.DataArray`` (sample, channel)
    in y units per unit spend; the fit child calls it between build and sampling and the
    prior-predictive check (``metrics.prior_check``) is computed from it.
    """

    library: str
    profiles: tuple[str, ...]
    """The prior profiles (``model_spec.PROFILES``) this library supports."""

    def environment(self, settings: SamplingSettings, cores: int) -> Mapping[str, str]:
        """Environment variables to set before the library is imported (threads, XLA)."""

    def versions(self) -> Mapping[str, str]:
        """Versions of every package that can change this library's results."""

    def model_spec(self, prepared: PreparedData, profile: str,
                   options: Mapping[str, Any] | None = None) -> Any:
        """The frozen model spec (a dataclass: every prior and structural choice) of
        ``profile`` on this data, with the structural fitter ``options`` (``settings.
        options``; e.g. PyMC-Marketing's ``saturation``); computed in the parent, without
        importing the library, and hashed into the run key."""

    def build(self, prepared: PreparedData, settings: SamplingSettings, model: Any) -> Any:
        """Build (and, where the library allows, compile) the model of spec ``model``."""

    def from_model(self, model: Any, settings: SamplingSettings) -> Any:
        """Prepare a model the user built with ``model_builder`` for ``sample`` (the part
        of ``build`` after construction; used by the in-process seed API)."""

    def sample(self, model: Any, prepared: PreparedData, settings: SamplingSettings) -> Any:
        """Run tune + draws; return the fitted model."""

    def postprocess(self, fitted: Any, prepared: PreparedData, settings: SamplingSettings):
        """Return the canonical posterior (az.InferenceData, docs/architecture.md)."""

    def fitted_idata(self, fitted: Any) -> Any:
        """The library's own InferenceData of a fitted model (its ``posterior`` group
        carries the seed API's settings stamp)."""

    def fitted_frame(self, model: Any) -> pd.DataFrame:
        """The observed frame (docs/architecture.md) a built or fitted model holds."""
