"""Tidy metric rows: one dict per value (schema in docs/metrics.md).

Every row has ``run_key, metric, channel, geo, value``. ``channel``/``geo`` are ``None``
when the metric has no such dimension and ``"all"`` when it aggregates over it. Optional
keys: ``note`` (why a value is NaN or not comparable) and ``variable`` (the posterior
variable a ``nonfinite_count`` row counts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import xarray as xr

from mmm_param_recovery.benchmarking._xr_checks import count_nonfinite

ALL = "all"
Row = dict[str, Any]


def metric_row(
    run_key: str,
    metric: str,
    value: float,
    channel: str | None = None,
    geo: str | None = None,
    **extra: Any,
) -> Row:
    """Build one tidy row; ``value`` is stored as a Python float."""
    return {
        "run_key": run_key,
        "metric": metric,
        "channel": channel,
        "geo": geo,
        "value": float(value),
        **extra,
    }


def nonfinite_rows(
    run_key: str, ds: xr.Dataset, names: Iterable[str]
) -> tuple[list[Row], dict[str, int]]:
    """Rows ``nonfinite_count`` (one per variable, zeros included) and the counts by name."""
    counts = {name: count_nonfinite(ds[name]) for name in names if name in ds.data_vars}
    rows = [
        metric_row(run_key, "nonfinite_count", count, variable=name)
        for name, count in counts.items()
    ]
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
