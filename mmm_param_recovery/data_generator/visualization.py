"""Plots of a synthetic dataset and its ground truth.

Every function takes the ``result`` dict of ``generate_mmm_dataset`` or ``load_dataset``,
draws on a bare ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot state, nothing
is shown), writes a PNG when ``path`` is given and returns the Figure. Money is in
currency units per week, contributions in y units per week. Many geos: spend and
saturation plots draw the ``max_geos`` geos with the largest total spend (the title says
so); contribution and decomposition plots sum over all geos unless ``geo`` names one.
Many channels: contribution and decomposition plots draw the ``max_channels - 1``
largest channels and sum the rest into one "other" layer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmm_param_recovery.errors import DatasetFormatError

from .ground_truth import steady_state_response
from .transforms import adstock_weights, apply_adstock
from .validation import channel_columns

MAX_GEOS = 6
MAX_CHANNELS = 10
CURVE_POINTS = 200
CURVE_SPAN = 1.5  # curves run to this multiple of the largest observed weekly spend


def _require(truth: dict[str, Any], keys: tuple[str, ...], plot: str) -> None:
    missing = [key for key in keys if key not in truth]
    if missing:
        raise DatasetFormatError(
            f"ground_truth: {plot} needs {missing}, found {sorted(truth)}; allowed: a result "
            "of generate_mmm_dataset or load_dataset with the full truth"
        )


def _per_date(frame: pd.DataFrame, columns: list[str], geo: str | None) -> pd.DataFrame:
    """``columns`` of a long (date, geo) frame as (date,) rows: summed over geos, or one geo."""
    if geo is None:
        return frame.groupby("date")[columns].sum()
    geos = frame["geo"].unique().tolist()
    if geo not in geos:
        raise DatasetFormatError(f"geo: {geo!r} is not in the dataset; allowed: one of {geos}")
    return frame.loc[frame["geo"] == geo].set_index("date")[columns]


def _scope(data: pd.DataFrame, geo: str | None) -> str:
    geos = data["geo"].unique()
    if geo is None and len(geos) > 1:
        return f"sum over {len(geos)} geos"
    return f"geo {geo if geo is not None else geos[0]}"


def _top_geos(data: pd.DataFrame, max_geos: int) -> tuple[list[str], str]:
    """The ``max_geos`` geos with the largest total spend, and a caption saying which."""
    totals = data.groupby("geo", sort=False)[channel_columns(data)].sum().sum(axis=1)
    if len(totals) <= max_geos:
        return totals.index.tolist(), "1 geo" if len(totals) == 1 else f"all {len(totals)} geos"
    top = totals.sort_values(ascending=False, kind="stable").index[:max_geos].tolist()
    return top, f"the {max_geos} of {len(totals)} geos with the largest total spend"


def _top_channels(contributions: pd.DataFrame, max_channels: int) -> pd.DataFrame:
    """(date, channel) contributions with the smallest channels summed into 'other (n)'."""
    if contributions.shape[1] <= max_channels:
        return contributions
    order = contributions.sum().sort_values(ascending=False, kind="stable").index
    keep, rest = order[: max_channels - 1], order[max_channels - 1:]
    top = contributions[keep].copy()
    top[f"other ({len(rest)} channels)"] = contributions[rest].sum(axis=1)
    return top


def _grid(n_panels: int, panel_size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A figure of ``n_panels`` small multiples (extra grid cells hidden)."""
    ncols = min(n_panels, 3 if n_panels <= 6 else 5)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _new_figure(size: tuple[float, float], nrows: int = 1) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(np.atleast_1d(fig.subplots(nrows, 1, sharex=True, squeeze=False)).ravel())


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100)
    return fig


def _geo_colors(geos: list[str]) -> dict[str, Any]:
    return {geo: colormaps["tab10"](i % 10) for i, geo in enumerate(geos)}


def plot_spend(
    result: dict[str, Any], path: str | Path | None = None, max_geos: int = MAX_GEOS
) -> Figure:
    """Weekly spend (currency) over time: one panel per channel, one line per geo.

    With more than ``max_geos`` geos, only the ``max_geos`` with the largest total spend
    over all channels are drawn (same geos and colours in every panel).
    """
    data = result["data"]
    channels = channel_columns(data)
    geos, caption = _top_geos(data, max_geos)
    colors = _geo_colors(geos)
    fig, axes = _grid(len(channels), (4.0, 2.6))
    for ax, channel in zip(axes, channels, strict=True):
        wide = data.pivot(index="date", columns="geo", values=channel)
        for geo in geos:
            ax.plot(wide.index, wide[geo], color=colors[geo], lw=1.0, label=geo)
        ax.set_title(channel, fontsize=10)
        ax.set_ylabel("spend / week")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Weekly spend per channel: {caption}")
    return _finish(fig, path)


