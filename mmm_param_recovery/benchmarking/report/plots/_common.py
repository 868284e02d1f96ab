"""Shared pieces of the plots: constants, colours, figure helpers, column checks."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.report.tables import FIT_KEY
from mmm_param_recovery.errors import DatasetFormatError, FitSpecError

Posterior = az.InferenceData | xr.Dataset
"""A canonical posterior: the InferenceData or its ``posterior`` group."""

MAX_GEO_PANELS = 6
BAND_PROBS = (0.5, 0.94)
KEY = FIT_KEY
IDENTITY = (*KEY, "status", "reason")
PHASES = (
    ("build_seconds", "build (incl. compile)", "#9ecae1"),
    ("sampling_seconds", "sampling (tune + draws)", "#3182bd"),
    ("postprocess_seconds", "post-processing", "#fdae6b"),
)
ROAS_COLUMNS = ("fitter", "channel", "mean", "lo50", "hi50", "lo94", "hi94", "truth")
ROAS_STATS = {
    ("posterior_mean", None): "mean", ("hdi_low", 0.5): "lo50", ("hdi_high", 0.5): "hi50",
    ("hdi_low", 0.94): "lo94", ("hdi_high", 0.94): "hi94", ("true", None): "truth",
}
"""(stat, level) of the quantity ``roas`` -> column of ``roas_interval_table``."""
COVERAGE_COLUMNS = ("fitter", "nominal", "empirical", "binomial_se")
_OTHER_COLORS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_GAP_COLOR = "#b00020"
_MARKERS = "osD^vP*X"


def fitter_color(fitter: str) -> str:
    """A fixed colour per fitter: its registry entry's ``color``, else one derived from
    the name (stable across plots and runs)."""
    try:
        color = get_fitter(fitter).color
    except FitSpecError:
        color = None
    return color or _OTHER_COLORS[zlib.crc32(fitter.encode()) % len(_OTHER_COLORS)]


# --------------------------------------------------------------------------- helpers


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(n_panels: int, ncols: int, panel_size: tuple[float, float],
          sharex: bool = True) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes on a grid (unused cells hidden), shared x unless
    ``sharex`` is False."""
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    fig = _figure(panel_size[0] * ncols, panel_size[1] * nrows + 0.6)
    axes = list(fig.subplots(nrows, ncols, sharex=sharex, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _date_axis(ax: Axes) -> None:
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _require_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetFormatError(
            f"{name}: missing column(s) {missing}; present: {list(map(str, df.columns))}"
        )
    if df.empty:
        raise DatasetFormatError(f"{name}: no rows; allowed: at least one row to plot")



def _dodge(n: int, span: float) -> np.ndarray:
    """``n`` offsets centred on 0 spread over ``span``."""
    return np.zeros(1) if n == 1 else np.linspace(-span / 2, span / 2, n)


