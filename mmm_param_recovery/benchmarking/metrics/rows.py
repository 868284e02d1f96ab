"""Tidy metric rows: one dict per value, identified by columns, never by a fused name.

Every row has ``quantity`` (what is measured: ``roas``, ``contribution_total``, ``mu``,
``y_ppc``, a parameter set ...), ``stat`` (the statistic: ``bias``, ``in_hdi``, ``r2``,
``ess_bulk_min`` ...), ``level`` (the interval probability, e.g. 0.94, or the threshold a
count refers to, e.g. an R-hat of 1.01; ``None`` otherwise), ``channel`` and ``geo``
(``None`` when the metric has no such dimension, ``"all"`` when it aggregates over it),
``value`` (a float) and ``note`` (why a value is NaN or not comparable; ``""`` if none).
The metric functions return rows without provenance; ``family`` and the run key are
stamped once, at the run boundary (``per_run``), and dataset, seed and fitter by the
summary tables. Schema: docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import xarray as xr

from mmm_param_recovery.benchmarking.metrics.checks import count_nonfinite

ALL = "all"
IDENTITY = ("quantity", "stat", "level", "channel", "geo")
"""The columns that identify a row within one fit (with ``family``)."""
Row = dict[str, Any]


def metric_row(
    quantity: str,
    stat: str,
    value: float,
    level: float | None = None,
    channel: str | None = None,
    geo: str | None = None,
    note: str = "",
) -> Row:
    """One tidy row; ``value`` is stored as a Python float."""
    return {"quantity": quantity, "stat": stat, "level": level, "channel": channel,
            "geo": geo, "value": float(value), "note": note}


def stat_label(quantity: str, stat: str, level: float | None = None) -> str:
    """A column name for a wide table: ``{quantity}_{stat}`` plus the level, in percent
    when it is a probability (``y_ppc_coverage_94``, ``canonical_rhat_n_above_1.01``).
    Tables are built from the row columns; nothing parses this name back."""
    label = f"{quantity}_{stat}"
    if level is None or (isinstance(level, float) and math.isnan(level)):
        return label
    level = float(level)
    return f"{label}_{level * 100:g}" if level < 1 else f"{label}_{level:g}"


def nonfinite_rows(ds: xr.Dataset, names: Iterable[str]) -> tuple[list[Row], dict[str, int]]:
    """Rows ``(quantity=name, stat="nonfinite_count")`` (one per variable, zeros included)
    and the counts by name."""
    counts = {name: count_nonfinite(ds[name]) for name in names if name in ds.data_vars}
    rows = [metric_row(name, "nonfinite_count", count) for name, count in counts.items()]
    return rows, counts


def mask_nonfinite(rows: list[Row], needs: Iterable[str], counts: dict[str, int]) -> list[Row]:
    """Set every ``value`` to NaN (with a ``note``) if a needed variable is not all finite.

    ``needs`` names the posterior variables the rows were computed from; ``counts`` maps
    variable names to their non-finite counts (``nonfinite_rows``).
    """
    bad = [f"{name} has {counts[name]} non-finite values" for name in needs if counts.get(name)]
    if not bad:
        return rows
    note = "; ".join(bad)
    return [{**row, "value": math.nan, "note": note} for row in rows]
