"""Summary tables of a benchmark run (schemas in docs/architecture.md).

Every table starts with the identity columns of a planned fit, so a failed or skipped
fit keeps a row (with empty values and its reason) in every table. Tables select metric
rows by their columns (family, quantity, stat, level); a wide table has one column per
selected row identity, named by ``metrics.rows.stat_label``, so a new metric reaches its
table without any edit here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mmm_param_recovery.benchmarking.metrics.oracle import oracle_fit, oracle_table
from mmm_param_recovery.benchmarking.metrics.rows import ALL, stat_label
from mmm_param_recovery.benchmarking.metrics.rows import IDENTITY as ROW_IDENTITY
from mmm_param_recovery.benchmarking.run.fit_child import WARNINGS
from mmm_param_recovery.benchmarking.run.records import RunRecord
from mmm_param_recovery.data_generator import load_dataset
from mmm_param_recovery.errors import MMMBenchmarkError

FIT_KEY = ("dataset", "seed", "fitter", "priors")
"""What identifies a planned fit in every table (one row per fit in per-fit tables)."""
IDENTITY = (*FIT_KEY, "library", "sampler", "run_key", "status", "reason")
GIB = 1024**3
TIMINGS = ("build_seconds", "sampling_seconds", "postprocess_seconds", "total_seconds",
           "waiting_seconds")
"""Per fit, wall-clock; ``waiting_seconds`` (waiting for sampling cores while sharing them,
``run.cores``) is outside ``total_seconds``."""
ESS_PER_SECOND = ("canonical", "ess_bulk_min_per_sampling_second")
"""The headline ESS/s: minimum bulk ESS of the canonical quantities per sampling second."""
ESS_PER_TOTAL_SECOND = ("canonical", "ess_bulk_min_per_total_second")
TIDY = (*ROW_IDENTITY, "value", "note")


def _identity_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.identity() for r in records])


def run_status_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    frame = _identity_frame(records)
    frame["reused"] = [r.reused for r in records]
    return frame


def runtime_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    frame = _identity_frame(records)[list(IDENTITY)]
    for column in TIMINGS:
        frame[column] = [(r.timings or {}).get(column, math.nan) for r in records]
    frame["peak_rss_gb"] = [(r.timings or {}).get("peak_rss_bytes", math.nan) / GIB
                            for r in records]
    frame["jax_cache"] = [(r.timings or {}).get("jax_cache", "") for r in records]
    return frame


def family_rows(records: Sequence[RunRecord], family: str) -> pd.DataFrame:
    """The tidy rows of ``family`` of every ok fit, with the fit's identity columns."""
    frames = []
    for record in records:
        if record.metrics is not None:
            rows = record.metrics[record.metrics["family"] == family]
            frames.append(rows.assign(**{k: v for k, v in record.identity().items()
                                         if k in IDENTITY and k != "run_key"}))
    if not frames:
        return pd.DataFrame(columns=[*IDENTITY, *TIDY])
    return pd.concat(frames, ignore_index=True)[[*IDENTITY, *TIDY]]


def _wide(records: Sequence[RunRecord], rows: pd.DataFrame, by_geo: bool = False,
          labels: dict[tuple[str, str], str] | None = None) -> pd.DataFrame:
    """Identity columns, then one column per row identity in ``rows`` (``stat_label``),
    ``labels`` adding named copies of (quantity, stat) columns."""
    rows = rows.assign(column=[stat_label(q, s, lv) for q, s, lv in
                               zip(rows["quantity"], rows["stat"], rows["level"], strict=True)])
    index = ["run_key", "geo"] if by_geo else ["run_key"]
    wide = rows.pivot_table(index=index, columns="column", values="value", aggfunc="first",
                            dropna=False, sort=False).reset_index()
    wide.columns.name = None
    for (quantity, stat), label in (labels or {}).items():
        source = stat_label(quantity, stat)
        wide[label] = wide[source] if source in wide.columns else math.nan
    base = _identity_frame(records)[list(IDENTITY)]
    merged = base.merge(wide, on="run_key", how="left")
    ordered = list(IDENTITY) + (["geo"] if by_geo else [])
    return merged[ordered + [c for c in merged.columns if c not in ordered]]


