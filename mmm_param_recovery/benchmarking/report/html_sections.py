"""The question-first sections of report.html: verdict, per-channel recovery,
calibration, prior checks and the run-to-run comparison; and which plot goes where.

Like ``html``, these read the tables and texts they are given and compute no statistic.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.report.channels import (
    channel_recovery_display,
    marginal_recovery_display,
)
from mmm_param_recovery.benchmarking.report.html_parts import figure_html, html_table, section
from mmm_param_recovery.benchmarking.report.verdict import ESS_PER_CHAIN, NOISE_SE, RHAT_LIMIT

PLOT_ROOMS = (  # (room, file-name patterns), first match wins
    ("channels", ("roas_forest*", "response_curves_*")),
    ("calibration", ("coverage_calibration*", "rank_histograms*")),
    ("priors", ("prior_checks*",)),
    ("compute", ("runtime_ess*", "memory*")),
    ("datasets", ("dataset_*",)),
)
FITS_ROOM = "fits"

VERDICT_COLUMNS = {
    "dataset": "dataset", "priors": "priors", "fitter": "fitter", "n_ok": "ok fits",
    "roas_error_identified": "ROAS err. (identified)", "roas_error_identified_mcse": "± MCSE",
    "oracle_error_identified": "oracle floor", "minus_oracle_identified": "minus oracle",
    "minus_oracle_identified_mcse": "± MCSE  ", "n_identified": "identified channels",
    "roas_error_all": "ROAS err. (all)", "roas_error_all_mcse": "± MCSE ",
    "oracle_error_all": "oracle (all)", "marginal_roas_error_all": "marginal ROAS err.",
    "marginal_roas_error_all_mcse": "±  MCSE", "curve_error_all": "curve err.",
    "curve_error_all_mcse": "±   MCSE", "roas_in_hdi94": "94% coverage",
    "roas_in_hdi94_se": "± SE", "ess_per_second": "ESS/s", "total_seconds": "wall s",
    "peak_rss_gb_max": "peak GB", "convergence": "convergence",
    "prior_flags": "prior excludes truth",
}
VERDICT_HELP = (
    "One row per dataset, prior profile and fitter; means over the fitter's ok seeds with "
    "their Monte-Carlo standard error (sd / √n, blank with one seed). <em>ROAS err.</em> is "
    "the mean over channels of |posterior-mean ROAS / true ROAS − 1|, over the channels the "
    "oracle identifies and over all; the <em>oracle floor</em> is the same error of a fit that "
    "knows every true transform (docs/metrics.md): no model should be expected below it. "
    "<em>marginal ROAS err.</em>: the same error for the slope of the steady-state response "
    "at the mean spend, all channels; <em>curve err.</em>: the posterior-mean response "
    "curve's integrated |error| over the observed spend, relative to the true curve's area, "
    "mean over channels (docs/metrics.md). "
    "<em>94% coverage</em>: share of channel ROAS truths inside the 94% HDI, pooled over "
    "seeds, with its binomial SE. <em>convergence</em> marks a fit with R-hat above "
    f"{RHAT_LIMIT}, any divergence or bulk ESS below {ESS_PER_CHAIN} per chain; read a "
    "marked fitter's numbers with that in mind.")


def _placement(path: Path) -> tuple[str, int]:
    """The section a plot belongs to and its pattern's position there, from its name."""
    for room, patterns in PLOT_ROOMS:
        for order, pattern in enumerate(patterns):
            if fnmatch.fnmatch(path.stem, pattern):
                return room, order
    return FITS_ROOM, 0


def room_of(path: Path) -> str:
    """The section a plot belongs to, from its file name."""
    return _placement(path)[0]


def figures(images: Sequence[Path], output_dir: Path, room: str) -> str:
    """Every image of ``room``, grouped in the order of the room's patterns (e.g. every
    forest plot before every response-curve plot), labelled by its path under
    ``output_dir``."""
    parts = []
    chosen = [p for p in map(Path, images) if room_of(p) == room]
    for path in sorted(chosen, key=lambda p: _placement(p)[1]):
        try:
            label = path.resolve().relative_to(output_dir.resolve()).as_posix()
        except ValueError:
            label = path.name
        parts.append(figure_html(path, label))
    return "\n".join(parts)


def verdict_section(verdict: pd.DataFrame | None, sentences: Sequence[str],
                    n_failures: int) -> str:
    """Sentences, then the verdict table; a banner when fits failed."""
    banner = ""
    if n_failures:
        banner = (f'<p class="banner">{n_failures} planned fit(s) failed, timed out or were '
                  'skipped: see <a href="#failures">Failures</a>. They are not in the verdict.'
                  "</p>")
    items = "".join(f"<li>{escape(s)}</li>" for s in sentences)
    table = ""
    if verdict is not None and not verdict.empty:
        shown = verdict.reindex(columns=list(VERDICT_COLUMNS)).rename(columns=VERDICT_COLUMNS)
        table = html_table(shown, "verdict")
    return section("verdict", "Verdict", VERDICT_HELP,
                   f'{banner}<ul class="verdict">{items}</ul>{table}')


