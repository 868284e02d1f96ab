"""Seed API (original design): predictive fit (R², MAPE, Durbin-Watson, ...) of a fitted model.

A thin module that hands on names from ``fitters.in_process``.
"""

from mmm_param_recovery.benchmarking.fitters.in_process import (
    evaluate_meridian_fit,
    evaluate_pymc_fit,
)

__all__ = ["evaluate_meridian_fit", "evaluate_pymc_fit"]
