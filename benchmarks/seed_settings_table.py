"""Print one markdown table of the fits stored in a results folder: phases, peak memory,
ESS, R-hat, divergences and ROAS recovery beside the oracle floor, one column per fit
(docs/seed_settings.md is made with it).

    .venv/bin/python run_benchmark.py ... --plots-only --output-dir DIR   # rebuild summary/
    .venv/bin/python benchmarks/seed_settings_table.py DIR [--dataset medium_business]

It reads ``runtime_comparison.csv``, ``run_status.csv``, ``diagnostics_summary.csv`` and
``verdict_fits.csv`` under ``DIR/summary`` (written by every run, ``--plots-only``
included); a fit that failed or timed out shows its status and reason instead of numbers.
Seconds are wall seconds of the fit's own process, memory is the child's peak resident set
in GiB, ESS is the canonical parameters' bulk ESS, ROAS errors are mean absolute relative
errors of the posterior-mean ROAS (docs/metrics.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

ROWS = {  # row label -> (column, format)
    "chains x tune x draws": ("settings", "{}"),
    "status": ("status", "{}"),
    "build s": ("build_seconds", "{:.1f}"),
    "sampling s": ("sampling_seconds", "{:.1f}"),
    "post-processing s": ("postprocess_seconds", "{:.1f}"),
    "total s (own time)": ("total_seconds", "{:.1f}"),
    "waited for cores s": ("waiting_seconds", "{:.1f}"),
    "peak RSS GiB": ("peak_rss_gb", "{:.2f}"),
    "JAX cache": ("jax_cache", "{}"),
    "min bulk ESS": ("canonical_ess_bulk_min", "{:.0f}"),
    "min bulk ESS / sampling s": ("canonical_ess_bulk_min_per_sampling_second", "{:.2f}"),
    "max R-hat": ("canonical_rhat_max", "{:.3f}"),
    "divergences": ("sampler_n_divergences", "{:.0f}"),
    "ROAS error, identified channels": ("roas_error_identified", "{:.3f}"),
    "oracle floor, identified channels": ("oracle_error_identified", "{:.3f}"),
    "ROAS error, all channels": ("roas_error_all", "{:.3f}"),
    "oracle floor, all channels": ("oracle_error_all", "{:.3f}"),
    "94 % ROAS coverage": ("roas_in_hdi94", "{:.3f}"),
}

SETTINGS = ("chains", "tune", "draws")
"""run_status columns joined into the ``settings`` row."""


def load(folder: Path, dataset: str | None) -> pd.DataFrame:
    """One row per stored fit (run_key): the runtime table, then the ROWS columns that
    run_status, diagnostics_summary and verdict_fits add."""
    summary = folder / "summary"
    merged = pd.read_csv(summary / "runtime_comparison.csv")
    for file in ("run_status.csv", "diagnostics_summary.csv", "verdict_fits.csv"):
        frame = pd.read_csv(summary / file)
        added = [c for c in (*SETTINGS, *(column for column, _ in ROWS.values()))
                 if c in frame and c not in merged]
        merged = merged.merge(frame[["run_key", *added]], on="run_key", how="left")
    merged["settings"] = [" x ".join(str(v) for v in row)
                          for row in merged[list(SETTINGS)].itertuples(index=False)]
    if dataset:
        merged = merged[merged["dataset"] == dataset]
    return merged.sort_values(["dataset", "fitter"])


def cell(value, fmt: str) -> str:
    """A formatted cell; missing values (a failed fit) print as a dash."""
    if pd.isna(value) or value == "":
        return "-"
    return fmt.format(value)


def markdown(frame: pd.DataFrame) -> str:
    """Rows are the quantities of ROWS, columns the fits (dataset, seed, fitter)."""
    header = [f"{r.dataset} s{r.seed} {r.fitter}" for r in frame.itertuples()]
    lines = ["| | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
    for label, (column, fmt) in ROWS.items():
        values = frame[column] if column in frame else [None] * len(frame)
        lines.append(f"| {label} | " + " | ".join(cell(v, fmt) for v in values) + " |")
    reasons = [f"- {r.fitter}: {r.reason}" for r in frame.itertuples()
               if r.status != "ok" and isinstance(r.reason, str)]
    return "\n".join(lines + ([""] + reasons if reasons else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a run's --output-dir")
    parser.add_argument("--dataset", help="only this dataset's fits")
    args = parser.parse_args()
    frame = load(args.folder, args.dataset)
    if frame.empty:
        raise SystemExit(f"no stored fits in {args.folder / 'summary'}"
                         + (f" for dataset {args.dataset}" if args.dataset else ""))
    print(markdown(frame))


if __name__ == "__main__":
    main()