def ess_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Every ESS statistic of both parameter sets, plus ``ess_per_second`` (the
    headline ESS/s) and ``ess_per_total_second``."""
    rows = family_rows(records, "diagnostics")
    rows = rows[rows["stat"].str.startswith("ess_")]
    labels = {ESS_PER_SECOND: "ess_per_second", ESS_PER_TOTAL_SECOND: "ess_per_total_second"}
    return _wide(records, rows, labels=labels)


def diagnostics_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    return _wide(records, family_rows(records, "diagnostics"))


def performance_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Every predictive-fit metric per fit and geo (``all`` = pooled; a count without a
    geo, such as ``mu_nonfinite_count``, is a pooled value)."""
    rows = family_rows(records, "fit")
    return _wide(records, rows.assign(geo=rows["geo"].fillna(ALL)), by_geo=True)


def channel_rows(rows: pd.DataFrame, quantity: str = "roas") -> pd.DataFrame:
    """The recovery rows of each channel's ``quantity`` pooled over geos (default: ROAS;
    ``geo == all``, ``channel != all``)."""
    return rows[(rows["quantity"] == quantity) & (rows["geo"] == ALL)
                & (rows["channel"] != ALL)]


def _prior_flags(records: Sequence[RunRecord]) -> pd.DataFrame:
    """``run_key, channel, prior_excludes_truth`` of every fit with a prior check."""
    rows = family_rows(records, "prior")
    rows = rows[rows["stat"] == "excludes_truth"]
    return rows[["run_key", "channel", "value"]].rename(columns={"value": "prior_excludes_truth"})


