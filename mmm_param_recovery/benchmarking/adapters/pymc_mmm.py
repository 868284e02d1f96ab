"""PyMC-Marketing adapter: one MMM, four NUTS samplers (pymc, nutpie, numpyro, blackjax).

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

from mmm_param_recovery.benchmarking.adapters.base import PreparedData, SamplingSettings
from mmm_param_recovery.benchmarking.adapters.environment import thread_environment
from mmm_param_recovery.benchmarking.adapters.pymc_canonical import canonical_posterior
from mmm_param_recovery.benchmarking.model_builder import build_pymc_model
from mmm_param_recovery.benchmarking.priors import spend_share_prior_sigma
from mmm_param_recovery.errors import FitSpecError

__all__ = ["PyMCAdapter", "canonical_posterior"]

logger = logging.getLogger(__name__)

SAMPLERS = ("pymc", "nutpie", "numpyro", "blackjax")
JAX_SAMPLERS = ("numpyro", "blackjax")
NUTPIE_BACKENDS = ("numba", "jax")
DEFAULT_NUTPIE_BACKEND = "numba"
_VERSIONED = {
    "pymc": ("pymc-marketing", "pymc", "pytensor", "pymc-extras", "arviz", "numpy"),
    "nutpie": ("nutpie", "numba"),
    "numpyro": ("numpyro", "jax", "jaxlib"),
    "blackjax": ("blackjax", "jax", "jaxlib"),
}


@dataclass(frozen=True)
class PyMCBuilt:
    """What ``build`` hands to ``sample``: the built MMM and, for nutpie, its compiled
    model."""

    mmm: Any
    compiled: Any = None


def _sampler(settings: SamplingSettings) -> str:
    if settings.sampler not in SAMPLERS:
        raise FitSpecError(f"sampler: {settings.sampler!r} is invalid; allowed: {SAMPLERS}")
    return settings.sampler


def nutpie_backend(settings: SamplingSettings) -> str:
    """The nutpie backend of these settings: option ``nutpie_backend`` or the default."""
    backend = settings.option_dict.get("nutpie_backend", DEFAULT_NUTPIE_BACKEND)
    if backend not in NUTPIE_BACKENDS:
        raise FitSpecError(
            f"settings.options.nutpie_backend: {backend!r} is invalid; allowed: "
            f"{NUTPIE_BACKENDS}"
        )
    return backend


class PyMCAdapter:
    """``LibraryAdapter`` for PyMC-Marketing (see the module docstring for the phases)."""

    library = "pymc"

    def environment(self, settings: SamplingSettings, cores: int) -> Mapping[str, str]:
        """One process (pymc) or thread/device (others) per chain, cores shared evenly."""
        _sampler(settings)
        chains = settings.chains
        return thread_environment(cores, devices=chains, threads=cores // chains)

    def versions(self) -> Mapping[str, str]:
        names = dict.fromkeys(n for group in _VERSIONED.values() for n in group)
        return {name: version(name) for name in names}

    def build(self, prepared: PreparedData, settings: SamplingSettings) -> PyMCBuilt:
        mmm = build_pymc_model(prepared.data, prepared.channel_columns, prepared.control_columns)
        return self.from_model(mmm, settings)

    def from_model(self, mmm: Any, settings: SamplingSettings) -> PyMCBuilt:
        """Compile an MMM from ``model_builder.build_pymc_model`` for ``settings.sampler``
        (the part of ``build`` after model construction; used by the seed API)."""
        sampler = _sampler(settings)
        if sampler == "nutpie":
            return PyMCBuilt(mmm, _compile_nutpie(mmm.model, nutpie_backend(settings)))
        if sampler == "pymc":
            mmm.model.compile_logp()
            mmm.model.compile_dlogp()
        return PyMCBuilt(mmm)

    def sample(self, model: PyMCBuilt, prepared: PreparedData, settings: SamplingSettings):
        """Tune + draws; returns the MMM with ``idata`` (posterior of the free RVs and
        sampler statistics)."""
        sampler = _sampler(settings)
        logger.info("sampling with %s: %d chains x %d tune x %d draws", sampler,
                    settings.chains, settings.tune, settings.draws)
        if sampler == "nutpie":
            idata = _sample_nutpie(model.compiled, settings)
        else:
            idata = _sample_pymc(model.mmm.model, sampler, settings)
        model.mmm.idata = idata
        return model.mmm

    def postprocess(
        self, fitted: Any, prepared: PreparedData, settings: SamplingSettings
    ) -> az.InferenceData:
        """Canonical posterior of the fitted MMM; attrs record the sampler, the nutpie
        backend and the spend-share prior scales."""
        attrs = {
            "library": self.library, "sampler": _sampler(settings),
            "prior_sigma": spend_share_prior_sigma(
                prepared.data, prepared.channel_columns).to_dict(),
        }
        if settings.sampler == "nutpie":
            attrs["nutpie_backend"] = nutpie_backend(settings)
        return canonical_posterior(fitted, prepared.data, seed=settings.seed, attrs=attrs)


def _free_rv_names(model) -> list[str]:
    return [v.name for v in model.free_RVs]


def _compile_nutpie(model, backend: str):
    """Compile for nutpie. numba compiles eagerly; with jax, one logp + gradient
    evaluation triggers the JIT compilation so that it lands in the build phase."""
    import nutpie

    compiled = nutpie.compile_pymc_model(
        model, backend=backend, gradient_backend="jax" if backend == "jax" else "pytensor",
        var_names=_free_rv_names(model),
    )
    if backend == "jax":
        _warm_nutpie_jax(compiled)
    return compiled


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


def _sample_nutpie(compiled, settings: SamplingSettings) -> az.InferenceData:
    import nutpie

    return nutpie.sample(
        compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
        cores=settings.chains, seed=settings.seed, target_accept=settings.target_accept,
        save_warmup=False, progress_bar=False,
    )


def _sample_pymc(model, sampler: str, settings: SamplingSettings) -> az.InferenceData:
    import pymc as pm

    kwargs: dict[str, Any] = {}
    if sampler in JAX_SAMPLERS:
        kwargs["nuts_sampler_kwargs"] = {"chain_method": "parallel"}
    with model:
        return pm.sample(
            draws=settings.draws, tune=settings.tune, chains=settings.chains,
            cores=settings.chains, target_accept=settings.target_accept,
            random_seed=settings.seed, nuts_sampler=sampler,
            var_names=_free_rv_names(model), progressbar=False,
            compute_convergence_checks=False, **kwargs,
        )
