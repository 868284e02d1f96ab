"""Convergence and sampling-efficiency diagnostics of canonical posteriors.

Statistics are computed on two comparable sets (DESIGN.md section 3.5):

- ``canonical``: quantities every library shares, each a handful of scalars
  (``canonical_convergence_quantities``); the headline set.
- ``free``: the model's own free parameters (group ``free_parameters``), without
  unconstrained copies some samplers add (``*_log__``, ``*_logodds__``, ``*_interval__``).

Deterministic copies (per-week contributions, ``mu_t`` ...) are in neither set, so they
cannot dominate one library's ESS quantiles. Formulas: docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.checks import (
    SAMPLE_DIMS,
    posterior_dataset,
    require_variables,
)
from mmm_param_recovery.benchmarking.metrics.rows import Row, metric_row, stat_label
from mmm_param_recovery.errors import DatasetFormatError

FREE_GROUP = "free_parameters"
UNCONSTRAINED_SUFFIXES = ("_log__", "_logodds__", "_interval__")
ESS_STATS = ("min", "q10", "q50", "q90")
RHAT_THRESHOLDS = (1.01, 1.1)
PARAMETER_SETS = ("canonical", "free")
_SET_STATS = (
    *((f"ess_{method}_{stat}", None) for method in ("bulk", "tail") for stat in ESS_STATS),
    ("rhat_max", None),
    *(("rhat_n_above", t) for t in RHAT_THRESHOLDS),
    ("n_scalars", None),
)


@dataclass(frozen=True)
class FitOutcome:
    """One fit as ``diagnostics_summary`` reads it.

    ``idata`` is the canonical InferenceData (``None`` when the fit did not succeed);
    seconds are wall-clock: ``sampling_seconds`` covers tune + draws, ``total_seconds``
    build + sampling + post-processing. ``status`` is ``ok | failed | timeout | skipped``.
    """

    run_key: str
    fitter: str
    idata: az.InferenceData | None
    sampling_seconds: float = math.nan
    total_seconds: float = math.nan
    status: str = "ok"
    reason: str = ""

    @classmethod
    def from_mapping(cls, fields: Mapping[str, Any]) -> FitOutcome:
        """Build from a mapping with the same keys (``idata`` etc.); unknown keys raise."""
        unknown = set(fields) - set(cls.__dataclass_fields__)
        if unknown:
            raise DatasetFormatError(
                f"fit outcome: unknown key(s) {sorted(unknown)}; "
                f"allowed: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**fields)


def compute_ess(
    idata: az.InferenceData | xr.Dataset,
    var_names: Sequence[str] | None = None,
    group: str = "posterior",
    method: str = "bulk",
) -> dict[str, float]:
    """ArviZ ESS (``method`` bulk or tail) summarised over every scalar of the variables.

    ``idata``: an InferenceData (``group`` picks the group, e.g. ``"free_parameters"``)
    or a Dataset with dims (chain, draw, ...) (``group`` is then ignored). ``var_names``:
    variables to include, all when ``None``. Returns ``{"min", "q10", "q50", "q90"}`` in
    effective draws; quantiles interpolate linearly; a NaN ESS makes every entry NaN.
    """
    ds = _group_dataset(idata, group)
    ess = az.ess(ds, var_names=list(var_names) if var_names is not None else None, method=method)
    return _quantile_summary(_flat_values(ess))


def free_parameter_names(idata: az.InferenceData) -> list[str]:
    """Names in group ``free_parameters`` without unconstrained sampler copies."""
    if FREE_GROUP not in idata.groups():
        return []
    names = map(str, idata[FREE_GROUP].data_vars)
    return [name for name in names if not name.endswith(UNCONSTRAINED_SUFFIXES)]


def count_free_parameters(idata: az.InferenceData) -> int:
    """Number of scalar free parameters sampled (``free_parameter_names``), per draw."""
    group = idata[FREE_GROUP] if FREE_GROUP in idata.groups() else xr.Dataset()
    return sum(_scalar_count(group[name]) for name in free_parameter_names(idata))


def canonical_convergence_quantities(posterior: az.InferenceData | xr.Dataset) -> xr.Dataset:
    """The shared scalars whose convergence is compared across libraries.

    ``contribution_total`` (chain, draw, channel): ``channel_contribution`` summed over
    date and geo, y units; ``roas`` (chain, draw, channel); ``mu_total`` (chain, draw,
    geo): ``mu`` summed over date, y units.
    """
    ds = posterior_dataset(posterior)
    require_variables(ds, ("channel_contribution", "roas", "mu"), "posterior")
    return xr.Dataset(
        {
            "contribution_total": ds["channel_contribution"].sum(("date", "geo")),
            "roas": ds["roas"],
            "mu_total": ds["mu"].sum("date"),
        }
    )


def compute_diagnostics(
    idata: az.InferenceData,
    sampling_seconds: float = math.nan,
    total_seconds: float = math.nan,
) -> list[Row]:
    """Tidy rows of convergence and efficiency statistics of one fit (channel/geo None).

    Per set (quantity ``canonical`` / ``free``): ESS bulk and tail summaries
    (``ess_bulk_min`` ...), ``rhat_max``, ``rhat_n_above`` (level = the threshold, 1.01
    and 1.1), ``n_scalars``, and ESS (min, q50) per second of sampling and of total time
    (``ess_bulk_min_per_sampling_second`` ...). Quantity ``sampler``: ``n_divergences``,
    ``ebfmi_min``, ``n_chains``, ``n_draws``; quantity ``time``: the seconds.
    """
    seconds = {"sampling": sampling_seconds, "total": total_seconds}
    rows: list[Row] = []
    for set_name in PARAMETER_SETS:
        ds, note = _parameter_set(idata, set_name)
        rows += _set_rows(set_name, ds, note, seconds)
    rows += _sampler_rows(idata)
    rows += [metric_row("time", f"{k}_seconds", v) for k, v in seconds.items()]
    return rows


def diagnostics_summary(
    results: Iterable[FitOutcome | Mapping[str, Any]], dataset_name: str
) -> pd.DataFrame:
    """One row per fit: ``dataset, run_key, fitter, status, reason``, one column per
    ``compute_diagnostics`` row (named by ``rows.stat_label``: ``canonical_rhat_max``,
    ``sampler_n_divergences`` ...), and ``notes`` (``"column: why"``, joined by ``"; "``).

    Failed or skipped fits keep their row with NaN statistics and the reason.
    """
    records = []
    for item in results:
        outcome = item if isinstance(item, FitOutcome) else FitOutcome.from_mapping(item)
        records.append(_summary_record(outcome, dataset_name))
    return pd.DataFrame.from_records(records)


def _summary_record(outcome: FitOutcome, dataset_name: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "dataset": dataset_name,
        "run_key": outcome.run_key,
        "fitter": outcome.fitter,
        "status": outcome.status,
        "reason": outcome.reason,
    }
    if outcome.status != "ok" or outcome.idata is None:
        return record
    rows = compute_diagnostics(outcome.idata, outcome.sampling_seconds, outcome.total_seconds)
    labels = [stat_label(r["quantity"], r["stat"], r["level"]) for r in rows]
    record.update({label: row["value"] for label, row in zip(labels, rows, strict=True)})
    record["notes"] = "; ".join(
        f"{label}: {row['note']}" for label, row in zip(labels, rows, strict=True) if row["note"])
    return record


def _group_dataset(idata: az.InferenceData | xr.Dataset, group: str) -> xr.Dataset:
    if isinstance(idata, xr.Dataset):
        return idata
    if group not in idata.groups():
        raise DatasetFormatError(f"group: {group!r} not in InferenceData; has {idata.groups()}")
    return idata[group]


def _parameter_set(idata: az.InferenceData, set_name: str) -> tuple[xr.Dataset | None, str]:
    if set_name == "canonical":
        return canonical_convergence_quantities(idata), ""
    names = free_parameter_names(idata)
    if not names:
        return None, f"no free parameters (group {FREE_GROUP!r} missing or empty)"
    return idata[FREE_GROUP][names], ""


def _set_rows(
    set_name: str,
    ds: xr.Dataset | None,
    note: str,
    seconds: Mapping[str, float],
) -> list[Row]:
    stats = _set_statistics(ds) if ds is not None else dict.fromkeys(_SET_STATS, math.nan)
    for stat in ("min", "q50"):
        for phase, secs in seconds.items():
            ess = stats[(f"ess_bulk_{stat}", None)]
            per_second = ess / secs if secs > 0 else math.nan
            stats[(f"ess_bulk_{stat}_per_{phase}_second", None)] = per_second
    return [metric_row(set_name, stat, value, level, note=note)
            for (stat, level), value in stats.items()]


def _set_statistics(ds: xr.Dataset) -> dict[tuple[str, float | None], float]:
    stats: dict[tuple[str, float | None], float] = {}
    for method in ("bulk", "tail"):
        summary = compute_ess(ds, method=method)
        stats.update({(f"ess_{method}_{k}", None): v for k, v in summary.items()})
    rhat = _flat_values(az.rhat(ds))
    stats[("rhat_max", None)] = float(np.max(rhat))
    for threshold in RHAT_THRESHOLDS:
        stats[("rhat_n_above", threshold)] = float(np.count_nonzero(rhat > threshold))
    stats[("n_scalars", None)] = float(rhat.size)
    return stats


def _sampler_rows(idata: az.InferenceData) -> list[Row]:
    posterior = posterior_dataset(idata)
    rows = [
        metric_row("sampler", "n_chains", posterior.sizes["chain"]),
        metric_row("sampler", "n_draws", posterior.sizes["draw"]),
    ]
    stats = idata["sample_stats"] if "sample_stats" in idata.groups() else xr.Dataset()
    if "diverging" in stats:
        rows.append(metric_row("sampler", "n_divergences", int(stats["diverging"].sum())))
    else:
        rows.append(_nan_row("n_divergences", "sample_stats has no 'diverging'"))
    if "energy" in stats:
        energy = stats["energy"].transpose(*SAMPLE_DIMS).values
        rows.append(metric_row("sampler", "ebfmi_min", float(np.min(az.bfmi(energy)))))
    else:
        rows.append(_nan_row("ebfmi_min", "sample_stats has no 'energy'"))
    return rows


def _nan_row(stat: str, note: str) -> Row:
    return metric_row("sampler", stat, math.nan, note=note)


def _flat_values(ds: xr.Dataset) -> np.ndarray:
    arrays = [np.ravel(ds[name].values) for name in ds.data_vars]
    return np.concatenate(arrays) if arrays else np.array([], dtype=float)


def _quantile_summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return dict.fromkeys(ESS_STATS, math.nan)
    q10, q50, q90 = np.quantile(values, [0.1, 0.5, 0.9])
    return {"min": float(np.min(values)), "q10": float(q10), "q50": float(q50), "q90": float(q90)}


def _scalar_count(da: xr.DataArray) -> int:
    return int(np.prod([size for dim, size in da.sizes.items() if dim not in SAMPLE_DIMS]))
