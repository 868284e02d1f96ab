"""PyMC-Marketing adapter: one MMM, one class per NUTS sampler (pymc, nutpie, numpyro, blackjax).

Phases (each timed by the caller, docs/models.md "What each phase includes"):

- ``build``: data checks, ``MMM`` construction, ``build_model`` and the original-scale
  contribution variables; then per sampler: ``pymc`` compiles the joint logp and its
  gradient once (PyTensor C code lands in the on-disk compile cache that ``pm.sample``
  reuses); ``nutpie`` compiles the model with its backend (numba: the whole compile;
  jax: tracing plus one logp/gradient evaluation, which JIT-compiles it); ``numpyro`` /
  ``blackjax`` nothing more (PyMC JAX-compiles their sampling loop inside ``pm.sample``).
- ``sample``: tune + draws of the free random variables only, exactly what ``MMM.fit``
  samples; chains run in parallel (``cores=chains`` for pymc and nutpie,
  ``chain_method="parallel"`` for numpyro and blackjax).
- ``postprocess``: the deterministics ``MMM.fit`` would compute after sampling, the
  posterior predictive and the canonical conversion (``pymc_canonical``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.fitters.base import PreparedData, SamplingSettings
from mmm_param_recovery.benchmarking.fitters.environment import fit_environment
from mmm_param_recovery.benchmarking.fitters.model_spec import PROFILES
from mmm_param_recovery.benchmarking.fitters.pymc_canonical import canonical_posterior
from mmm_param_recovery.benchmarking.fitters.pymc_model import (
    DEFAULT_SATURATION,
    PyMCModelSpec,
    build_pymc_model_from_spec,
    pymc_model_spec,
    pymc_observed_frame,
)
from mmm_param_recovery.errors import FitSpecError, invalid

__all__ = [
    "BlackjaxSampler",
    "NumpyroSampler",
    "NutpieSampler",
    "PyMCAdapter",
    "PymcSampler",
    "canonical_posterior",
]

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class PyMCBuilt:
    """What ``build`` hands to ``sample``: the built MMM and, for nutpie, its compiled
    model."""

    mmm: Any
    compiled: Any = None


PRIOR_DRAWS = 500
"""Prior draws of the prior-predictive ROAS check."""
_CORE_PACKAGES = ("pymc-marketing", "pymc", "pytensor", "pymc-extras", "arviz", "numpy")


class PyMCAdapter:
    """``LibraryAdapter`` for PyMC-Marketing; one subclass per NUTS sampler.

    A subclass sets ``sampler`` and ``packages`` (what else can change its results) and
    implements ``compile`` (the sampler's share of the build phase) and ``draw`` (tune +
    draws of the free random variables); ``environment`` may be overridden.
    """

    library = "pymc"
    profiles = PROFILES
    sampler: str = ""
    packages: tuple[str, ...] = ()

    def environment(self, settings: SamplingSettings, cores: int) -> Mapping[str, str]:
        """One process (pymc) or thread/device (others) per chain, cores shared evenly."""
        self._check(settings)
        chains = settings.chains
        return fit_environment(cores, devices=chains, threads=cores // chains)

    def versions(self) -> Mapping[str, str]:
        names = dict.fromkeys((*_CORE_PACKAGES, *self.packages))
        return {name: version(name) for name in names}

    def model_spec(self, prepared: PreparedData, profile: str,
                   options: Mapping[str, Any] | None = None) -> PyMCModelSpec:
        saturation = (options or {}).get("saturation", DEFAULT_SATURATION)
        return pymc_model_spec(prepared.data, prepared.channel_columns,
                               prepared.control_columns, profile, saturation)

    def build(self, prepared: PreparedData, settings: SamplingSettings,
              model: PyMCModelSpec) -> PyMCBuilt:
        return self.from_model(build_pymc_model_from_spec(prepared.data, model), settings)

    def from_model(self, mmm: Any, settings: SamplingSettings) -> PyMCBuilt:
        """Compile an MMM from ``pymc_model.build_pymc_model`` for this sampler (the part
        of ``build`` after model construction; used by the seed API)."""
        self._check(settings)
        return PyMCBuilt(mmm, self.compile(mmm.model, settings))

    def sample(self, model: PyMCBuilt, prepared: PreparedData, settings: SamplingSettings):
        """Tune + draws; returns the MMM with ``idata`` (posterior of the free RVs and
        sampler statistics)."""
        self._check(settings)
        logger.info("sampling with %s: %d chains x %d tune x %d draws", self.sampler,
                    settings.chains, settings.tune, settings.draws)
        model.mmm.idata = self.draw(model, settings)
        return model.mmm

    def postprocess(
        self, fitted: Any, prepared: PreparedData, settings: SamplingSettings
    ) -> az.InferenceData:
        """Canonical posterior of the fitted MMM; attrs record the sampler, its options
        and the spend-share prior scales."""
        attrs = {"library": self.library, "sampler": self.sampler,
                 **self.posterior_attrs(settings)}
        return canonical_posterior(fitted, prepared.data, seed=settings.seed, attrs=attrs)

    def prior_roas(self, built: PyMCBuilt, prepared: PreparedData,
                   settings: SamplingSettings, draws: int = PRIOR_DRAWS) -> xr.DataArray:
        """Prior ROAS per channel (sample, channel) from ``pm.sample_prior_predictive`` of
        the built model: original-scale contributions summed over dates and geos / spend."""
        import pymc as pm

        name = "channel_contribution_original_scale"
        prior = pm.sample_prior_predictive(draws=draws, var_names=[name],
                                           model=built.mmm.model, random_seed=settings.seed)
        contribution = prior.prior[name].stack(sample=("chain", "draw"))
        spend = prepared.data[list(prepared.channel_columns)].sum()
        totals = contribution.sum([d for d in contribution.dims if d in ("date", "geo")])
        roas = totals / xr.DataArray(spend.to_numpy(float), dims=("channel",),
                                     coords={"channel": list(prepared.channel_columns)})
        return roas.transpose("sample", "channel").drop_vars(["chain", "draw", "sample"])

    def fitted_idata(self, fitted: Any) -> az.InferenceData:
        return fitted.idata

    def fitted_frame(self, model: Any) -> pd.DataFrame:
        return pymc_observed_frame(model.mmm if isinstance(model, PyMCBuilt) else model)

    def compile(self, model: Any, settings: SamplingSettings) -> Any:
        """Sampler-specific compilation in the build phase; the result reaches ``draw``."""
        return None

    def draw(self, model: PyMCBuilt, settings: SamplingSettings) -> az.InferenceData:
        """Tune + draws of the free random variables."""
        raise NotImplementedError

    def posterior_attrs(self, settings: SamplingSettings) -> dict[str, Any]:
        """Sampler choices recorded on the canonical posterior."""
        return {}

    def _check(self, settings: SamplingSettings) -> None:
        if settings.sampler != self.sampler:
            raise invalid("sampler", settings.sampler, repr(self.sampler), FitSpecError)


def _free_rv_names(model) -> list[str]:
    return [v.name for v in model.free_RVs]


def _pm_sample(model, settings: SamplingSettings, nuts_sampler: str, **kwargs: Any):
    """``pm.sample`` of the free RVs with chains in parallel (``cores=chains``)."""
    import pymc as pm

    with model:
        return pm.sample(
            draws=settings.draws, tune=settings.tune, chains=settings.chains,
            cores=settings.chains, target_accept=settings.target_accept,
            random_seed=settings.seed, nuts_sampler=nuts_sampler,
            var_names=_free_rv_names(model), progressbar=False,
            compute_convergence_checks=False, **kwargs,
        )


class PymcSampler(PyMCAdapter):
    """PyMC's own NUTS; the joint logp and its gradient are compiled in the build phase
    (PyTensor C code lands in the on-disk compile cache that ``pm.sample`` reuses)."""

    sampler = "pymc"

    def compile(self, model: Any, settings: SamplingSettings) -> None:
        model.compile_logp()
        model.compile_dlogp()

    def draw(self, model: PyMCBuilt, settings: SamplingSettings) -> az.InferenceData:
        return _pm_sample(model.mmm.model, settings, "pymc")


class _JaxSampler(PyMCAdapter):
    """A JAX NUTS through ``pm.sample``: PyMC JAX-compiles the sampling loop inside the
    sampling phase; chains run as XLA host devices (``chain_method="parallel"``)."""

    packages = ("jax", "jaxlib")

    def draw(self, model: PyMCBuilt, settings: SamplingSettings) -> az.InferenceData:
        return _pm_sample(model.mmm.model, settings, self.sampler,
                          nuts_sampler_kwargs={"chain_method": "parallel"})


class NumpyroSampler(_JaxSampler):
    """numpyro's NUTS."""

    sampler = "numpyro"
    packages = ("numpyro", "jax", "jaxlib")


