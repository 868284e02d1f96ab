"""Prior-predictive ROAS check: does a fit's prior admit the true ROAS of each channel?

Input: prior draws of each channel's ROAS from the library's own prior sampling (group
``prior_roas`` of a canonical posterior: ``roas`` (chain, draw, channel), y units per unit
spend) and the true ROAS (channel,). Rows (quantity ``prior_roas``, per channel,
``geo="all"``): ``quantile`` at levels 0.05, 0.5, 0.95; ``true``; ``mass_at_or_below_truth``
(share of prior draws <= the truth); ``excludes_truth`` (1.0 when that mass is below
``EXCLUSION_TAIL`` or above ``1 - EXCLUSION_TAIL``: the truth lies outside the prior's
central 95 %, so the prior, not the data, decides the estimate; level = the tail).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.checks import check_same_coords
from mmm_param_recovery.benchmarking.metrics.rows import ALL, Row, metric_row

PRIOR_GROUP = "prior_roas"
QUANTILES = (0.05, 0.5, 0.95)
EXCLUSION_TAIL = 0.025
QUANTITY = "prior_roas"


def prior_roas_draws(idata: az.InferenceData) -> xr.DataArray | None:
    """The prior ROAS draws (chain, draw, channel) of a canonical posterior, or None when
    the fit has no prior check."""
    if PRIOR_GROUP not in idata.groups():
        return None
    return idata[PRIOR_GROUP]["roas"]


def prior_check_rows(prior_roas: xr.DataArray, true_roas: xr.DataArray) -> list[Row]:
    """Rows of the module docstring for every channel of ``true_roas`` (channel,)."""
    check_same_coords(prior_roas, true_roas, "prior_roas")
    rows = []
    for channel in true_roas["channel"].values:
        draws = np.ravel(prior_roas.sel(channel=channel).values)
        truth = float(true_roas.sel(channel=channel))
        rows += _channel_rows(str(channel), draws[np.isfinite(draws)], truth, draws.size)
    return rows


def _channel_rows(channel: str, draws: np.ndarray, truth: float, n_total: int) -> list[Row]:
    note = "" if draws.size == n_total else f"{n_total - draws.size} non-finite prior draws"
    if not draws.size:
        return [metric_row(QUANTITY, "excludes_truth", np.nan, EXCLUSION_TAIL, channel, ALL,
                           "no finite prior draws")]
    mass = float(np.mean(draws <= truth))
    excludes = mass < EXCLUSION_TAIL or mass > 1.0 - EXCLUSION_TAIL
    rows = [metric_row(QUANTITY, "quantile", float(np.quantile(draws, q)), q, channel, ALL, note)
            for q in QUANTILES]
    rows += [
        metric_row(QUANTITY, "true", truth, None, channel, ALL),
        metric_row(QUANTITY, "mass_at_or_below_truth", mass, None, channel, ALL, note),
        metric_row(QUANTITY, "excludes_truth", float(excludes), EXCLUSION_TAIL, channel, ALL,
                   note),
    ]
    return rows
