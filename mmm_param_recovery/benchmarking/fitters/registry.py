"""The fitters the benchmark knows: a name -> adapter, sampler and eligibility rules.

Adding a library is one adapter module (implementing ``fitters.base.LibraryAdapter``)
plus one ``FitterEntry`` below; adding a PyMC-Marketing sampler is one subclass of
``pymc_adapter.PyMCAdapter`` plus one entry. Nothing else in the package tests fitter
names: what a fitter can take (its options, how much memory it needs, its plot colour) is
data on its entry, and the CLI's choices are read from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mmm_param_recovery.benchmarking.fitters.base import LibraryAdapter
from mmm_param_recovery.benchmarking.fitters.model_spec import spec_to_dict
from mmm_param_recovery.errors import FitSpecError, invalid

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
    the per-week contributions in post-processing (in several copies). The base values are the peaks
    measured on a tiny dataset (docs STACK.md); ``copies`` are estimates to recalibrate
    from measured ``peak_rss_bytes`` (``benchmarks/calibrate_memory.py``). Each bounds its
    one measured large fit, medium_business at 4 x 1000 draws (docs/seed_settings.md):
    Meridian 4.08 GiB (5.6 copies over the base), nutpie 3.08 GiB (7.8), numpyro 3.29 GiB
    (6.3), blackjax 3.35 GiB (6.5); the pymc sampler's value is not yet measured.
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
    arguments), its ``memory`` model, the ``options`` it accepts (name -> allowed
    values; the first value is the default the adapter uses) and the ``color`` plots
    draw it in (``None``: one derived from the name)."""

    name: str
    library: str
    sampler: str | None
    adapter: str
    memory: MemoryModel
    options: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    color: str | None = None

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
                raise invalid(f"settings.options (of {self.name})", key,
                              str(sorted(self.options) or "no options"), FitSpecError)
            if value not in self.options[key]:
                raise invalid(f"settings.options.{key}", value, str(self.options[key]),
                              FitSpecError)

    @property
    def profiles(self) -> tuple[str, ...]:
        """The prior profiles the adapter supports (``("seed",)`` if it names none)."""
        return tuple(getattr(self.load_adapter(), "profiles", ("seed",)))

    def check_profile(self, profile: str) -> None:
        """Raise FitSpecError when this fitter does not support prior ``profile``."""
        if profile not in self.profiles:
            raise invalid(f"priors (for {self.name})", profile, ", ".join(self.profiles),
                          FitSpecError)

    def model_spec(self, prepared: Any, profile: str,
                   options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The adapter's model spec of ``profile`` with fitter ``options`` on ``prepared``
        as JSON-ready data (``{}`` for an adapter without ``model_spec``)."""
        self.check_profile(profile)
        self.check_options(options or {})
        adapter = self.load_adapter()
        if not hasattr(adapter, "model_spec"):
            return {}
        return spec_to_dict(adapter.model_spec(prepared, profile, options or {}))

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


_PYMC = "mmm_param_recovery.benchmarking.fitters.pymc_adapter"
_MERIDIAN = "mmm_param_recovery.benchmarking.fitters.meridian_adapter"

_FITTERS: dict[str, FitterEntry] = {}


def register_fitter(entry: FitterEntry) -> FitterEntry:
    """Add ``entry`` to the registry (FitSpecError if its name is taken); returns it.

    Every name the package shows (CLI choices, ``--list``, tables, plots) is read from
    the registry, so a registered fitter appears everywhere without other edits.
    """
    if entry.name in _FITTERS:
        raise invalid("fitter.name", entry.name, "a name not yet registered", FitSpecError)
    _FITTERS[entry.name] = entry
    return entry


def unregister_fitter(name: str) -> None:
    """Remove fitter ``name`` (e.g. a fitter a test registered)."""
    _FITTERS.pop(get_fitter(name).name)


_PYMC_OPTIONS = {"saturation": ("hill_sigmoid", "hill")}
"""Options of every PyMC-Marketing fitter: the saturation (``pymc_model.SATURATIONS``)."""

for _entry in (
    FitterEntry("pymc:pymc", "pymc", "pymc", f"{_PYMC}:PymcSampler", MemoryModel(1.0, 2.0),
                options=_PYMC_OPTIONS, color="#1f77b4"),
    FitterEntry("pymc:nutpie", "pymc", "nutpie", f"{_PYMC}:NutpieSampler", MemoryModel(0.75, 8.0),
                options={**_PYMC_OPTIONS, "nutpie_backend": ("numba", "jax")},
                color="#ff7f0e"),
    FitterEntry("pymc:numpyro", "pymc", "numpyro", f"{_PYMC}:NumpyroSampler",
                MemoryModel(1.4, 7.0), options=_PYMC_OPTIONS, color="#2ca02c"),
    FitterEntry("pymc:blackjax", "pymc", "blackjax", f"{_PYMC}:BlackjaxSampler",
                MemoryModel(1.4, 7.0), options=_PYMC_OPTIONS, color="#d62728"),
    FitterEntry("meridian", "meridian", None, f"{_MERIDIAN}:MeridianAdapter",
                MemoryModel(2.4, 6.0), options={"knots": ("auto", "1")}, color="#9467bd"),
):
    register_fitter(_entry)


def list_fitters() -> tuple[str, ...]:
    """Every registered fitter name, in registry order."""
    return tuple(_FITTERS)


def list_libraries() -> tuple[str, ...]:
    """Every library with a registered fitter, in registry order."""
    return tuple(dict.fromkeys(entry.library for entry in _FITTERS.values()))


def list_samplers() -> tuple[str, ...]:
    """Every named sampler (of libraries with several), in registry order."""
    return tuple(dict.fromkeys(e.sampler for e in _FITTERS.values() if e.sampler is not None))


def get_fitter(name: str) -> FitterEntry:
    """The entry of fitter ``name``; FitSpecError naming the allowed names otherwise."""
    try:
        return _FITTERS[name]
    except (KeyError, TypeError):
        raise invalid("fitter", name, ", ".join(_FITTERS), FitSpecError) from None


def fitters_for(library: str, sampler: str | None = None) -> tuple[FitterEntry, ...]:
    """Entries of ``library`` (and ``sampler`` when given); FitSpecError when none match."""
    matches = tuple(
        entry for entry in _FITTERS.values()
        if entry.library == library and (sampler is None or entry.sampler == sampler)
    )
    if not matches:
        known = sorted({(e.library, e.sampler or "") for e in _FITTERS.values()})
        raise invalid("library/sampler", f"{library}/{sampler}", str(known), FitSpecError)
    return matches


def select_fitters(libraries: Sequence[str], samplers: Sequence[str]) -> tuple[str, ...]:
    """Fitter names of ``libraries``: for a library with named samplers, those among
    ``samplers``; for a library with a single sampler, that one. Registry order within
    each library, libraries in the order given."""
    names = []
    for library in libraries:
        entries = fitters_for(library)
        names += [e.name for e in entries if e.sampler is None or e.sampler in samplers]
    return tuple(names)
