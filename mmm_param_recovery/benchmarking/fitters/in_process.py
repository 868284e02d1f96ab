"""The seed API's fits: sample a ``pymc_model`` or ``meridian_model`` model in this process.

``fit_pymc`` / ``fit_meridian`` (the signatures of the original design) are thin wrappers
over the registered adapter's ``from_model`` + ``sample`` + ``postprocess`` and
``metrics.diagnostics.compute_ess``, for interactive use. The benchmark itself does not use
them: it runs every fit in a fresh process (``run.isolation.run_fit``), because import
state, JAX/XLA flags and memory leak between fits that share a process. In particular the
JAX samplers need ``XLA_FLAGS`` set before JAX is first imported; here the adapter's
environment is applied only where the variable is not set yet, and a warning is logged
when JAX was imported before.

Each fit stamps its fitter and sampling settings on the fitted model's posterior
(attribute ``SETTINGS_ATTR``), so ``evaluate_*``, ``create_diagnostics_summary`` and
``store.seed_models.save_*`` can take the fitted model alone.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

import arviz as az
import pandas as pd

from mmm_param_recovery.benchmarking.fitters.base import PreparedData, SamplingSettings
from mmm_param_recovery.benchmarking.fitters.registry import (
    fitters_for,
    get_fitter,
    list_libraries,
)
from mmm_param_recovery.benchmarking.metrics.diagnostics import (
    FitOutcome,
    canonical_convergence_quantities,
    compute_ess,
    diagnostics_summary,
)
from mmm_param_recovery.benchmarking.metrics.predictive import (
    compute_fit_metrics,
    observed_y_from_frame,
)
from mmm_param_recovery.benchmarking.metrics.rows import Row
from mmm_param_recovery.data_generator.io import channel_columns, control_columns
from mmm_param_recovery.errors import FitSpecError

logger = logging.getLogger(__name__)

SETTINGS_ATTR = "mmm_benchmark_fit"
"""Posterior attribute holding ``{"fitter", "settings"}`` (JSON) of a seed-API fit."""

FitOutput = tuple[Any, float, dict[str, float]]
"""``(fitted_model, runtime_seconds, ess_stats)``."""


def prepared_data(data_df: pd.DataFrame) -> PreparedData:
    """``data_df`` with its channel and control columns, as the adapters receive it."""
    return PreparedData(data_df, tuple(channel_columns(data_df)), tuple(control_columns(data_df)))


def _apply_environment(adapter: Any, settings: SamplingSettings) -> None:
    """Put the adapter's variables into ``os.environ`` where they are not set yet."""
    if "jax" in sys.modules:
        logger.warning("JAX is already imported: its XLA flags (device count) can no longer "
                       "change; run the fit through run.isolation.run_fit for a fair "
                       "measurement")
    for name, value in adapter.environment(settings, settings.chains).items():
        os.environ.setdefault(name, value)


def _stamp(adapter: Any, fitted: Any, fitter: str, settings: SamplingSettings) -> None:
    record = {"fitter": fitter, "settings": {**settings.__dict__, "options": settings.option_dict}}
    adapter.fitted_idata(fitted).posterior.attrs[SETTINGS_ATTR] = json.dumps(record)


def fitted_settings(fitted: Any, library: str) -> tuple[str, SamplingSettings]:
    """``(fitter, settings)`` stamped on a model fitted by ``fit_pymc`` / ``fit_meridian``.

    FitSpecError when the model was not fitted through them (nothing to read).
    """
    adapter = _library_adapter(library)
    try:
        record = json.loads(adapter.fitted_idata(fitted).posterior.attrs[SETTINGS_ATTR])
    except (AttributeError, KeyError, TypeError, ValueError):
        raise FitSpecError(
            f"model: {type(fitted).__name__} carries no {SETTINGS_ATTR!r} record; allowed: a "
            f"{library} model fitted with model_fitter.fit_{library}") from None
    settings = record["settings"]
    options = tuple(sorted(settings.pop("options").items()))
    return record["fitter"], SamplingSettings(**settings, options=options)


def _library_adapter(library: str) -> Any:
    """Any adapter of ``library`` (they share ``fitted_idata`` / ``fitted_frame``)."""
    return fitters_for(library)[0].load_adapter()


def _fit(fitter: str, model: Any, data_df: pd.DataFrame | None,
         settings: SamplingSettings) -> FitOutput:
    """Sample ``model`` with ``fitter``'s adapter; ESS over the canonical quantities."""
    adapter = get_fitter(fitter).load_adapter()
    _apply_environment(adapter, settings)
    state = adapter.from_model(model, settings)
    frame = adapter.fitted_frame(model) if data_df is None else data_df
    prepared = prepared_data(frame)
    start = time.perf_counter()
    fitted = adapter.sample(state, prepared, settings)
    runtime = time.perf_counter() - start
    _stamp(adapter, fitted, fitter, settings)
    canonical = adapter.postprocess(fitted, prepared, settings)
    return fitted, runtime, compute_ess(canonical_convergence_quantities(canonical))


