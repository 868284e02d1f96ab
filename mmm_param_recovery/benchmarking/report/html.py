"""One self-contained HTML page for a benchmark run: ``<output_dir>/summary/report.html``.

The page reads only what it is given (run settings, summary tables, plot files, failures)
and computes no statistic: the headline table picks cells from the summary tables by the
selection in ``HEADLINE``. Images are inlined as base64 data URIs and the CSS is inline, so
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
    figure_html,
    html_table,
    kv_table,
    section,
)
from mmm_param_recovery.benchmarking.report.tables import FIT_KEY
from mmm_param_recovery.benchmarking.store.atomic import write_text_atomic
from mmm_param_recovery.errors import DatasetFormatError

TITLE = "MMM parameter-recovery benchmark"
SUBTITLE = ("Media Mix Models fitted to synthetic data with known truth. Every number on this "
            "page is read from the stored results of this run.")
KEY = FIT_KEY
HEADLINE_ROWS_FROM = ("run_status", "runtime_comparison")
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


def _headline_section(tables: Mapping[str, pd.DataFrame]) -> str:
    head, notes = headline_table(tables)
    defs = "".join(f"<dt>{escape(c.label)}</dt><dd>{escape(c.meaning)} (from "
                   f"<code>{escape(c.table)}.{escape(c.column)}</code>)</dd>" for c in HEADLINE)
    missing = "".join(f'<p class="note">Not available: {escape(n)}.</p>' for n in notes)
    content = f'{html_table(head, "headline")}{missing}<dl class="defs">{defs}</dl>'
    return section("headline", "Headline comparison", SECTION_HELP["headline"], content)


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


def _label(path: Path, output_dir: Path) -> str:
    try:
        return path.resolve().relative_to(output_dir.resolve()).as_posix()
    except ValueError:
        return path.name


def _plots_section(images: Sequence[Path], output_dir: Path) -> str:
    """Figures grouped by folder (relative to ``output_dir``) in the order given."""
    groups: dict[str, list[str]] = {}
    for path in map(Path, images):
        label = _label(path, output_dir)
        folder = label.rpartition("/")[0] or "."
        groups.setdefault(folder, []).append(figure_html(path, label))
    parts = [f"<h3>{escape(folder)}</h3>" + "\n".join(figs) for folder, figs in groups.items()]
    return section("plots", f"Plots ({len(images)})", SECTION_HELP["plots"],
                   "\n".join(parts) or "<p>No plots were given.</p>")


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
                 failures: pd.DataFrame, notes: Sequence[str] = ()) -> Path:
    """Write ``<output_dir>/summary/report.html`` and return its path.

    ``run_settings``: flat settings (chains, draws, seeds, ...) plus optional mappings such
    as ``versions`` and ``machine``, each shown as its own table. ``tables``: summary tables
    keyed by file stem (``runtime_comparison``, ...), shown in the given order. ``images``:
    PNG files, inlined. ``failures``: the failed/timeout/skipped fits (e.g. run_status rows
    with status != ok, with ``reason``), shown first. ``notes``: what could not be shown
    (a plot without data, an output that failed), listed right after the failures.
    """
    output_dir = Path(output_dir)
    sections = [
        _failures_section(failures),
        *([_omissions_section(notes)] if notes else []),
        _headline_section(tables),
        _settings_section(run_settings),
        _plots_section(images, output_dir),
        _tables_section(tables),
    ]
    nav = " ".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("failures", "Failures"), ("headline", "Headline"), ("settings", "Settings"),
        ("plots", "Plots"), ("tables", "Tables")))
    page = PAGE.substitute(title=escape(TITLE), subtitle=escape(SUBTITLE), css=CSS, nav=nav,
                           body="\n".join(sections))
    path = output_dir / "summary" / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page)
    return path
