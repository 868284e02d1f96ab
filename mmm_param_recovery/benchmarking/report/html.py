"""One self-contained HTML page for a benchmark run: ``<output_dir>/summary/report.html``.

The page reads only what it is given (run settings, summary tables, plot files, failures,
the verdict sentences) and computes no statistic: the verdict is ``summary/verdict.csv``
and the headline table picks cells from the summary tables by the selection in
``HEADLINE``. Images are inlined as base64 data URIs and the CSS is inline, so
the file works offline and can be mailed as is. Every value is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.report.html_parts import (
    CSS,
    OPEN_TABLE_ROWS,
    PAGE,
    SECTION_HELP,
    TABLE_HELP,
    html_table,
    kv_table,
    section,
)
from mmm_param_recovery.benchmarking.report.html_sections import (
    FITS_ROOM,
    calibration_section,
    channels_section,
    comparison_section,
    figures,
    priors_section,
    tables_in_order,
    verdict_section,
    warnings_section,
)
from mmm_param_recovery.benchmarking.report.tables import FIT_KEY
from mmm_param_recovery.benchmarking.store.atomic import write_text_atomic
from mmm_param_recovery.errors import DatasetFormatError

TITLE = "MMM parameter-recovery benchmark"
SUBTITLE = ("Media Mix Models fitted to synthetic data with known truth. Every number on this "
            "page is read from the stored results of this run.")
KEY = FIT_KEY
HEADLINE_ROWS_FROM = ("run_status", "runtime_comparison")
NAV = (("verdict", "Verdict"), ("comparison", "Comparison"), ("channels", "Channels"),
       ("calibration", "Calibration"), ("priors", "Priors"), ("compute", "Convergence & speed"),
       ("datasets", "Datasets"), ("fits", "Per-fit plots"), ("tables", "Tables"),
       ("failures", "Failures"), ("warnings", "Warnings"), ("settings", "Settings"))
ALL = "all"


@dataclass(frozen=True)
class HeadlineColumn:
    """Headline cell = ``column`` of ``tables[table]`` at the fit's rows matching ``where``."""

    label: str
    table: str
    column: str
    meaning: str
    where: tuple[tuple[str, str], ...] = ()


HEADLINE = (
    HeadlineColumn("total seconds", "runtime_comparison", "total_seconds",
                   "wall-clock seconds of build + sampling + post-processing; lower is better"),
    HeadlineColumn("ESS/s", "ess_comparison", "ess_per_second",
                   "minimum bulk ESS of the canonical quantities (contribution totals, ROAS, "
                   "mu) per sampling second; higher is better"),
    HeadlineColumn("R² pooled", "performance_metrics", "mu_r2",
                   "R² of the posterior-mean mu against observed y over all dates and geos",
                   (("geo", ALL),)),
    HeadlineColumn("ROAS mean |rel. error|", "recovery_metrics", "value",
                   "mean over channels of |posterior-mean ROAS / true ROAS - 1|; lower is "
                   "better",
                   (("quantity", "roas"), ("stat", "mean_abs_rel_error"), ("channel", ALL),
                    ("geo", ALL))),
    HeadlineColumn("y coverage 94%", "performance_metrics", "y_ppc_coverage_94",
                   "share of observed y inside the 94% posterior predictive interval, pooled "
                   "over geos; calibrated is about 0.94", (("geo", ALL),)),
    HeadlineColumn("peak memory GB", "runtime_comparison", "peak_rss_gb",
                   "peak resident memory of the fit's process tree"),
)


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetFormatError(
            f"tables[{name!r}]: missing column(s) {missing}; present: {list(map(str, df.columns))}"
        )


def _pick(tables: Mapping[str, pd.DataFrame], spec: HeadlineColumn,
          keys: pd.MultiIndex) -> tuple[np.ndarray, str]:
    """Values of ``spec`` for each fit in ``keys`` (NaN where absent) and why any are absent."""
    table = tables.get(spec.table)
    where = " and ".join(f"{f} = {v}" for f, v in spec.where)
    if table is None or spec.column not in table.columns:
        return np.full(len(keys), np.nan), f"no column {spec.column} in table {spec.table}"
    _require(table, [*KEY, *(f for f, _ in spec.where)], spec.table)
    rows = table
    for field, value in spec.where:
        rows = rows[rows[field].astype(str) == value]
    values = rows.set_index(list(KEY))[spec.column]
    if values.index.duplicated().any():
        raise DatasetFormatError(
            f"tables[{spec.table!r}]: several rows per (dataset, seed, fitter, priors) with "
            f"{where or 'no filter'}; the headline column {spec.label!r} needs one"
        )
    if rows.empty:
        return np.full(len(keys), np.nan), f"no rows in table {spec.table} with {where}"
    return values.reindex(keys).to_numpy(), ""


