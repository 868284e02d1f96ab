"""Seed API (original design): build the unfitted models of one observed dataset.

A thin module that hands on names from ``fitters.pymc_model`` and ``fitters.meridian_model``
(the ``seed`` prior profile; see there and docs/models.md for the models).
"""

from mmm_param_recovery.benchmarking.fitters.meridian_model import build_meridian_model
from mmm_param_recovery.benchmarking.fitters.priors import spend_share_prior_sigma
from mmm_param_recovery.benchmarking.fitters.pymc_model import build_pymc_model

__all__ = ["build_meridian_model", "build_pymc_model", "spend_share_prior_sigma"]