def _non_media(truth: dict[str, Any], geo: str | None) -> pd.Series:
    """Baseline plus control effects (y units) per date."""
    non_media = _per_date(truth["baseline"], ["baseline"], geo)["baseline"]
    effects = truth.get("control_effects")
    if effects is not None:
        columns = [c for c in effects.columns if c.startswith("effect_")]
        non_media = non_media + _per_date(effects, columns, geo).sum(axis=1)
    return non_media


def _contributions(truth: dict[str, Any], geo: str | None, max_channels: int) -> pd.DataFrame:
    frame = truth["contributions"]
    columns = [c for c in frame.columns if c.startswith("contribution_")]
    per_date = _per_date(frame, columns, geo)
    per_date.columns = [c.removeprefix("contribution_") for c in columns]
    return _top_channels(per_date, max_channels)


def plot_contributions(
    result: dict[str, Any],
    path: str | Path | None = None,
    geo: str | None = None,
    max_channels: int = MAX_CHANNELS,
) -> Figure:
    """True weekly contributions (y units) stacked on baseline + controls, with observed y.

    Summed over all geos, or for ``geo``. The top of the stack is y minus noise.
    """
    truth = result["ground_truth"]
    _require(truth, ("contributions", "baseline"), "plot_contributions")
    non_media = _non_media(truth, geo)
    media = _contributions(truth, geo, max_channels)
    y = _per_date(result["data"], ["y"], geo)["y"]
    fig, (ax,) = _new_figure((12.0, 5.5))
    colors = [colormaps["tab20"](i % 20) for i in range(media.shape[1])]
    ax.stackplot(non_media.index, non_media.to_numpy(), *media.to_numpy().T,
                 labels=["baseline + controls", *media.columns],
                 colors=["0.8", *colors], alpha=0.9)
    ax.plot(y.index, y.to_numpy(), color="black", lw=1.0, label="y (observed)")
    ax.set_ylabel("y units / week")
    ax.set_title(f"True contributions over baseline + controls ({_scope(result['data'], geo)})")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _finish(fig, path)


def _plot_lines(ax: Axes, frame: pd.DataFrame, title: str, emphasise: str | None = None) -> None:
    """One line per column of a (date,) frame; ``emphasise`` drawn thick and black."""
    for column in frame.columns:
        bold = column == emphasise
        ax.plot(frame.index, frame[column], lw=1.8 if bold else 1.0,
                color="black" if bold else None, label=column)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))


def _decomposition_parts(
    result: dict[str, Any], geo: str | None, max_channels: int
) -> dict[str, pd.DataFrame]:
    """Panel title -> (date,) frame of the lines to draw in it (y units)."""
    truth = result["ground_truth"]
    y = _per_date(result["data"], ["y"], geo)["y"]
    noise = _per_date(truth["noise"], ["noise"], geo)["noise"]
    baseline = truth["baseline"]
    effects = truth.get("control_effects")
    control_columns = [c for c in getattr(effects, "columns", []) if c.startswith("effect_")]
    media = _contributions(truth, geo, max_channels)
    return {
        "y = baseline + controls + media + noise": pd.DataFrame(
            {"y": y, "y - noise": y - noise}),
        "baseline": _per_date(baseline, [c for c in baseline.columns if c not in ("date", "geo")],
                              geo),
        "control effects": (_per_date(effects, control_columns, geo) if control_columns
                            else pd.DataFrame({"no controls": 0.0 * y})),
        "media contributions": media.assign(**{"all media": media.sum(axis=1)}),
        "noise": pd.DataFrame({"noise": noise}),
    }


