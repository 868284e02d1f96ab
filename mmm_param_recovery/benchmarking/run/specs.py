"""Frozen, validated descriptions of a fit and the identity (``run_key``) of its result.

A ``FitSpec`` names everything that decides a fit's posterior: the fitter (library +
sampler), the NUTS settings, the dataset (name, seed, config hash, size), the prior
profile and the whole model spec (every prior and structural choice, as built by the
adapter's ``model_spec``). ``run_key`` hashes that identity together with the library
versions and ``SCHEMA_VERSION``. Run control is recorded beside the run but is not part of
its identity: the dataset's filesystem path, the cores a fit may use (from ``--jobs``)
and the timeout do not change what the fit computes, so changing them never re-fits.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_param_recovery.benchmarking.fitters.base import PreparedData, SamplingSettings
from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.data_generator.io import (
    channel_columns,
    config_to_dict,
    control_columns,
    load_dataset,
)
from mmm_param_recovery.errors import FitSpecError, invalid

SCHEMA_VERSION = 3
"""Version of the stored run layout and canonical posterior; part of every run_key (3: the
posterior holds the steady-state response curves and marginal ROAS)."""

_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEX = re.compile(r"^[0-9a-f]+$")




def _check_count(field_name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise invalid(field_name, value, "an integer >= 1", FitSpecError)


@dataclass(frozen=True)
class DatasetRef:
    """A dataset folder written by ``data_generator.io.save_dataset``.

    ``name`` is the preset or scenario name (also the results sub-folder), ``seed`` the
    generator seed, ``config_hash`` a hex digest of the generator config, ``path`` the
    folder holding data.parquet / truth.parquet / truth.json. ``n_dates``, ``n_geos`` and
    ``n_channels`` give the size (weeks, geos, media channels) that eligibility rules
    (memory estimates) use.
    """

    name: str
    seed: int
    config_hash: str
    path: Path
    n_dates: int
    n_geos: int
    n_channels: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _DATASET_NAME.match(self.name):
            raise invalid("dataset.name", self.name,
                          "letters, digits, '_', '.', '-' (a folder name)", FitSpecError)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise invalid("dataset.seed", self.seed, "an integer >= 0", FitSpecError)
        if not isinstance(self.config_hash, str) or not _HEX.match(self.config_hash):
            raise invalid("dataset.config_hash", self.config_hash, "a lower-case hex digest",
                          FitSpecError)
        object.__setattr__(self, "path", Path(self.path))
        for name in ("n_dates", "n_geos", "n_channels"):
            _check_count(f"dataset.{name}", getattr(self, name))

    @property
    def cells(self) -> int:
        """Values of one (date, geo, channel) array: the unit of the memory estimates."""
        return self.n_dates * self.n_geos * self.n_channels

    @classmethod
    def from_frame(
        cls, name: str, seed: int, config_hash: str, path: str | Path, data: pd.DataFrame
    ) -> DatasetRef:
        """A reference whose size is read from the observed frame ``data``."""
        return cls(
            name=name,
            seed=seed,
            config_hash=config_hash,
            path=Path(path),
            n_dates=int(data["date"].nunique()),
            n_geos=int(data["geo"].nunique()),
            n_channels=len(channel_columns(data)),
        )

    def prepared(self) -> PreparedData:
        """Load the observed data from ``path`` as the adapters receive it."""
        data = load_dataset(self.path)["data"]
        return PreparedData(data, tuple(channel_columns(data)), tuple(control_columns(data)))


def config_hash(config: Any) -> str:
    """sha256 of a generator config (dataclass or the dict stored in truth.json)."""
    return hashlib.sha256(canonical_json(config_to_dict(config)).encode("ascii")).hexdigest()


def dataset_ref(name: str, directory: str | Path) -> DatasetRef:
    """Describe the dataset folder ``directory`` (validated by ``load_dataset``).

    The seed comes from the stored generator config (0 for a user's dataset without one).
    """
    result = load_dataset(directory)
    seed = int(result["config"].get("seed", 0))
    digest = config_hash(result["config"])
    return DatasetRef.from_frame(name, seed, digest, directory, result["data"])


@dataclass(frozen=True)
class FitSpec:
    """One fit: ``fitter`` (a registry name such as ``pymc:nutpie``) with ``settings`` on
    ``dataset`` under prior ``profile``, whose model is ``model`` (the canonical JSON of
    the adapter's model spec), using ``cores`` CPU cores, killed after
    ``timeout_seconds`` of wall time (``None``: no limit). ``settings.sampler`` must be
    the fitter's sampler and ``settings.options`` must be options the fitter allows.
    """

    fitter: str
    settings: SamplingSettings
    dataset: DatasetRef
    cores: int
    timeout_seconds: float | None = None
    profile: str = "seed"
    model: str = "{}"

    @property
    def model_dict(self) -> dict[str, Any]:
        """The model spec as data (docs/models.md)."""
        return json.loads(self.model)

    def __post_init__(self) -> None:
        entry = get_fitter(self.fitter)
        if not isinstance(self.settings, SamplingSettings):
            raise invalid("settings", self.settings, "a SamplingSettings", FitSpecError)
        if not isinstance(self.dataset, DatasetRef):
            raise invalid("dataset", self.dataset, "a DatasetRef", FitSpecError)
        if self.settings.sampler != entry.sampler:
            raise invalid("settings.sampler", self.settings.sampler,
                          f"{entry.sampler!r} for {entry.name}", FitSpecError)
        entry.check_options(self.settings.option_dict)
        entry.check_profile(self.profile)
        _check_count("cores", self.cores)
        timeout = self.timeout_seconds
        if timeout is not None and (
            not isinstance(timeout, int | float) or isinstance(timeout, bool)
            or not math.isfinite(timeout) or timeout <= 0
        ):
            raise invalid("timeout_seconds", timeout, "None or a number of seconds > 0",
                          FitSpecError)


def make_fit_spec(
    fitter: str,
    dataset: DatasetRef,
    *,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    target_accept: float = 0.9,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    cores: int | None = None,
    timeout_seconds: float | None = None,
    profile: str = "seed",
    prepared: PreparedData | None = None,
    model: Mapping[str, Any] | None = None,
) -> FitSpec:
    """A ``FitSpec`` with the sampler taken from the registry and the model spec of
    ``profile`` built by the fitter's adapter on the dataset (``prepared``: the dataset's
    observed data when already loaded; ``model``: a JSON-ready model spec built
    elsewhere, used as given); ``cores`` defaults to ``chains``."""
    settings = SamplingSettings(
        chains=chains,
        draws=draws,
        tune=tune,
        target_accept=target_accept,
        seed=seed,
        sampler=get_fitter(fitter).sampler,
        options=tuple(sorted((options or {}).items())),
    )
    entry = get_fitter(fitter)
    entry.check_profile(profile)
    if model is None:
        model = entry.model_spec(prepared or dataset.prepared(), profile, settings.option_dict)
    return FitSpec(fitter, settings, dataset, chains if cores is None else cores,
                   timeout_seconds, profile, canonical_json(model))


def spec_to_dict(spec: FitSpec) -> dict[str, Any]:
    """The whole spec as JSON-ready data (path as a string, options as a mapping)."""
    settings = spec.settings
    return {
        "fitter": spec.fitter,
        "settings": {
            "chains": settings.chains,
            "draws": settings.draws,
            "tune": settings.tune,
            "target_accept": float(settings.target_accept),
            "seed": settings.seed,
            "sampler": settings.sampler,
            "options": settings.option_dict,
        },
        "dataset": {
            "name": spec.dataset.name,
            "seed": spec.dataset.seed,
            "config_hash": spec.dataset.config_hash,
            "path": str(spec.dataset.path),
            "n_dates": spec.dataset.n_dates,
            "n_geos": spec.dataset.n_geos,
            "n_channels": spec.dataset.n_channels,
        },
        "profile": spec.profile,
        "model": spec.model_dict,
        "cores": spec.cores,
        "timeout_seconds": spec.timeout_seconds,
    }


def settings_from_dict(data: Mapping[str, Any]) -> SamplingSettings:
    """Inverse of the ``settings`` part of ``spec_to_dict``."""
    return SamplingSettings(**{**data, "options": tuple(sorted(data["options"].items()))})


def spec_from_dict(data: Mapping[str, Any]) -> FitSpec:
    """Inverse of ``spec_to_dict``; validates like the constructors do."""
    try:
        return FitSpec(
            fitter=data["fitter"],
            settings=settings_from_dict(data["settings"]),
            dataset=DatasetRef(**data["dataset"]),
            cores=data["cores"],
            timeout_seconds=data["timeout_seconds"],
            profile=data["profile"],
            model=canonical_json(data["model"]),
        )
    except (KeyError, TypeError) as error:
        raise FitSpecError(f"spec: {error!s}; allowed: the layout of spec_to_dict") from error


RUN_CONTROL = ("cores", "timeout_seconds")
"""Spec fields recorded beside a result but not part of its identity (with the path)."""


def _identity(spec_dict: Mapping[str, Any]) -> dict[str, Any]:
    """``spec_dict`` without run control (cores, timeout) and the dataset's path."""
    identity = {k: v for k, v in spec_dict.items() if k not in RUN_CONTROL}
    identity["dataset"] = {k: v for k, v in spec_dict["dataset"].items() if k != "path"}
    return identity


def canonical_json(data: Any) -> str:
    """Key-sorted, whitespace-free JSON: the same bytes for equal data in any process."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def run_key_from_dict(spec_dict: Mapping[str, Any], versions: Mapping[str, str]) -> str:
    """sha256 (64 hex digits) of the spec identity, the versions and SCHEMA_VERSION."""
    payload = {
        "schema_version": SCHEMA_VERSION,
        "spec": _identity(spec_dict),
        "versions": dict(versions),
    }
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()


def run_key(spec: FitSpec, versions: Mapping[str, str]) -> str:
    """The identity of ``spec``'s result under the library ``versions`` (64 hex digits)."""
    return run_key_from_dict(spec_to_dict(spec), versions)