def recovery_table(records: Sequence[RunRecord],
                   oracle: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tidy recovery rows, each with ``prior_excludes_truth`` (1.0 / 0.0) for its channel
    when the fit ran a prior check and ``identified`` (the oracle's flag of the channel
    in that dataset; NaN for pooled rows or without an oracle)."""
    rows = family_rows(records, "recovery")
    rows = rows.merge(_prior_flags(records), on=["run_key", "channel"], how="left")
    rows = _with_identified(rows, oracle)
    missing = [r.identity() for r in records if r.metrics is None]
    frame = pd.concat([rows, pd.DataFrame(missing)], ignore_index=True)
    return frame.reindex(columns=[*IDENTITY, *TIDY, "prior_excludes_truth", "identified"])


PRIOR_COLUMNS = {("quantile", 0.05): "prior_q05", ("quantile", 0.5): "prior_q50",
                 ("quantile", 0.95): "prior_q95", ("true", None): "true_roas",
                 ("mass_at_or_below_truth", None): "prior_mass_at_or_below_truth",
                 ("excludes_truth", 0.025): "prior_excludes_truth"}
POSTERIOR_COLUMNS = {("posterior_mean", None): "posterior_mean",
                     ("hdi_low", 0.94): "posterior_hdi94_low",
                     ("hdi_high", 0.94): "posterior_hdi94_high"}


def channel_columns(rows: pd.DataFrame, names: dict) -> pd.DataFrame:
    """``run_key, channel`` and one column per (stat, level) in ``names``."""
    level = rows["level"].astype(float).round(6).where(rows["level"].notna(), None)
    keys = list(zip(rows["stat"], level, strict=True))
    picked = rows.assign(column=[names.get((s, None if pd.isna(lv) else lv)) for s, lv in keys])
    picked = picked.dropna(subset=["column"])
    return picked.pivot_table(index=["run_key", "channel"], columns="column", values="value",
                              aggfunc="first").reset_index()


def prior_check_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per fit and channel: the prior ROAS quantiles, the truth, the prior mass at
    or below it, the excludes-truth flag, and the posterior mean and 94 % HDI of ROAS."""
    prior = family_rows(records, "prior")
    recovery = family_rows(records, "recovery")
    table = channel_columns(prior, PRIOR_COLUMNS).merge(
        channel_columns(channel_rows(recovery), POSTERIOR_COLUMNS),
        on=["run_key", "channel"], how="left")
    base = _identity_frame(records)[list(IDENTITY)]
    merged = base.merge(table, on="run_key", how="left")
    columns = [*IDENTITY, "channel", *PRIOR_COLUMNS.values(), *POSTERIOR_COLUMNS.values()]
    return merged.reindex(columns=columns)


def warnings_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Every warning a fit's libraries raised (``warnings.json`` of its run folder): one
    row per fit, phase and distinct message, with its count."""
    frames = []
    for record in records:
        path = record.run_dir / WARNINGS if record.run_dir is not None else None
        if path is not None and path.is_file():
            warned = pd.DataFrame(json.loads(path.read_text()))
            identity = {k: v for k, v in record.identity().items() if k in IDENTITY}
            frames.append(warned.assign(**identity))
    columns = [*IDENTITY, "phase", "category", "message", "count"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


ORACLE_KEY = ("dataset", "seed", "channel")
ORACLE_COLUMNS = (*ORACLE_KEY, "roas_abs_rel_error", "identified", "note")
"""Columns oracle.csv always has (a dataset the oracle cannot fit has NaN and a note)."""


def oracle_summary(datasets: Mapping[tuple[str, int], Any]) -> pd.DataFrame:
    """``summary/oracle.csv``: the oracle floor of every dataset (``metrics.oracle``), one row
    per (dataset, seed, channel); a dataset whose truth lacks what the oracle needs (a
    user's file without noise or baseline parts) gets one row with the reason."""
    frames = []
    for (name, seed), ref in datasets.items():
        try:
            frames.append(oracle_table(oracle_fit(load_dataset(ref.path)), name, seed))
        except MMMBenchmarkError as error:
            frames.append(pd.DataFrame([{"dataset": name, "seed": seed, "note": str(error)}]))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return table.reindex(columns=list(dict.fromkeys([*ORACLE_COLUMNS, *table.columns])))


def _with_identified(rows: pd.DataFrame, oracle: pd.DataFrame | None) -> pd.DataFrame:
    """``rows`` with the oracle's ``identified`` flag of their (dataset, seed, channel)."""
    if oracle is None:
        return rows.assign(identified=pd.NA)
    flags = oracle.dropna(subset=["channel"])[[*ORACLE_KEY, "identified"]]
    return rows.merge(flags, on=list(ORACLE_KEY), how="left")


def _roas_errors(rows: pd.DataFrame, oracle: pd.DataFrame) -> pd.DataFrame:
    """Per fit: mean |ROAS rel. error| over all and over identified channels, beside the
    oracle's on the same data, and the fitter-minus-oracle difference."""
    roas = channel_rows(rows)
    roas = roas[roas["stat"] == "rel_error"]
    roas = _with_identified(roas.assign(error=roas["value"].abs()), oracle)
    floor = oracle.dropna(subset=["channel"])[[*ORACLE_KEY, "roas_abs_rel_error"]]
    roas = roas.merge(floor, on=list(ORACLE_KEY), how="left")
    identified = roas[roas["identified"].eq(True)]
    out = roas.groupby("run_key").agg(roas_error_all=("error", "mean"),
                                      oracle_error_all=("roas_abs_rel_error", "mean"),
                                      n_channels=("error", "size"))
    ident = identified.groupby("run_key").agg(
        roas_error_identified=("error", "mean"),
        oracle_error_identified=("roas_abs_rel_error", "mean"),
        n_identified=("error", "size"))
    out = out.join(ident, how="left")
    out["n_identified"] = out["n_identified"].fillna(0).astype(int)
    for level in ("all", "identified"):
        out[f"minus_oracle_{level}"] = out[f"roas_error_{level}"] - out[f"oracle_error_{level}"]
    return out.reset_index()


def recovery_vs_oracle_table(records: Sequence[RunRecord],
                             oracle: pd.DataFrame) -> pd.DataFrame:
    """``summary/recovery_vs_oracle.csv``: one row per fit with its mean ROAS |relative
    error| over all channels and over the channels the oracle identifies, the oracle's on
    the same dataset, and fitter minus oracle (lower is better; 0 = at the floor)."""
    base = _identity_frame(records)[list(IDENTITY)]
    errors = _roas_errors(family_rows(records, "recovery"), oracle)
    return base.merge(errors, on="run_key", how="left")


def summary_tables(records: Sequence[RunRecord],
                   oracle: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every per-fit summary table by file stem (``replicate_summary`` is added by the
    runner when there are several seeds); with the ``oracle_summary`` of the datasets,
    also ``oracle`` and ``recovery_vs_oracle``, and recovery rows carry ``identified``."""
    tables = {
        "run_status": run_status_table(records),
        "runtime_comparison": runtime_table(records),
        "ess_comparison": ess_table(records),
        "performance_metrics": performance_table(records),
        "diagnostics_summary": diagnostics_table(records),
        "recovery_metrics": recovery_table(records, oracle),
        "prior_checks": prior_check_table(records),
        "warnings": warnings_table(records),
    }
    if oracle is not None:
        tables["oracle"] = oracle
        tables["recovery_vs_oracle"] = recovery_vs_oracle_table(records, oracle)
    return tables