def plot_decomposition(
    result: dict[str, Any],
    path: str | Path | None = None,
    geo: str | None = None,
    max_channels: int = MAX_CHANNELS,
) -> Figure:
    """The parts of y (y units per week), one panel each: y, baseline (intercept, trend,
    seasonality), control effects, media contributions per channel, and noise.

    Summed over all geos, or for ``geo``.
    """
    _require(result["ground_truth"], ("contributions", "baseline", "noise"), "plot_decomposition")
    parts = _decomposition_parts(result, geo, max_channels)
    emphasis = {"y = baseline + controls + media + noise": "y", "baseline": "baseline",
                "media contributions": "all media"}
    fig, axes = _new_figure((12.0, 2.3 * len(parts)), nrows=len(parts))
    for ax, (title, frame) in zip(axes, parts.items(), strict=True):
        _plot_lines(ax, frame, title, emphasis.get(title))
        ax.set_ylabel("y units / week", fontsize=8)
    fig.suptitle(f"Decomposition of y ({_scope(result['data'], geo)})")
    return _finish(fig, path)


def _weight_sum(adstock: dict[str, Any]) -> float:
    """Sum of the true lag weights (1 when normalised): steady-state adstock gain."""
    return float(adstock_weights(adstock["type"], adstock["params"], adstock["l_max"],
                                 adstock["normalized"]).sum())


def _equivalent_spend(params: dict[str, Any], spend: np.ndarray) -> np.ndarray:
    """Adstocked spend (time,) divided by the lag-weight sum: the constant weekly spend
    with the same response, so the observed weeks lie on the steady-state curve."""
    adstock = params["adstock"]
    carried = apply_adstock(spend, adstock["type"], adstock["params"], adstock["l_max"],
                            adstock["normalized"])
    return carried / _weight_sum(adstock)


def _channel_params(truth: dict[str, Any], channel: str) -> dict[str, Any]:
    """The channel's true transform parameters, checked for what the curve needs."""
    params = truth["transform_parameters"].get(channel)
    needed = (("adstock",), ("saturation",), ("effect_by_geo",), ("saturation", "reference_spend"))
    for keys in needed:
        node = params
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            raise DatasetFormatError(
                f"ground_truth.transform_parameters[{channel!r}]: missing {'.'.join(keys)}; "
                "allowed: adstock, saturation (with reference_spend) and effect_by_geo"
            )
    return params


def _saturation_panel(ax: Axes, result: dict[str, Any], channel: str, geos: list[str],
                      colors: dict[str, Any], show_points: bool) -> None:
    params = _channel_params(result["ground_truth"], channel)
    spend = result["data"].pivot(index="date", columns="geo", values=channel)
    contribution = result["ground_truth"]["contributions"].pivot(
        index="date", columns="geo", values=f"contribution_{channel}")
    grid = np.linspace(0.0, CURVE_SPAN * spend.to_numpy().max(), CURVE_POINTS)
    ax.axvspan(spend.to_numpy().min(), spend.to_numpy().max(), color="0.9",
               label="observed spend range")
    for geo in geos:
        ax.plot(grid, steady_state_response(params, geo, grid), color=colors[geo], label=geo)
        if show_points:
            ax.scatter(_equivalent_spend(params, spend[geo].to_numpy()), contribution[geo],
                       s=8, color=colors[geo], alpha=0.6, edgecolors="black", linewidths=0.3)
    ax.set_title(channel, fontsize=10)
    ax.set_xlabel("weekly spend (steady state)", fontsize=8)
    ax.set_ylabel("contribution / week", fontsize=8)


def plot_saturation_curves(
    result: dict[str, Any],
    path: str | Path | None = None,
    max_geos: int = MAX_GEOS,
    show_points: bool = True,
) -> Figure:
    """True response curves: weekly contribution (y units) against a constant weekly
    spend (currency), one panel per channel and one curve per geo.

    The curve is effect_by_geo * saturation(spend * sum(adstock weights) / reference
    spend). Shaded: the observed range of weekly spend (all geos). Points: the observed
    weeks at adstocked spend / weight sum, which lie on their geo's curve.
    """
    truth = result["ground_truth"]
    _require(truth, ("contributions", "transform_parameters"), "plot_saturation_curves")
    channels = channel_columns(result["data"])
    geos, caption = _top_geos(result["data"], max_geos)
    colors = _geo_colors(geos)
    fig, axes = _grid(len(channels), (4.0, 3.0))
    for ax, channel in zip(axes, channels, strict=True):
        _saturation_panel(ax, result, channel, geos, colors, show_points)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"True response curves at steady state: {caption}")
    return _finish(fig, path)
