"""Summary tables of a benchmark run (schemas in docs/architecture.md).

Every table starts with the identity columns of a planned fit, so a failed or skipped
fit keeps a row (with empty values and its reason) in every table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.plan import PlannedFit

IDENTITY = ("dataset", "seed", "fitter", "library", "sampler", "run_key", "status", "reason")
GIB = 1024**3
PERFORMANCE = {"r2": "r2", "mape": "mape", "durbin_watson": "durbin_watson", "crps": "crps",
               "y_coverage_50": "coverage_50", "y_coverage_94": "coverage_94"}
ESS = {f"ess_bulk_{s}_canonical": f"ess_bulk_{s}" for s in ("min", "q10", "q50", "q90")} | {
    "ess_tail_min_canonical": "ess_tail_min",
    "ess_bulk_min_free": "ess_bulk_min_free",
    "ess_bulk_min_per_sampling_s_canonical": "ess_per_second",
    "ess_bulk_min_per_total_s_canonical": "ess_per_total_second",
}
TIMINGS = ("build_seconds", "sampling_seconds", "postprocess_seconds", "total_seconds")


@dataclass(frozen=True)
class RunRecord:
    """A planned fit and what became of it.

    ``status``: ok | failed | timeout | skipped | missing (``--plots-only`` without a
    stored result); ``timings`` in seconds and ``peak_rss_bytes``; ``metrics``: the tidy
    rows of run_metrics (None unless ok); ``reused``: taken from the cache.
    """

    planned: PlannedFit
    status: str
    reason: str = ""
    run_key: str = ""
    run_dir: Path | None = None
    timings: dict | None = None
    metrics: pd.DataFrame | None = None
    reused: bool = False

    def identity(self) -> dict:
        spec = self.planned.spec
        library, _, sampler = self.planned.fitter.partition(":")
        return {"dataset": self.planned.dataset, "seed": self.planned.seed,
                "fitter": self.planned.fitter, "library": library, "sampler": sampler or None,
                "run_key": self.run_key or None, "status": self.status, "reason": self.reason,
                "chains": spec.settings.chains, "draws": spec.settings.draws,
                "tune": spec.settings.tune, "target_accept": spec.settings.target_accept}


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
    return frame


def _family_rows(records: Sequence[RunRecord], family: str) -> pd.DataFrame:
    frames = []
    for record in records:
        if record.metrics is not None:
            rows = record.metrics[record.metrics["family"] == family]
            frames.append(rows.assign(**{k: v for k, v in record.identity().items()
                                         if k in IDENTITY and k != "run_key"}))
    if not frames:
        return pd.DataFrame(columns=[*IDENTITY, "metric", "channel", "geo", "value", "note"])
    return pd.concat(frames, ignore_index=True)


def _wide(records: Sequence[RunRecord], family: str, names: dict[str, str],
          by_geo: bool = False) -> pd.DataFrame:
    """Identity columns, then one column per metric in ``names`` (renamed)."""
    rows = _family_rows(records, family)
    rows = rows[rows["metric"].isin(names)] if names else rows
    index = ["run_key", "geo"] if by_geo else ["run_key"]
    wide = rows.pivot_table(index=index, columns="metric", values="value", aggfunc="first",
                            dropna=False).reset_index()
    wide = wide.rename(columns=names)
    base = _identity_frame(records)[list(IDENTITY)]
    merged = base.merge(wide, on="run_key", how="left")
    ordered = list(IDENTITY) + (["geo"] if by_geo else [])
    return merged[ordered + [c for c in merged.columns if c not in ordered]]


def ess_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    return _wide(records, "diagnostics", ESS)


def diagnostics_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    return _wide(records, "diagnostics", {})


def performance_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    return _wide(records, "fit", PERFORMANCE, by_geo=True)


def recovery_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    rows = _family_rows(records, "recovery")
    missing = [r.identity() for r in records if r.metrics is None]
    frame = pd.concat([rows, pd.DataFrame(missing)], ignore_index=True)
    keep = [*IDENTITY, "metric", "channel", "geo", "value", "note"]
    return frame.reindex(columns=keep)


def summary_tables(records: Sequence[RunRecord]) -> dict[str, pd.DataFrame]:
    """Every per-fit summary table by file stem (``replicate_summary`` is added by the
    runner when there are several seeds)."""
    return {
        "run_status": run_status_table(records),
        "runtime_comparison": runtime_table(records),
        "ess_comparison": ess_table(records),
        "performance_metrics": performance_table(records),
        "diagnostics_summary": diagnostics_table(records),
        "recovery_metrics": recovery_table(records),
    }
