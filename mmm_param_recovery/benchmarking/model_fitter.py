"""The seed API: sample an already built model in this process.

``fit_pymc`` / ``fit_meridian`` are thin wrappers over the registered adapter's
``from_model`` + ``sample`` + ``postprocess`` and ``diagnostics.compute_ess``, for
interactive use on a model from ``model_builder``. The benchmark itself does not use
them: it runs every fit in a fresh process through ``isolation.run_fit``, because import
state, JAX/XLA flags and memory leak between fits that share a process. In particular the
JAX samplers need ``XLA_FLAGS`` set before JAX is first imported; here the adapter's
environment is applied only where the variable is not set yet, and a warning is logged
when JAX was imported before.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import pandas as pd

from mmm_param_recovery.benchmarking.adapters.base import PreparedData, SamplingSettings
from mmm_param_recovery.benchmarking.registry import get_fitter
from mmm_param_recovery.data_generator.io import channel_columns, control_columns

logger = logging.getLogger(__name__)

FitOutput = tuple[Any, float, dict[str, float]]
"""``(fitted_model, runtime_seconds, ess_stats)``."""


def _apply_environment(adapter: Any, settings: SamplingSettings) -> None:
    """Put the adapter's variables into ``os.environ`` where they are not set yet."""
    if "jax" in sys.modules:
        logger.warning("JAX is already imported: its XLA flags (device count) can no longer "
                       "change; run the fit through isolation.run_fit for a fair measurement")
    for name, value in adapter.environment(settings, settings.chains).items():
        os.environ.setdefault(name, value)


def _fit(fitter: str, model: Any, data_df: pd.DataFrame, settings: SamplingSettings) -> FitOutput:
    """Sample ``model`` with ``fitter``'s adapter; ESS over the canonical quantities."""
    from mmm_param_recovery.benchmarking.diagnostics import (
        canonical_convergence_quantities,
        compute_ess,
    )

    adapter = get_fitter(fitter).load_adapter()
    _apply_environment(adapter, settings)
    prepared = PreparedData(data_df, tuple(channel_columns(data_df)),
                            tuple(control_columns(data_df)))
    state = adapter.from_model(model, settings)
    start = time.perf_counter()
    fitted = adapter.sample(state, prepared, settings)
    runtime = time.perf_counter() - start
    canonical = adapter.postprocess(fitted, prepared, settings)
    return fitted, runtime, compute_ess(canonical_convergence_quantities(canonical))


def fit_pymc(
    model: Any,
    data_df: pd.DataFrame,
    sampler: str,
    n_chains: int,
    n_draws: int,
    n_tune: int,
    target_accept: float,
    seed: int,
) -> FitOutput:
    """Sample a PyMC-Marketing MMM from ``model_builder.build_pymc_model(data_df, ...)``.

    ``sampler``: ``pymc``, ``nutpie``, ``numpyro`` or ``blackjax``; chains run in
    parallel. Returns the fitted MMM (its ``idata`` holds the posterior, deterministics
    and posterior predictive), the sampling wall time in seconds (tune + draws; no
    compilation, which ``from_model`` does first, and no post-processing) and the bulk ESS
    ``{"min", "q10", "q50", "q90"}`` over the canonical quantities (per-channel
    contribution totals, ROAS, total mu).
    Raises FitSpecError for an unknown sampler or bad settings, before sampling.
    """
    settings = SamplingSettings(chains=n_chains, draws=n_draws, tune=n_tune,
                                target_accept=target_accept, seed=seed, sampler=sampler)
    return _fit(f"pymc:{sampler}", model, data_df, settings)


def fit_meridian(
    model: Any,
    n_chains: int,
    n_draws: int,
    n_tune: int,
    target_accept: float,
    seed: int,
    data_df: pd.DataFrame,
) -> FitOutput:
    """Sample a Meridian model from ``model_builder.build_meridian_model(data_df, ...)``.

    ``n_tune`` is Meridian's adaptation (``n_adapt``) plus burn-in. ``data_df``, the
    observed frame the model was built on (an addition to the original signature), puts
    the posterior on the canonical coordinates for the ESS. Returns the fitted
    ``Meridian`` (posterior in ``inference_data``), the sampling seconds (for Meridian
    they include the XLA compilation of its sampling loop) and the ESS as ``fit_pymc``.
    """
    settings = SamplingSettings(chains=n_chains, draws=n_draws, tune=n_tune,
                                target_accept=target_accept, seed=seed)
    return _fit("meridian", model, data_df, settings)
