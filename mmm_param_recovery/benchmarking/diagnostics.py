"""Seed API (original design): convergence statistics.

A thin module that hands on names from ``metrics.diagnostics`` and ``fitters.in_process``.
"""

from mmm_param_recovery.benchmarking.fitters.in_process import create_diagnostics_summary
from mmm_param_recovery.benchmarking.metrics.diagnostics import compute_ess

__all__ = ["compute_ess", "create_diagnostics_summary"]
