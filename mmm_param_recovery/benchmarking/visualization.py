"""Seed API (original design): plots of stored results.

A thin module that hands on names from ``report.plots`` (each returns a Figure) and
``report.figures.save_figure``.
"""

from mmm_param_recovery.benchmarking.report.figures import save_figure
from mmm_param_recovery.benchmarking.report.plots import (
    plot_contribution_recovery,
    plot_coverage_calibration,
    plot_memory,
    plot_model_comparison,
    plot_posterior_predictive,
    plot_roas_forest,
    plot_runtime_ess,
)

__all__ = [
    "plot_contribution_recovery",
    "plot_coverage_calibration",
    "plot_memory",
    "plot_model_comparison",
    "plot_posterior_predictive",
    "plot_roas_forest",
    "plot_runtime_ess",
    "save_figure",
]
