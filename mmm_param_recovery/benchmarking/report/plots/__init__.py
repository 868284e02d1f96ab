"""Plots of stored benchmark results: predictive fit, contributions, ROAS, speed, memory.

Every function takes already-loaded inputs — canonical posteriors (``az.InferenceData`` or
their ``posterior`` Dataset), the canonical truth (``truth.canonical_truth``), observed y as
an ``xr.DataArray`` (date, geo), or summary tables as DataFrames with the columns of
docs/architecture.md — and returns the Figure; ``report.figures.save_figure`` writes it. Figures
are bare ``matplotlib.figure.Figure`` objects on the Agg canvas (no pyplot registry, nothing
to close, nothing shown). Posterior and truth/observed coordinates must match exactly
(``CoordinateMismatchError``); nothing is aligned or trimmed. Failed and skipped fits stay in
the summary plots as labelled gaps. Money and contributions are in y units per week.
"""

from mmm_param_recovery.benchmarking.report.plots._common import (
    COVERAGE_COLUMNS,
    ROAS_COLUMNS,
    fitter_color,
)
from mmm_param_recovery.benchmarking.report.plots.fits import plot_memory, plot_runtime_ess
from mmm_param_recovery.benchmarking.report.plots.posterior import (
    plot_contribution_recovery,
    plot_model_comparison,
    plot_posterior_predictive,
)
from mmm_param_recovery.benchmarking.report.plots.response import plot_response_recovery
from mmm_param_recovery.benchmarking.report.plots.roas import (
    PRIOR_CHECK_COLUMNS,
    plot_coverage_calibration,
    plot_prior_checks,
    plot_rank_histograms,
    plot_roas_forest,
    roas_interval_table,
)

__all__ = [
    "COVERAGE_COLUMNS",
    "PRIOR_CHECK_COLUMNS",
    "ROAS_COLUMNS",
    "fitter_color",
    "plot_contribution_recovery",
    "plot_coverage_calibration",
    "plot_memory",
    "plot_model_comparison",
    "plot_posterior_predictive",
    "plot_prior_checks",
    "plot_rank_histograms",
    "plot_response_recovery",
    "plot_roas_forest",
    "plot_runtime_ess",
    "roas_interval_table",
]
