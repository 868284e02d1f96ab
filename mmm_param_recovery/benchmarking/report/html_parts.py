"""Building blocks of report.html: page template, CSS, explanatory texts and HTML helpers.

Every helper escapes what it is given; callers pass raw values and strings only. The page
references nothing outside itself (inline CSS, system fonts, images as data URIs).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import math
from collections.abc import Mapping
from html import escape
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from mmm_param_recovery.errors import StorageError

MAX_TABLE_ROWS = 2000
OPEN_TABLE_ROWS = 40
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".svg": "image/svg+xml"}

SECTION_HELP = {
    "failures": (
        "Every planned fit that produced no posterior: <em>failed</em> (it raised an error), "
        "<em>timeout</em> (it ran past the time limit) or <em>skipped</em> (not eligible, e.g. "
        "its estimated memory exceeds the limit). These fits still have a row in every table "
        "below, with empty values; nothing is dropped."
    ),
    "omissions": (
        "Outputs this page lacks and why: a plot with no data to draw (for example when no "
        "fit succeeded) is skipped, and an output that failed is left out; every summary "
        "table is still written."
    ),
    "headline": (
        "One row per fit (dataset, seed, fitter, priors). Every value is copied from the summary "
        "tables further down; nothing is recomputed for this page. A dash means the value is "
        "missing: the fit failed or was skipped, or the table holding it was not produced."
    ),
    "datasets": (
        "What the generator made, per dataset and seed: spend per channel, the true "
        "contributions, the decomposition of y and the true response curves with the "
        "observed spend range. Everything the fits are scored against comes from here."
    ),
    "settings": (
        "What was run and where. Sampler settings are the same for every fitter of a run. "
        "Timings and memory compare only between runs on the same machine with the same "
        "library versions."
    ),
    "plots": (
        "Per-dataset plots show one fit each (posterior predictive, contributions) or all "
        "fits of one seed (model comparison); the summary plots compare every fit. Intervals "
        "are posterior credible intervals; black marks the observed data or the truth."
    ),
    "tables": (
        "Every summary table as written to <code>summary/*.csv</code> (same values at full "
        "precision there). Identity columns come first; failed and skipped fits keep their "
        "rows with empty values. Long tables are collapsed and scroll inside their box."
    ),
}

TABLE_HELP = {
    "run_status": "Every planned fit with its status and, when not ok, the reason.",
    "runtime_comparison": (
        "Wall-clock seconds per phase, measured the same way for every library: build "
        "(incl. compile), sampling (tune + draws), post-processing; peak RSS of the fit's "
        "process tree in GB."
    ),
    "ess_comparison": (
        "Bulk/tail effective sample size of the canonical quantities shared by all libraries "
        "(contribution totals, ROAS, mu) and of each model's free parameters. "
        "ess_per_second = ess_bulk_min / sampling_seconds: higher is better."
    ),
    "diagnostics_summary": (
        "Convergence: max R-hat (want < 1.01), counts of R-hat above 1.01 and 1.1, "
        "divergent transitions (want 0), E-BFMI (want > 0.3)."
    ),
    "performance_metrics": (
        "Predictive fit per geo and pooled (geo = all): R², MAPE and Durbin-Watson of the "
        "posterior-mean mu vs observed y; CRPS and interval coverage of y by the posterior "
        "predictive (coverage_94 near 0.94 is calibrated)."
    ),
    "recovery_metrics": (
        "Tidy recovery rows: posterior vs truth per metric, channel and geo (all = pooled): "
        "bias, relative error, SRMSE of weekly contributions, ROAS error, HDI coverage of "
        "the truth, CRPS, adstock error."
    ),
    "replicate_summary": (
        "Across replicate seeds: mean of each metric with its Monte-Carlo standard error; "
        "coverage rows give nominal vs empirical coverage with a binomial SE."
    ),
}

CAPTIONS = (
    ("rank_histograms*", "Rank of the true ROAS among each fit's posterior draws, pooled over "
     "channels and seeds, per fitter [priors]; a calibrated fitter gives a flat histogram "
     "inside the grey ±2 SD band. Ends too full: intervals too narrow; middle: too wide."),
    ("prior_checks*", "Per channel and fitter [priors]: the prior-implied ROAS 90% interval "
     "(grey; red when it excludes the truth), the posterior mean and 94% HDI (colour) and the "
     "true ROAS (black). A posterior that stays on its grey bar was decided by the prior."),
    ("dataset_spend*", "Weekly spend per channel (summed over geos)."),
    ("dataset_truth_contributions*", "True weekly contribution of each channel and the "
     "baseline."),
    ("dataset_truth_decomposition*", "y split into baseline, channel contributions and "
     "noise, as generated."),
    ("dataset_truth_response_curves*", "True response curve of each channel (contribution "
     "against spend) with the range of spend the data contain; outside it, any ROAS is an "
     "extrapolation."),
    ("runtime_ess*", "Left: wall-clock seconds per phase, stacked, with the total. Right: "
     "minimum bulk ESS of the canonical quantities per sampling second (log axis when the "
     "values span more than 50x). Failed and skipped fits are red labelled gaps."),
    ("memory*", "Peak resident memory (GB) of each fit's process tree, sampled during the "
     "fit. Failed and skipped fits are red labelled gaps."),
    ("roas_forest*", "Per channel and fitter: posterior-mean ROAS (dot), 50% HDI (thick) and "
     "94% HDI (thin); the black bar is the true ROAS."),
    ("coverage_calibration*", "Empirical coverage of the truth by credible intervals across "
     "replicate seeds against the nominal level, with ±2 binomial SE. Below the diagonal: "
     "intervals too narrow (over-confident); above: too wide."),
    ("posterior_predictive_*", "Observed y (black) against the posterior predictive: 50% and "
     "94% equal-tailed intervals of y_ppc, its mean (dashed) and the posterior-mean mu "
     "(orange). About 94% of the observed points should fall inside the light band."),
    ("contributions_*", "Weekly contribution of each channel summed over geos: truth (black) "
     "against the posterior mean with its 94% HDI."),
    ("response_curves_*", "Per channel, the true steady-state response curve (black) "
     "against each fitter's posterior mean and 94% HDI: weekly contribution (sum over geos) "
     "of a constant weekly spend. Grey: outside the observed weekly spends (darker beyond the "
     "largest, lighter below the smallest), where every curve is an extrapolation; dotted: "
     "the mean spend, where marginal ROAS (the slope) is read."),
    ("model_comparison_*", "Posterior-mean mu (expected y, no noise) of each fitter summed "
     "over geos against observed y; the lower panel shows the difference."),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0;color:#1d2327;background:#f6f7f9;line-height:1.45;font-size:15px}
header{background:#1f3b57;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px} header p{margin:4px 0 0;opacity:.85}
nav{padding:8px 32px;background:#e8edf2;font-size:14px}
nav a{margin-right:18px;color:#1f3b57}
main{padding:8px 32px 48px;max-width:1500px}
section{background:#fff;border:1px solid #dde2e7;border-radius:6px;padding:4px 20px 16px;
margin:18px 0}
h2{font-size:20px;border-bottom:2px solid #e8edf2;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
p.help{color:#4a5560;font-size:14px;max-width:1100px}
.alert{border:2px solid #b00020;background:#fff5f5}
.alert h2{color:#b00020}
.allgood{border-left:6px solid #2e7d32}
.table-wrap{overflow:auto;max-height:560px;border:1px solid #dde2e7;margin:6px 0 10px}
p.banner{border:2px solid #b00020;background:#fff5f5;padding:6px 10px;font-weight:600}
ul.verdict{font-size:15px;max-width:1100px} ul.verdict li{margin:4px 0}
th.sticky,td.sticky{position:sticky;background:#fff;z-index:2;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
th.sticky{background:#f0f3f6;z-index:3}
table{border-collapse:collapse;font-size:13px;width:max-content;min-width:50%}
th,td{padding:4px 8px;border-bottom:1px solid #eceff2;text-align:left;vertical-align:top}
th{background:#f0f3f6;position:sticky;top:0;z-index:1}
tbody tr:nth-child(even){background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.na{color:#9aa4ad;text-align:center}
td.reason{max-width:640px;white-space:pre-wrap;word-break:break-word}
td.status-ok{color:#2e7d32;font-weight:600}
td.status-failed,td.status-timeout{color:#b00020;font-weight:700}
td.status-skipped{color:#8a6d00;font-weight:700}
table.kv th{position:static;width:220px}
dl.defs{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;font-size:14px}
dl.defs dt{font-weight:600} dl.defs dd{margin:0;color:#4a5560}
p.note{font-size:13px;color:#8a6d00}
details>summary{cursor:pointer;font-weight:600;margin:10px 0 4px}
figure{margin:14px 0 26px}
figure img{max-width:100%;height:auto;border:1px solid #dde2e7;background:#fff}
figcaption{font-size:13px;color:#4a5560;max-width:1100px}
code{background:#eef1f4;padding:0 3px;border-radius:3px}
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header><h1>$title</h1><p>$subtitle</p></header>
<nav>$nav</nav>
<main>
$body
</main>
</body>
</html>
""")


