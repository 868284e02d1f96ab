"""The fitters the benchmark knows: a name -> adapter, sampler and eligibility rules.

Adding a library is one adapter module (implementing ``adapters.base.LibraryAdapter``)
plus one ``FitterEntry`` below. Nothing else in the package tests fitter names: what a
fitter can take (its options, how much memory it needs) is data on its entry.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mmm_param_recovery.benchmarking.adapters.base import LibraryAdapter
from mmm_param_recovery.errors import FitSpecError

GIB = 1024**3
MEMORY_FRACTION = 0.9
"""A fit is skipped when its memory estimate exceeds this fraction of the machine's RAM."""
_FLOAT64_BYTES = 8


@dataclass(frozen=True)
class MemoryModel:
    """A rough peak-RSS estimate of one fit, in bytes.

    ``base_gib``: the process before the draws exist (interpreter, library imports,
    compiled model), GiB. ``copies``: how many float64 copies of the largest posterior
    array, (chain, draw, date, geo, channel), the fit holds at its peak. The pymc and
    nutpie samplers store draws one at a time; the JAX samplers compute every
    deterministic of every draw in one vectorised call on device buffers and then copy
    them to numpy and xarray; Meridian samples only geo-level parameters and materialises
    the per-week contributions once, in post-processing. The base values are the peaks
    measured on a tiny dataset (docs STACK.md); ``copies`` are estimates to recalibrate
    from measured ``peak_rss_bytes``.
    """

    base_gib: float
    copies: float

    def estimate_bytes(self, chains: int, draws: int, cells: int) -> float:
        """Estimated peak RSS for ``chains`` x ``draws`` draws of ``cells`` (date, geo,
        channel) values per draw."""
        return self.base_gib * GIB + self.copies * _FLOAT64_BYTES * chains * draws * cells


@dataclass(frozen=True)
class FitterEntry:
    """One fitter: ``name`` (``library[:sampler]``), the ``adapter`` object to import
    (``"package.module:attribute"``: a LibraryAdapter instance or a class taking no
    arguments), its ``memory`` model and the ``options`` it accepts (name -> allowed
    values; the first value is the default the adapter uses)."""

    name: str
    library: str
    sampler: str | None
    adapter: str
    memory: MemoryModel
    options: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def folder_stem(self) -> str:
        """``{library}[_{sampler}]``: the prefix of this fitter's run folders."""
        return self.library if self.sampler is None else f"{self.library}_{self.sampler}"

    def load_adapter(self) -> LibraryAdapter:
        """Import the adapter (the library itself is imported later, lazily, by it)."""
        return import_adapter(self.adapter)

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Raise FitSpecError for an option this fitter does not take or a bad value."""
        for key, value in options.items():
            if key not in self.options:
                raise FitSpecError(
                    f"settings.options: {key!r} is invalid for {self.name}; "
                    f"allowed: {sorted(self.options) or 'no options'}"
                )
            if value not in self.options[key]:
                raise FitSpecError(
                    f"settings.options.{key}: {value!r} is invalid; allowed: {self.options[key]}"
                )

    def ineligibility(self, chains: int, draws: int, cells: int, total_bytes: int) -> str | None:
        """Why this fitter must not run (a sentence), or ``None`` when it may.

        ``cells``: values per draw of a (date, geo, channel) array; ``total_bytes``: the
        machine's RAM.
        """
        estimate = self.memory.estimate_bytes(chains, draws, cells)
        if estimate <= MEMORY_FRACTION * total_bytes:
            return None
        array_gib = _FLOAT64_BYTES * chains * draws * cells / GIB
        return (
            f"{self.name}: estimated peak memory {estimate / GIB:.1f} GiB "
            f"({self.memory.base_gib:g} GiB + {self.memory.copies:g} x {array_gib:.1f} GiB "
            f"(chain, draw, date, geo, channel) float64 array) exceeds "
            f"{MEMORY_FRACTION:.0%} of this machine's {total_bytes / GIB:.1f} GiB"
        )


def import_adapter(path: str) -> LibraryAdapter:
    """The adapter at ``"package.module:attribute"`` (an instance, or a class taking no
    arguments, which is instantiated)."""
    module_name, _, attribute = path.partition(":")
    adapter = getattr(importlib.import_module(module_name), attribute)
    return adapter() if isinstance(adapter, type) else adapter


_PYMC_ADAPTER = "mmm_param_recovery.benchmarking.adapters.pymc_mmm:PyMCAdapter"
_MERIDIAN_ADAPTER = "mmm_param_recovery.benchmarking.adapters.meridian_mmm:MeridianAdapter"

_FITTERS: dict[str, FitterEntry] = {
    entry.name: entry
    for entry in (
        FitterEntry("pymc:pymc", "pymc", "pymc", _PYMC_ADAPTER, MemoryModel(1.0, 2.0)),
        FitterEntry(
            "pymc:nutpie", "pymc", "nutpie", _PYMC_ADAPTER, MemoryModel(0.75, 2.0),
            options={"nutpie_backend": ("numba", "jax")},
        ),
        FitterEntry("pymc:numpyro", "pymc", "numpyro", _PYMC_ADAPTER, MemoryModel(1.4, 3.0)),
        FitterEntry("pymc:blackjax", "pymc", "blackjax", _PYMC_ADAPTER, MemoryModel(1.4, 3.0)),
        FitterEntry("meridian", "meridian", None, _MERIDIAN_ADAPTER, MemoryModel(2.4, 1.5)),
    )
}


def list_fitters() -> tuple[str, ...]:
    """Every registered fitter name, in registry order."""
    return tuple(_FITTERS)


def get_fitter(name: str) -> FitterEntry:
    """The entry of fitter ``name``; FitSpecError naming the allowed names otherwise."""
    try:
        return _FITTERS[name]
    except (KeyError, TypeError):
        raise FitSpecError(
            f"fitter: {name!r} is invalid; allowed: {', '.join(_FITTERS)}"
        ) from None


def fitters_for(library: str, sampler: str | None = None) -> tuple[FitterEntry, ...]:
    """Entries of ``library`` (and ``sampler`` when given); FitSpecError when none match."""
    matches = tuple(
        entry for entry in _FITTERS.values()
        if entry.library == library and (sampler is None or entry.sampler == sampler)
    )
    if not matches:
        known = sorted({(e.library, e.sampler or "") for e in _FITTERS.values()})
        raise FitSpecError(
            f"library/sampler: {library!r}/{sampler!r} is invalid; allowed: {known}"
        )
    return matches
