"""Seed API (original design): build the unfitted models of one observed dataset.

A thin module that hands on names from ``fitters.builders``; see there for the models.
"""

from mmm_param_recovery.benchmarking.fitters.builders import (
    build_meridian_model,
    build_pymc_model,
)
from mmm_param_recovery.benchmarking.fitters.priors import spend_share_prior_sigma

__all__ = ["build_meridian_model", "build_pymc_model", "spend_share_prior_sigma"]