def fit_pymc(model: Any, data_df: pd.DataFrame, sampler: str, n_chains: int, n_draws: int,
             n_tune: int, target_accept: float, seed: int) -> FitOutput:
    """Sample a PyMC-Marketing MMM from ``model_builder.build_pymc_model(data_df, ...)``.

    ``sampler``: a registered PyMC-Marketing sampler (``pymc``, ``nutpie``, ``numpyro``,
    ``blackjax``); chains run in parallel. Returns the fitted MMM (its ``idata`` holds the
    posterior, deterministics and posterior predictive), the sampling wall time in seconds
    (tune + draws; no compilation, which ``from_model`` does first, and no
    post-processing) and the bulk ESS ``{"min", "q10", "q50", "q90"}`` over the canonical
    quantities (per-channel contribution totals, ROAS, total mu per geo).
    Raises FitSpecError for an unknown sampler or bad settings, before sampling.
    """
    settings = SamplingSettings(chains=n_chains, draws=n_draws, tune=n_tune,
                                target_accept=target_accept, seed=seed, sampler=sampler)
    return _fit(f"pymc:{sampler}", model, data_df, settings)


def fit_meridian(model: Any, n_chains: int, n_draws: int, n_tune: int, target_accept: float,
                 seed: int) -> FitOutput:
    """Sample a Meridian model from ``model_builder.build_meridian_model(data_df, ...)``.

    ``n_tune`` is Meridian's adaptation (``n_adapt``) plus burn-in. The canonical
    coordinates come from the model's own input data. Returns the fitted ``Meridian``
    (posterior in ``inference_data``), the sampling seconds (for Meridian they include the
    XLA compilation of its sampling loop) and the ESS as ``fit_pymc``.
    """
    settings = SamplingSettings(chains=n_chains, draws=n_draws, tune=n_tune,
                                target_accept=target_accept, seed=seed)
    return _fit("meridian", model, None, settings)


def canonical_of_fitted(fitted: Any, library: str,
                        data_df: pd.DataFrame | None = None) -> az.InferenceData:
    """The canonical posterior of a model fitted by ``fit_pymc`` / ``fit_meridian``, on
    ``data_df``'s coordinates (default: the model's own data)."""
    fitter, settings = fitted_settings(fitted, library)
    adapter = get_fitter(fitter).load_adapter()
    frame = adapter.fitted_frame(fitted) if data_df is None else data_df
    return adapter.postprocess(fitted, prepared_data(frame), settings)


def _evaluate(fitted: Any, library: str, data_df: pd.DataFrame) -> list[Row]:
    posterior = canonical_of_fitted(fitted, library, data_df)
    return compute_fit_metrics(posterior, observed_y_from_frame(data_df))


def evaluate_pymc_fit(model: Any, data_df: pd.DataFrame, sampler: str) -> list[Row]:
    """Predictive-fit rows (R², MAPE, Durbin-Watson, CRPS, coverage; docs/metrics.md) of an
    MMM fitted by ``fit_pymc`` with ``sampler``, against ``data_df``'s y."""
    fitter, _ = fitted_settings(model, "pymc")
    if fitter != f"pymc:{sampler}":
        raise FitSpecError(f"sampler: {sampler!r} is invalid; allowed: {fitter.split(':')[1]!r}"
                           " (the sampler the model was fitted with)")
    return _evaluate(model, "pymc", data_df)


def evaluate_meridian_fit(model: Any, data_df: pd.DataFrame) -> list[Row]:
    """Predictive-fit rows of a Meridian model fitted by ``fit_meridian``."""
    return _evaluate(model, "meridian", data_df)


def _outcome(name: str | None, item: Any) -> FitOutcome:
    """A FitOutcome from a ``fit_*`` result ``(fitted, runtime, ess)`` (run key ``name``,
    else the fitter), a FitOutcome or a mapping of its fields."""
    if isinstance(item, FitOutcome):
        return item
    if isinstance(item, Mapping):
        return FitOutcome.from_mapping(item)
    fitted, runtime = item[0], float(item[1])
    for library in list_libraries():
        try:
            fitter, _ = fitted_settings(fitted, library)
        except (FitSpecError, AttributeError):
            continue
        posterior = canonical_of_fitted(fitted, library)
        return FitOutcome(run_key=fitter if name is None else name, fitter=fitter,
                          idata=posterior, sampling_seconds=runtime)
    raise FitSpecError(f"results item: {type(fitted).__name__} is invalid; allowed: a "
                       "fit_pymc / fit_meridian result, a FitOutcome or a mapping")


def create_diagnostics_summary(results: Iterable[Any] | Mapping[str, Any],
                               dataset_name: str) -> pd.DataFrame:
    """One row of convergence statistics per fit (``metrics.diagnostics``).

    ``results``: a mapping ``{name: fit_pymc / fit_meridian result}`` or an iterable of
    such results, FitOutcome objects or mappings of FitOutcome fields. A fit result's
    ``run_key`` is its name in the mapping, else its fitter (``pymc:nutpie``).
    """
    named = results.items() if isinstance(results, Mapping) else (
        (None, item) for item in results)
    return diagnostics_summary([_outcome(name, item) for name, item in named], dataset_name)