def format_cell(value: Any) -> tuple[str, str]:
    """``(text, css class)`` of one table value: missing -> dash, numbers rounded for reading.

    Floats: thousands separators from 10,000, else 4 significant digits, scientific below
    0.001. Integers and strings as they are; timestamps as dates when at midnight.
    """
    if value is None or (np.ndim(value) == 0 and not isinstance(value, str) and pd.isna(value)):
        return "—", "na"
    if isinstance(value, bool | np.bool_):
        return str(bool(value)), ""
    if isinstance(value, int | np.integer):
        return str(int(value)), "num"
    if isinstance(value, float | np.floating):
        return _format_float(float(value)), "num"
    if isinstance(value, pd.Timestamp):
        return (value.date().isoformat() if value == value.normalize() else str(value)), ""
    return str(value), ""


def _format_float(value: float) -> str:
    size = abs(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    if 1e4 <= size < 1e15:
        return f"{value:,.0f}"
    return f"{value:.4g}" if size >= 1e-3 else f"{value:.3e}"


KEY_CHARS = 8
"""Run keys are shown by their first 8 hex digits (the full key in the title attribute)."""
STICKY = {"dataset": 10.0, "seed": 3.5, "fitter": 9.0, "priors": 5.5}
"""Identity columns (width in em) that stay in view while a wide table scrolls, when they
lead the table."""


def _sticky_styles(columns: list[str]) -> dict[str, str]:
    """``column -> style`` of the leading identity columns of a table."""
    styles, left = {}, 0.0
    for column in columns:
        if column not in STICKY:
            break
        width = STICKY[column]
        styles[column] = f"left:{left:g}em;min-width:{width:g}em;max-width:{width:g}em"
        left += width + 1.0  # + the cell's horizontal padding (2 x 8 px at 13 px ~ 1.2em)
    return styles


def _cell(column: str, value: Any, sticky: str | None = None) -> str:
    text, css = format_cell(value)
    title = ""
    if column == "status" and css != "na":
        css = f"status-{text}"
    elif column == "reason":
        css = "reason"
    elif column == "run_key" and css != "na" and len(text) > KEY_CHARS:
        title, text = text, text[:KEY_CHARS]
    if sticky is not None:
        css = f"{css} sticky".strip()
    attrs = f' class="{escape(css)}"' if css else ""
    attrs += f' title="{escape(title)}"' if title else ""
    attrs += f' style="{sticky}"' if sticky is not None else ""
    return f"<td{attrs}>{escape(text)}</td>"


def html_table(df: pd.DataFrame, name: str) -> str:
    """A scrollable HTML table of ``df`` (first MAX_TABLE_ROWS rows, with a note if cut);
    leading identity columns (``STICKY``) stay in view, run keys are shortened."""
    shown = df.head(MAX_TABLE_ROWS)
    columns = [str(c) for c in df.columns]
    sticky = _sticky_styles(columns)
    head = "".join(f'<th class="sticky" style="{sticky[c]}">{escape(c)}</th>' if c in sticky
                   else f"<th>{escape(c)}</th>" for c in columns)
    body = "\n".join(
        "<tr>" + "".join(_cell(c, v, sticky.get(c)) for c, v in zip(columns, row, strict=True))
        + "</tr>" for row in shown.itertuples(index=False, name=None)
    )
    note = ""
    if len(df) > len(shown):
        note = (f'<p class="note">Showing the first {len(shown):,} of {len(df):,} rows; the '
                f"full table is in <code>summary/{escape(name)}.csv</code>.</p>")
    return (f'<div class="table-wrap"><table data-name="{escape(name)}"><thead><tr>{head}'
            f"</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>{note}")


def kv_table(mapping: Mapping[str, Any]) -> str:
    """Two-column table of scalar settings; lists joined by commas, mappings as JSON."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        elif isinstance(value, Mapping):
            value = json.dumps(value, default=str, sort_keys=True)
        text, _ = format_cell(value)
        rows.append(f"<tr><th>{escape(str(key))}</th><td>{escape(text)}</td></tr>")
    return '<table class="kv"><tbody>' + "".join(rows) + "</tbody></table>"


def caption_for(path: Path) -> str:
    """The explanation of a plot file, matched on its name (empty when unknown)."""
    return next((text for pattern, text in CAPTIONS if fnmatch.fnmatch(path.stem, pattern)), "")


def figure_html(path: Path, label: str) -> str:
    """``<figure>`` with the image inlined as a data URI and a caption naming ``label``."""
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise StorageError(f"images: {path} has type {path.suffix!r}; allowed: {list(IMAGE_TYPES)}")
    if not path.is_file():
        raise StorageError(f"images: {path} does not exist")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = caption_for(path)
    text = f"<strong>{escape(label)}</strong>" + (f" — {escape(caption)}" if caption else "")
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{escape(label)}">'
            f"<figcaption>{text}</figcaption></figure>")


def section(anchor: str, title: str, help_html: str, content: str, css: str = "") -> str:
    """A titled ``<section>``; ``help_html`` is trusted markup from this module's texts."""
    attr = f' class="{css}"' if css else ""
    return (f'<section id="{escape(anchor)}"{attr}><h2>{escape(title)}</h2>'
            f'<p class="help">{help_html}</p>\n{content}\n</section>')
