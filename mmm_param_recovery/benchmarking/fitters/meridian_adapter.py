"""Google Meridian adapter (JAX backend; one NUTS sampler, chains vectorised in one graph).

Phases (docs/models.md "What each phase includes"):

- ``build``: data checks, Meridian ``InputData`` and ``ModelSpec``, the ``Meridian``
  object (its data tensors and transformers) and Meridian's critical EDA checks, which
  raise FitSpecError here rather than inside sampling. Meridian compiles (XLA) its whole
  sampling loop for given chain/step counts on the first call, so compilation cannot be
  separated from ``sample``.
- ``sample``: ``Meridian.sample_posterior`` with ``n_adapt + n_burnin = tune`` (half
  each: windowed adaptation, then burn-in with the adapted step size and mass matrix)
  and ``n_keep = draws``. It re-runs the EDA checks (cheap) before sampling.
- ``postprocess``: Analyzer contributions and expected outcome, the posterior predictive
  draw and the canonical conversion (``meridian_canonical``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.fitters.base import PreparedData, SamplingSettings
from mmm_param_recovery.benchmarking.fitters.environment import fit_environment
from mmm_param_recovery.benchmarking.fitters.meridian_canonical import canonical_posterior
from mmm_param_recovery.benchmarking.fitters.meridian_model import (
    KNOTS,
    MeridianModelSpec,
    build_meridian_model_from_spec,
    meridian_model_spec,
    meridian_observed_frame,
)
from mmm_param_recovery.benchmarking.fitters.model_spec import PROFILES
from mmm_param_recovery.errors import FitSpecError

__all__ = ["MeridianAdapter", "canonical_posterior", "split_tune"]

logger = logging.getLogger(__name__)

PRIOR_DRAWS = 500
"""Prior draws of the prior-predictive ROAS check."""
_VERSIONED = ("google-meridian", "jax", "jaxlib", "tfp-nightly", "tensorflow", "arviz",
              "numpy")


def split_tune(tune: int) -> tuple[int, int]:
    """``(n_adapt, n_burnin)`` for ``tune`` warm-up steps: ceil(tune/2), floor(tune/2)."""
    n_adapt = (tune + 1) // 2
    return n_adapt, tune - n_adapt


class MeridianAdapter:
    """``LibraryAdapter`` for Meridian (see the module docstring for the phases)."""

    library = "meridian"
    profiles = PROFILES

    def environment(self, settings: SamplingSettings, cores: int) -> Mapping[str, str]:
        """One XLA host device (Meridian vectorises chains) using every given core."""
        if settings.sampler is not None:
            raise FitSpecError(
                f"sampler: {settings.sampler!r} is invalid for meridian; allowed: None"
            )
        return fit_environment(cores, devices=1, threads=cores)

    def versions(self) -> Mapping[str, str]:
        return {name: version(name) for name in _VERSIONED}

    def model_spec(self, prepared: PreparedData, profile: str,
                   options: Mapping[str, Any] | None = None) -> MeridianModelSpec:
        """Meridian's spec of ``profile`` with the ``knots`` option (``KNOTS``)."""
        knots = (options or {}).get("knots", KNOTS[0])
        return meridian_model_spec(prepared.data, prepared.channel_columns,
                                   prepared.control_columns, profile, knots)

    def build(self, prepared: PreparedData, settings: SamplingSettings,
              model: MeridianModelSpec) -> Any:
        return self.from_model(build_meridian_model_from_spec(prepared.data, model), settings)

    def prior_roas(self, built: Any, prepared: PreparedData, settings: SamplingSettings,
                   draws: int = PRIOR_DRAWS) -> xr.DataArray:
        """Prior ROAS per channel (sample, channel): ``Meridian.sample_prior`` then the
        Analyzer's ROI of the prior draws (incremental outcome / spend, all geos and
        weeks), y units per unit spend."""
        from meridian.analysis.analyzer import Analyzer

        built.sample_prior(draws, seed=settings.seed)
        analyzer = Analyzer(model_context=built.model_context,
                            inference_data=built.inference_data)
        roi = np.asarray(analyzer.roi(use_posterior=False))
        return xr.DataArray(roi.reshape(-1, roi.shape[-1]), dims=("sample", "channel"),
                            coords={"channel": list(prepared.channel_columns)})

    def from_model(self, model: Any, settings: SamplingSettings) -> Any:
        """Run Meridian's critical EDA checks on a model from
        ``model_builder.build_meridian_model`` (FitSpecError on failure); used by the
        seed API. Returns the model."""
        _raise_on_eda_failures(model)
        return model

    def sample(self, model: Any, prepared: PreparedData, settings: SamplingSettings) -> Any:
        from immutabledict import immutabledict  # a Meridian dependency; hashable

        n_adapt, n_burnin = split_tune(settings.tune)
        logger.info("sampling Meridian: %d chains x (%d adapt + %d burn-in) x %d draws",
                    settings.chains, n_adapt, n_burnin, settings.draws)
        model.sample_posterior(
            n_chains=settings.chains, n_adapt=n_adapt, n_burnin=n_burnin,
            n_keep=settings.draws, seed=(settings.seed, settings.seed),
            dual_averaging_kwargs=immutabledict(target_accept_prob=settings.target_accept),
        )
        return model

    def postprocess(
        self, fitted: Any, prepared: PreparedData, settings: SamplingSettings
    ) -> az.InferenceData:
        attrs = {
            "library": self.library, "sampler": "meridian",
            "meridian_knots": int(fitted.knot_info.n_knots),  # as built (the knots option)
        }
        return canonical_posterior(fitted, prepared.data, seed=settings.seed, attrs=attrs)

    def fitted_idata(self, fitted: Any) -> az.InferenceData:
        return fitted.inference_data

    def fitted_frame(self, model: Any) -> pd.DataFrame:
        return meridian_observed_frame(model)


def _raise_on_eda_failures(model: Any) -> None:
    """FitSpecError listing Meridian's critical EDA findings (those that would stop
    ``sample_posterior``)."""
    from meridian.model.eda import eda_outcome

    outcomes = model.eda_outcomes
    failures = [
        finding.explanation
        for outcome in (getattr(outcomes, f) for f in outcomes.__dataclass_fields__)
        for finding in outcome.findings
        if finding.severity == eda_outcome.EDASeverity.FAIL
    ]
    if failures:
        raise FitSpecError(f"data: Meridian's EDA checks fail: {'; '.join(failures)}")