class BlackjaxSampler(_JaxSampler):
    """blackjax's NUTS."""

    sampler = "blackjax"
    packages = ("blackjax", "jax", "jaxlib")


NUTPIE_BACKENDS = ("numba", "jax")
DEFAULT_NUTPIE_BACKEND = "numba"


def nutpie_backend(settings: SamplingSettings) -> str:
    """The nutpie backend of these settings: option ``nutpie_backend`` or the default."""
    backend = settings.option_dict.get("nutpie_backend", DEFAULT_NUTPIE_BACKEND)
    if backend not in NUTPIE_BACKENDS:
        raise invalid("settings.options.nutpie_backend", backend, str(NUTPIE_BACKENDS),
                      FitSpecError)
    return backend


class NutpieSampler(PyMCAdapter):
    """nutpie's NUTS; the model is compiled with its backend in the build phase (numba:
    the whole compile; jax: tracing plus one logp/gradient evaluation, which
    JIT-compiles it)."""

    sampler = "nutpie"
    packages = ("nutpie", "numba")

    def compile(self, model: Any, settings: SamplingSettings) -> Any:
        import nutpie

        backend = nutpie_backend(settings)
        compiled = nutpie.compile_pymc_model(
            model, backend=backend,
            gradient_backend="jax" if backend == "jax" else "pytensor",
            var_names=_free_rv_names(model),
        )
        if backend == "jax":
            _warm_nutpie_jax(compiled)
        return compiled

    def draw(self, model: PyMCBuilt, settings: SamplingSettings) -> az.InferenceData:
        import nutpie

        return nutpie.sample(
            model.compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
            cores=settings.chains, seed=settings.seed, target_accept=settings.target_accept,
            save_warmup=False, progress_bar=False,
        )

    def posterior_attrs(self, settings: SamplingSettings) -> dict[str, Any]:
        return {"nutpie_backend": nutpie_backend(settings)}


def _warm_nutpie_jax(compiled) -> None:
    """JIT-compile nutpie's jax logp/gradient and draw-expansion functions by calling
    them once at the origin of the unconstrained space. nutpie 0.16.8 has no public
    hook for this (``benchmark_logp`` is missing from its jax model), so this uses the
    pinned version's ``PyFuncModel`` fields; the jitted functions are the ones the
    sampler calls, so their compile cache is reused."""
    point = np.zeros(compiled.n_dim)
    shared = compiled._shared_data
    compiled._make_logp_func()(point, **shared)
    compiled._make_expand_func(0, 0, 0)(point, **shared)