def headline_table(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """One row per planned fit: identity, status and the HEADLINE columns picked from tables.

    Rows come from the first of ``HEADLINE_ROWS_FROM`` present in ``tables`` (keys are the
    summary file stems; every table has ``dataset, seed, fitter``). Returns the table and a
    note per headline column that could not be filled at all.
    """
    name = next((n for n in HEADLINE_ROWS_FROM if n in tables), None)
    if name is None:
        return pd.DataFrame(columns=[*KEY, "status", *(c.label for c in HEADLINE)]), [
            f"no table among {list(HEADLINE_ROWS_FROM)}: the headline has no rows"]
    source = tables[name]
    _require(source, [*KEY, "status"], name)
    head = source[[*KEY, "status"]].reset_index(drop=True)
    keys = pd.MultiIndex.from_frame(head[list(KEY)])
    if keys.duplicated().any():
        raise DatasetFormatError(
            f"tables[{name!r}]: several rows per (dataset, seed, fitter, priors)")
    notes = []
    for spec in HEADLINE:
        head[spec.label], problem = _pick(tables, spec, keys)
        if problem:
            notes.append(f"{spec.label}: {problem}")
    return head, notes


def _failures_section(failures: pd.DataFrame) -> str:
    if failures.empty:
        return section("failures", "Failures and skips", "No failed, timed-out or skipped fits.",
                       "", css="allgood")
    title = f"Failures and skips ({len(failures)})"
    return section("failures", title, SECTION_HELP["failures"],
                   html_table(failures, "failures"), css="alert")


def _omissions_section(notes: Sequence[str]) -> str:
    """What the page does not show and why (plots without data, outputs that failed)."""
    items = "".join(f"<li>{escape(str(note))}</li>" for note in notes)
    return section("omissions", f"Not in this report ({len(notes)})",
                   SECTION_HELP["omissions"], f"<ul>{items}</ul>", css="alert")


def _settings_section(run_settings: Mapping[str, Any]) -> str:
    scalars = {k: v for k, v in run_settings.items() if not isinstance(v, Mapping)}
    parts = [kv_table(scalars)] if scalars else []
    for key, value in run_settings.items():
        if isinstance(value, Mapping):
            parts.append(f"<h3>{escape(str(key))}</h3>{kv_table(value)}")
    if not {"versions", "machine"} & set(run_settings):
        parts.append('<p class="note">The run settings name no library versions or machine.</p>')
    return section("settings", "Run settings and environment", SECTION_HELP["settings"],
                   "\n".join(parts))


def _compute_section(tables: Mapping[str, pd.DataFrame], images: Sequence[Path],
                     output_dir: Path) -> str:
    """Convergence, speed and memory: the per-fit headline table and its plots."""
    head, notes = headline_table(tables)
    defs = "".join(f"<dt>{escape(c.label)}</dt><dd>{escape(c.meaning)} (from "
                   f"<code>{escape(c.table)}.{escape(c.column)}</code>)</dd>" for c in HEADLINE)
    missing = "".join(f'<p class="note">Not available: {escape(n)}.</p>' for n in notes)
    content = (f'{html_table(head, "headline")}{missing}<dl class="defs">{defs}</dl>'
               + figures(images, output_dir, "compute"))
    return section("compute", "Convergence, speed and memory", SECTION_HELP["headline"],
                   content)


def _tables_section(tables: Mapping[str, pd.DataFrame]) -> str:
    parts = []
    for name, df in tables.items():
        is_open = " open" if len(df) <= OPEN_TABLE_ROWS else ""
        help_text = escape(TABLE_HELP.get(name, ""))
        parts.append(f'<details{is_open} id="table-{escape(name)}"><summary>{escape(name)} '
                     f"({len(df):,} rows)</summary><p class=\"help\">{help_text}</p>"
                     f"{html_table(df, name)}</details>")
    return section("tables", f"Summary tables ({len(tables)})", SECTION_HELP["tables"],
                   "\n".join(parts) or "<p>No tables were given.</p>")




def build_report(output_dir: str | Path, run_settings: Mapping[str, Any],
                 tables: Mapping[str, pd.DataFrame], images: Sequence[Path],
                 failures: pd.DataFrame, notes: Sequence[str] = (),
                 verdict_text: Sequence[str] = (), comparison: pd.DataFrame | None = None,
                 compared_to: str = "") -> Path:
    """Write ``<output_dir>/summary/report.html`` and return its path.

    The page answers first, then shows the evidence (``NAV`` order): verdict, per-channel
    recovery, calibration, prior checks, convergence/speed/memory, the datasets, the
    per-fit plots, every table, and at the end failures, omissions, warnings and settings.

    ``run_settings``: flat settings plus optional mappings (``versions``, ``machine``).
    ``tables``: summary tables keyed by file stem (``verdict``, ``channel_recovery``,
    ``runtime_comparison`` ...). ``images``: PNG files, inlined, each placed in its section
    by file name (``html_sections.PLOT_ROOMS``). ``failures``: run_status rows with status
    != ok. ``notes``: what could not be shown. ``verdict_text``: the sentences of
    ``verdict.verdict_sentences``. ``comparison``: ``compare.compare_runs`` against the
    run in ``compared_to`` (None: no comparison section).
    """
    output_dir = Path(output_dir)
    sections = [
        verdict_section(tables.get("verdict"), verdict_text, len(failures)),
        comparison_section(comparison, compared_to),
        channels_section(tables.get("channel_recovery"), images, output_dir),
        calibration_section(tables.get("replicate_summary"), images, output_dir),
        priors_section(tables.get("prior_checks"), images, output_dir),
        _compute_section(tables, images, output_dir),
        section("datasets", "The datasets", SECTION_HELP["datasets"],
                figures(images, output_dir, "datasets") or "<p>No dataset plots.</p>"),
        section("fits", "Per-fit plots", SECTION_HELP["plots"],
                figures(images, output_dir, FITS_ROOM) or "<p>No per-fit plots.</p>"),
        _tables_section(tables_in_order(tables)),
        _failures_section(failures),
        *([_omissions_section(notes)] if notes else []),
        warnings_section(tables.get("warnings")),
        _settings_section(run_settings),
    ]
    nav = " ".join(f'<a href="#{a}">{t}</a>' for a, t in NAV
                   if a != "comparison" or comparison is not None)
    page = PAGE.substitute(title=escape(TITLE), subtitle=escape(SUBTITLE), css=CSS, nav=nav,
                           body="\n".join(s for s in sections if s))
    path = output_dir / "summary" / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page)
    return path
