"""Seed API (original design): persistence of fitted models and the cache lookup.

A thin module that hands on names from ``store.seed_models`` and ``store.runs``.
"""

from mmm_param_recovery.benchmarking.store.runs import model_exists
from mmm_param_recovery.benchmarking.store.seed_models import (
    load_meridian_model,
    load_pymc_model,
    save_meridian_model,
    save_pymc_model,
)

__all__ = [
    "load_meridian_model",
    "load_pymc_model",
    "model_exists",
    "save_meridian_model",
    "save_pymc_model",
]