def channels_section(channel_table: pd.DataFrame | None, images: Sequence[Path],
                     output_dir: Path) -> str:
    """Per dataset: truth, oracle and every fit's ROAS and marginal ROAS per channel;
    forest plots and the true-vs-posterior response curves."""
    parts = []
    if channel_table is not None and not channel_table.empty:
        for dataset in dict.fromkeys(channel_table["dataset"]):
            shown = channel_recovery_display(channel_table, dataset)
            parts.append(f"<h3>{escape(str(dataset))}</h3>{html_table(shown, 'channel_recovery')}")
            marginal = marginal_recovery_display(channel_table, dataset)
            if not marginal.empty:
                parts.append(f"<h4>{escape(str(dataset))}: marginal ROAS at the mean spend</h4>"
                             f"{html_table(marginal, 'marginal_recovery')}")
    else:
        parts.append("<p>No fit succeeded: no per-channel recovery to show.</p>")
    parts.append(figures(images, output_dir, "channels"))
    help_text = (
        "Cells: posterior-mean ROAS [94% HDI]; ✗ marks an HDI that misses the truth, "
        "<em>prior!</em> a fit whose prior puts less than 2.5% (or more than 97.5%) of its "
        "mass at or below the true ROAS. <em>identified</em> says whether the oracle's ROAS "
        "relative SE is below its threshold: for an unidentified channel the data cannot "
        "decide the ROAS and every library reports mostly its prior. <em>Marginal ROAS</em>: "
        "extra weekly contribution per extra unit of weekly spend at today's mean spend, "
        "spread over geos like today's spend (the slope of the steady-state response "
        "curve); <em>curve err.</em>: the posterior-mean curve's integrated |error| over the "
        "observed spend range relative to the true curve's area (docs/metrics.md).")
    return section("channels", "Per-channel recovery", help_text, "\n".join(parts))


def calibration_section(replicates: pd.DataFrame | None, images: Sequence[Path],
                        output_dir: Path) -> str:
    """Coverage of the 50/80/94 % intervals across seeds (plot and rows)."""
    if replicates is None or replicates.empty:
        content = ("<p>One seed: calibration needs several seeds (--seeds 1 2 3 4 5). Each "
                   "fit's own interval coverage is in the verdict and the recovery table.</p>")
    else:
        rows = replicates[(replicates["kind"] == "coverage")
                          & (replicates["channel"] == "pooled") & (replicates["geo"] == "all")]
        shown = rows.reindex(columns=["dataset", "fitter", "priors", "quantity", "nominal",
                                      "empirical", "binomial_se", "n", "note"])
        content = figures(images, output_dir, "calibration") + html_table(shown, "calibration")
    help_text = ("Share of truths inside the 50/80/94% credible intervals across seeds and "
                 "channels against the nominal level, ±2 binomial SE (channels of one seed "
                 "are not independent, so the SE is a lower bound).")
    return section("calibration", "Calibration", help_text, content)


def priors_section(prior_checks: pd.DataFrame | None, images: Sequence[Path],
                   output_dir: Path) -> str:
    """Prior vs posterior ROAS plots and the channels whose prior excludes the truth."""
    parts = [figures(images, output_dir, "priors")]
    if prior_checks is not None and "prior_excludes_truth" in prior_checks:
        flagged = prior_checks[prior_checks["prior_excludes_truth"] == 1]
        if flagged.empty:
            parts.insert(0, "<p>No prior excludes a true ROAS.</p>")
        else:
            columns = ["dataset", "seed", "fitter", "priors", "channel", "prior_q05",
                       "prior_q50", "prior_q95", "true_roas", "prior_mass_at_or_below_truth"]
            parts.insert(0, "<h3>Priors that exclude the truth</h3>"
                         + html_table(flagged.reindex(columns=columns), "prior_flags"))
    help_text = ("Each library's own prior-implied ROAS (90% interval, from its prior draws "
                 "before sampling) beside the posterior and the truth. A prior that excludes "
                 "the truth decides a weakly identified channel: that error is the set-up's, "
                 "not the sampler's. Compare profiles with --priors seed library matched.")
    return section("priors", "Prior checks", help_text, "\n".join(parts))


def comparison_section(comparison: pd.DataFrame | None, other: str) -> str:
    """The run-to-run comparison, changes beyond noise first."""
    if comparison is None:
        return ""
    if comparison.empty:
        content = ("<p>The two runs share no ok fit of the same (dataset, seed, fitter, "
                   "priors): nothing to compare.</p>")
    else:
        order = comparison["beyond_noise"].map({"yes": 0, "no": 2}).fillna(1)
        content = html_table(comparison.assign(_o=order).sort_values("_o", kind="stable")
                             .drop(columns="_o"), "comparison")
    help_text = (f"This run minus <code>{escape(other)}</code>, per fitter and metric: the "
                 "mean over the seeds both runs fitted of the paired difference (same seed, "
                 f"same data) with its SE; <em>beyond noise</em> when |change| > {NOISE_SE:g} "
                 "SE. Also in <code>summary/comparison.csv</code>.")
    return section("comparison", "Comparison with an earlier run", help_text, content)


def warnings_section(warnings: pd.DataFrame | None) -> str:
    """What each fit's libraries warned about (collapsed list, full table below)."""
    if warnings is None or warnings.empty:
        return section("warnings", "Library warnings", "No library raised a warning.", "")
    counts = warnings.groupby(["fitter", "priors", "category"], as_index=False)["count"].sum()
    help_text = ("Warnings raised by the libraries during build, prior check and sampling, "
                 "never silenced; the full messages per fit are in "
                 "<code>summary/warnings.csv</code>.")
    return section("warnings", "Library warnings", help_text, html_table(counts, "warnings"))


def tables_in_order(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables with the verdict ones first."""
    first = [n for n in ("verdict", "channel_recovery", "recovery_vs_oracle") if n in tables]
    return {name: tables[name] for name in [*first, *(n for n in tables if n not in first)]}
