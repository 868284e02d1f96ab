"""Cost plots across fits: runtime phases with ESS/s, and peak memory; failed and skipped
fits stay as labelled gaps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mmm_param_recovery.benchmarking.report.plots._common import (
    _GAP_COLOR,
    IDENTITY,
    KEY,
    PHASES,
    _figure,
    _require_columns,
    fitter_color,
)
from mmm_param_recovery.errors import CoordinateMismatchError, DatasetFormatError


def _check_keys(df: pd.DataFrame, name: str) -> list[tuple]:
    _require_columns(df, IDENTITY, name)
    keys = list(df[list(KEY)].itertuples(index=False, name=None))
    if len(set(keys)) != len(keys):
        raise DatasetFormatError(f"{name}: several rows for one (dataset, seed, fitter, priors)")
    return keys


def _aligned(reference: pd.DataFrame, other: pd.DataFrame, name: str) -> pd.DataFrame:
    """``other`` in the row order of ``reference``; both must hold the same fit keys."""
    ref_keys, other_keys = _check_keys(reference, "runtime_df"), _check_keys(other, name)
    if set(ref_keys) != set(other_keys):
        raise CoordinateMismatchError(
            f"{name}: fits (dataset, seed, fitter, priors) differ from runtime_df; only in {name}: "
            f"{sorted(set(other_keys) - set(ref_keys))[:5]}, only in runtime_df: "
            f"{sorted(set(ref_keys) - set(other_keys))[:5]}"
        )
    return other.set_index(list(KEY)).loc[ref_keys].reset_index()


def _row_labels(df: pd.DataFrame) -> list[str]:
    """Fitter names, with the prior profile when there are several, and dataset and seed
    appended when a (fitter, profile) has several rows."""
    names = df["fitter"].astype(str)
    if df["priors"].nunique() > 1:
        names = names + " [" + df["priors"].astype(str) + "]"
    if not names.duplicated().any():
        return names.tolist()
    return [f"{n} · {r.dataset} · seed {r.seed}" for n, r in zip(names, df.itertuples(),
                                                                  strict=True)]


def _gaps(df: pd.DataFrame, has_value: np.ndarray) -> list[str | None]:
    """Per row: None when a bar is drawn, else the text shown in its place."""
    texts: list[str | None] = []
    for status, reason, ok in zip(df["status"], df["reason"], has_value, strict=True):
        if status == "ok":
            texts.append(None if ok else "ok, but no value recorded")
            continue
        text = f"{status}: {reason}" if isinstance(reason, str) and reason else str(status)
        texts.append(text if len(text) <= 70 else text[:67] + "...")
    return texts


def _rows_axis(ax: Axes, labels: list[str], gaps: list[str | None]) -> np.ndarray:
    """Row positions top-down, y tick labels, and gap texts in place of missing bars."""
    y = np.arange(len(labels), dtype=float)
    ax.set_yticks(y, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    for yi, text in zip(y, gaps, strict=True):
        if text is not None:
            ax.text(0.01, yi, text, transform=ax.get_yaxis_transform(), va="center",
                    fontsize=8, color=_GAP_COLOR, style="italic")
    ax.grid(axis="x", alpha=0.3)
    return y


def _short(value: float) -> str:
    """3 significant digits, or whole numbers with separators from 1,000 (no exponents)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _value_bars(ax: Axes, df: pd.DataFrame, column: str, labels: list[str],
                fmt: Callable[[float], str]) -> None:
    """Horizontal bars of ``df[column]`` coloured by fitter, values printed, gaps labelled."""
    values = df[column].to_numpy(float)
    gaps = _gaps(df, np.isfinite(values))
    y = _rows_axis(ax, labels, gaps)
    drawn = np.array([g is None for g in gaps])
    colors = [fitter_color(str(f)) for f in df["fitter"][drawn]]
    ax.barh(y[drawn], values[drawn], color=colors, height=0.6)
    for yi, value in zip(y[drawn], values[drawn], strict=True):
        ax.annotate(fmt(value), (value, yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    positive = values[drawn][values[drawn] > 0]
    if positive.size and positive.max() / positive.min() > 50:
        ax.set_xscale("log")
    _finish_bar_axis(ax, drawn.any(), margin=0.15)


def _finish_bar_axis(ax: Axes, any_drawn: bool, margin: float) -> None:
    """Room for the value labels; a linear axis starts at 0; no ticks when nothing is drawn."""
    ax.margins(x=margin)
    if ax.get_xscale() == "linear":
        ax.set_xlim(left=0)
    if not any_drawn:
        ax.set_xticks([])


def _phase_bars(ax: Axes, df: pd.DataFrame, labels: list[str]) -> None:
    """Stacked build / sampling / post-processing seconds; a missing phase draws nothing."""
    phases = df[[p[0] for p in PHASES]].to_numpy(float)
    gaps = _gaps(df, np.isfinite(phases).any(axis=1))
    y = _rows_axis(ax, labels, gaps)
    drawn = np.array([g is None for g in gaps])
    left = np.zeros(int(drawn.sum()))
    for (*_, color), width in zip(PHASES, np.nan_to_num(phases[drawn]).T, strict=True):
        ax.barh(y[drawn], width, left=left, color=color, height=0.6)
        left = left + width
    for yi, end, total in zip(y[drawn], left, df["total_seconds"][drawn], strict=True):
        ax.annotate(f"total {_short(total)} s", (end, yi), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    _finish_bar_axis(ax, drawn.any(), margin=0.2)
    ax.legend(handles=[Patch(color=color, label=label) for _, label, color in PHASES],
              fontsize=8, loc="lower right")


def plot_runtime_ess(runtime_df: pd.DataFrame, ess_df: pd.DataFrame) -> Figure:
    """Seconds per phase (stacked) and ESS per sampling second, one row per fit.

    ``runtime_df``: runtime_comparison rows (identity columns ``dataset, seed, fitter,
    status, reason`` plus ``build_seconds, sampling_seconds, postprocess_seconds,
    total_seconds``); ``ess_df``: ess_comparison rows (identity plus ``ess_per_second``)
    for the same fits. Failed/skipped fits are labelled gaps. ESS/s goes to a log axis
    when the values span more than 50x.
    """
    _require_columns(runtime_df, [p[0] for p in PHASES] + ["total_seconds"], "runtime_df")
    _require_columns(ess_df, ["ess_per_second"], "ess_df")
    ess = _aligned(runtime_df, ess_df, "ess_df")
    labels = _row_labels(runtime_df)
    fig = _figure(13, 1.4 + 0.45 * len(labels))
    left, right = fig.subplots(1, 2, sharey=True)
    _phase_bars(left, runtime_df, labels)
    left.set_xlabel("wall-clock seconds")
    _value_bars(right, ess, "ess_per_second", labels, _short)
    right.set_xlabel("min bulk ESS (canonical quantities) per sampling second")
    fig.suptitle("Time per phase and sampling efficiency")
    return fig


def plot_memory(runtime_df: pd.DataFrame) -> Figure:
    """Peak RSS of each fit's process tree in GB (``runtime_df.peak_rss_gb``), gaps labelled.

    ``runtime_df``: runtime_comparison rows (identity columns and ``peak_rss_gb``).
    """
    _require_columns(runtime_df, ["peak_rss_gb"], "runtime_df")
    _check_keys(runtime_df, "runtime_df")
    fig = _figure(8, 1.4 + 0.45 * len(runtime_df))
    ax = fig.subplots()
    _value_bars(ax, runtime_df, "peak_rss_gb", _row_labels(runtime_df), "{:.2f}".format)
    ax.set_xlabel("peak resident memory of the fit process tree (GB)")
    fig.suptitle("Peak memory per fit")
    return fig

