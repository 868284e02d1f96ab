"""Write a run's summary tables, plots and report from its records (nothing is fitted).

Plots only read stored results: posteriors from their run folders, truths from the
dataset folders, and the summary tables. Whatever the fits did (all failed, all skipped,
``--plots-only`` finding nothing), every summary table and the report are written: a plot
without data is skipped (and an older file of it removed), a plot or table that fails is
logged and left out, and each omission is listed in the report's "Not in this report".
"""

from __future__ import annotations

import logging
import os
import platform
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.report import plots as viz
from mmm_param_recovery.benchmarking.report.channels import channel_recovery_table
from mmm_param_recovery.benchmarking.report.compare import compare_runs, read_verdict_fits
from mmm_param_recovery.benchmarking.report.figures import save_figure
from mmm_param_recovery.benchmarking.report.html import build_report, headline_table
from mmm_param_recovery.benchmarking.report.replicate_table import replicate_table
from mmm_param_recovery.benchmarking.report.tables import oracle_summary, summary_tables
from mmm_param_recovery.benchmarking.report.verdict import (
    verdict_fits,
    verdict_sentences,
    verdict_table,
)
from mmm_param_recovery.benchmarking.run.plan import BenchmarkPlan
from mmm_param_recovery.benchmarking.run.records import RunRecord, Status
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.benchmarking.store.atomic import atomic_write
from mmm_param_recovery.data_generator import load_dataset
from mmm_param_recovery.data_generator import visualization as data_viz

DATASET_PLOTS = {  # kind -> (plot, truth parts it needs: a user's dataset may lack them)
    "spend": (data_viz.plot_spend, ()),
    "truth_contributions": (data_viz.plot_contributions, ("baseline",)),
    "truth_decomposition": (data_viz.plot_decomposition, ("baseline", "noise")),
    "truth_response_curves": (data_viz.plot_saturation_curves, ("transform_parameters",)),
}

logger = logging.getLogger(__name__)


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


class _Omissions(list):
    """What the report could not show, one sentence each (``build_report(notes=...)``)."""

    def attempt(self, path: Path, plot: Callable[..., Any], *args: Any) -> list[Path]:
        """``[save_figure(plot(*args), path)]``, or ``[]`` with a note when that raises (an
        output-stage failure is logged and left out of the report; it never stops the
        other outputs; an older file of the plot is removed)."""
        try:
            return [save_figure(plot(*args), path)]
        except Exception as error:  # output boundary: one broken plot must not cost the rest
            logger.warning("%s not written: %s: %s", path.name, type(error).__name__, error,
                           exc_info=logger.isEnabledFor(logging.DEBUG))
            path.unlink(missing_ok=True)
            self.append(f"{path.name}: not written ({type(error).__name__}: {error})")
            return []

    def skip(self, what: str, path: Path, why: str) -> list[Path]:
        """Note that the plot ``path`` has no data; remove an older file of it."""
        path.unlink(missing_ok=True)
        self.append(f"{what}: not drawn, {why}")
        return []


def file_label(fitter: str) -> str:
    """A fitter name usable in file names (``pymc:nutpie`` -> ``pymc_nutpie``)."""
    return fitter.replace(":", "_")


def _ok(records: Sequence[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.status == Status.OK]


def _per_fit_plots(records: Sequence[RunRecord], truths: dict, output_dir: Path,
                   omissions: _Omissions) -> list[Path]:
    """Posterior predictive and contribution recovery per fit; one model comparison and
    one response-curve recovery per (dataset, seed)."""
    images, by_run = [], defaultdict(dict)
    for record in _ok(records):
        p = record.planned
        folder = output_dir / p.dataset / "plots"
        stem = f"{file_label(p.fitter)}_seed{p.seed}"
        try:
            idata = storage.load_run(record.run_dir, record.run_key,
                                     check_metrics=False).posterior()
        except Exception as error:  # output boundary: see _Omissions.attempt
            omissions.append(f"plots of {p.label}: its stored posterior cannot be read "
                             f"({type(error).__name__}: {error})")
            continue
        truth = truths[(p.dataset, p.seed)]
        title = f"{p.dataset} seed {p.seed}: {p.fitter}"
        images += omissions.attempt(folder / f"posterior_predictive_{stem}.png",
                                    viz.plot_posterior_predictive, idata, truth["y"], title)
        images += omissions.attempt(folder / f"contributions_{stem}.png",
                                    viz.plot_contribution_recovery, idata, truth, p.fitter)
        by_run[(p.dataset, p.seed)][p.fitter] = idata
    for (dataset, seed), posteriors in by_run.items():
        path = output_dir / dataset / "plots" / f"model_comparison_seed{seed}.png"
        images += omissions.attempt(path, viz.plot_model_comparison, posteriors,
                                    truths[(dataset, seed)]["y"])
        path = output_dir / dataset / "plots" / f"response_curves_seed{seed}.png"
        if "response_curve" in truths[(dataset, seed)]:
            images += omissions.attempt(path, viz.plot_response_recovery, posteriors,
                                        truths[(dataset, seed)])
        else:
            omissions.skip(path.name, path, f"the truth of {dataset} has no transforms")
    return images


def _dataset_plots(plan: BenchmarkPlan, omissions: _Omissions) -> list[Path]:
    """The generator's views of each dataset: spend, true contributions, y decomposition
    and true response curves with the observed spend range."""
    images = []
    for (name, seed), ref in plan.datasets.items():
        try:
            result = load_dataset(ref.path)
        except Exception as error:  # output boundary: e.g. --plots-only without the dataset
            omissions.append(f"dataset plots of {name} seed {seed}: the dataset cannot be "
                             f"loaded ({type(error).__name__}: {error})")
            continue
        folder = plan.output_dir / name / "plots"
        for kind, (plot, needs) in DATASET_PLOTS.items():
            path = folder / f"dataset_{kind}_seed{seed}.png"
            missing = [part for part in needs if part not in result["ground_truth"]]
            if missing:
                omissions.skip(path.name, path, f"the truth of {name} has no {missing}")
                continue
            images += omissions.attempt(path, plot, result)
    return images


def _has_values(frame: pd.DataFrame, columns: Sequence[str]) -> bool:
    """True when ``frame`` has every column and a finite value in at least one."""
    present = [c for c in columns if c in frame.columns]
    if len(present) < len(columns) or frame.empty:
        return False
    return bool(frame[present].apply(pd.to_numeric, errors="coerce").notna().to_numpy().any())


def _combined_plots(tables: dict[str, pd.DataFrame], output_dir: Path,
                    omissions: _Omissions) -> list[Path]:
    folder = output_dir / "summary" / "combined_plots"
    folder.mkdir(parents=True, exist_ok=True)
    runtime = tables.get("runtime_comparison", pd.DataFrame())
    ess = tables.get("ess_comparison", pd.DataFrame())
    images = []
    no_fit = "no fit succeeded (see Failures and skips)"
    if _has_values(runtime, ["total_seconds"]) and "ess_per_second" in ess.columns:
        images += omissions.attempt(folder / "runtime_ess.png", viz.plot_runtime_ess,
                                    runtime, ess)
    else:
        omissions.skip("runtime_ess.png", folder / "runtime_ess.png", f"no timings: {no_fit}")
    if _has_values(runtime, ["peak_rss_gb"]):
        images += omissions.attempt(folder / "memory.png", viz.plot_memory, runtime)
    else:
        omissions.skip("memory.png", folder / "memory.png", f"no peak memory: {no_fit}")
    recovery = tables.get("recovery_metrics", pd.DataFrame(columns=["stat"]))
    recovery = recovery.dropna(subset=["stat"]) if "stat" in recovery.columns else recovery
    if recovery.empty:
        omissions.append(f"roas_forest_*.png: not drawn, no recovery metrics: {no_fit}")
    else:
        for (dataset, seed), rows in recovery.groupby(["dataset", "seed"], sort=False):
            path = folder / f"roas_forest_{dataset}_seed{seed}.png"
            images += omissions.attempt(
                path, lambda rows: viz.plot_roas_forest(viz.roas_interval_table(rows)), rows)
    images += _prior_check_plots(tables.get("prior_checks"), folder, omissions)
    replicates = tables.get("replicate_summary")
    if replicates is not None:
        path = folder / "coverage_calibration.png"
        rows = calibration_rows(replicates) if len(replicates) else replicates
        if len(rows):
            images += omissions.attempt(path, viz.plot_coverage_calibration, rows)
        else:
            omissions.skip(path.name, path, "no coverage rows across seeds (a fitter needs "
                           "successful fits of several seeds)")
        path = folder / "rank_histograms.png"
        images += omissions.attempt(path, viz.plot_rank_histograms, recovery)
    return images


def _prior_check_plots(prior_checks: pd.DataFrame | None, folder: Path,
                       omissions: _Omissions) -> list[Path]:
    """One prior-vs-posterior ROAS plot per (dataset, seed) with a prior check."""
    if prior_checks is None or "prior_q05" not in prior_checks:
        return []
    checked = prior_checks.dropna(subset=["prior_q05"])
    if checked.empty:
        omissions.append("prior_checks_*.png: not drawn, no fit ran a prior check")
        return []
    images = []
    for (dataset, seed), rows in checked.groupby(["dataset", "seed"], sort=False):
        images += omissions.attempt(folder / f"prior_checks_{dataset}_seed{seed}.png",
                                    viz.plot_prior_checks, rows)
    return images


def calibration_rows(replicates: pd.DataFrame) -> pd.DataFrame:
    """Coverage rows pooled over channels (one per fitter, priors, quantity and nominal
    level), with ``metric`` the quantity (``roas``, ``contribution_total`` ...); the plot
    draws one panel per prior profile."""
    rows = replicates[(replicates["kind"] == "coverage") & (replicates["channel"] == "pooled")
                      & (replicates["geo"] == "all")].dropna(subset=["empirical"])
    return rows.assign(metric=rows["quantity"])


def run_settings(plan: BenchmarkPlan, records: Sequence[RunRecord]) -> dict:
    """Settings, versions and machine shown at the top of the report."""
    versions = {}
    for fitter in plan.fitters:
        versions.update(get_fitter(fitter).load_adapter().versions())
    return {
        "datasets": ", ".join(plan.dataset_names),
        "fitters": ", ".join(plan.fitters),
        "seeds": ", ".join(map(str, plan.seeds)),
        **plan.settings,
        "fits reused from cache": sum(r.reused for r in records),
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()})",
        "library versions": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
    }


def _fallback_status(records: Sequence[RunRecord]) -> pd.DataFrame:
    """run_status from the records alone (when the summary tables cannot be built)."""
    return pd.DataFrame([{**r.identity(), "reused": r.reused} for r in records])


def _tables(plan: BenchmarkPlan, records: Sequence[RunRecord],
            omissions: _Omissions) -> dict[str, pd.DataFrame]:
    try:
        tables = summary_tables(records, oracle_summary(plan.datasets))
    except Exception as error:  # output boundary: the run status is still written
        logger.exception("summary tables failed")
        omissions.append(f"summary tables other than run_status: not built "
                         f"({type(error).__name__}: {error})")
        return {"run_status": _fallback_status(records)}
    if len(plan.seeds) > 1:
        _attempt_table(tables, "replicate_summary", omissions, replicate_table, records)
    _attempt_table(tables, "verdict_fits", omissions, verdict_fits, tables)
    if "verdict_fits" in tables:
        _attempt_table(tables, "verdict", omissions, verdict_table, tables["verdict_fits"])
    _attempt_table(tables, "channel_recovery", omissions, channel_recovery_table, tables)
    if plan.compare_to is not None:
        _attempt_table(tables, "comparison", omissions, lambda: compare_runs(
            tables["verdict_fits"], read_verdict_fits(plan.compare_to)))
    return tables


def _attempt_table(tables: dict[str, pd.DataFrame], name: str, omissions: _Omissions,
                   build: Callable[..., pd.DataFrame], *args: Any) -> None:
    """``tables[name] = build(*args)``, or a note when that raises (output boundary)."""
    try:
        tables[name] = build(*args)
    except Exception as error:  # output boundary: the other tables are still written
        logger.exception("%s failed", name)
        omissions.append(f"{name}.csv: not built ({type(error).__name__}: {error})")


def write_outputs(plan: BenchmarkPlan, records: Sequence[RunRecord],
                  truths: dict) -> tuple[Path, pd.DataFrame]:
    """Write summary/*.csv, every plot that has data and summary/report.html; return the
    report path and the headline table (one row per planned fit). Never fails because
    of what the fits did: omissions are listed in the report."""
    output_dir = plan.output_dir
    summary = output_dir / "summary"
    summary.mkdir(parents=True, exist_ok=True)
    omissions = _Omissions()
    tables = _tables(plan, records, omissions)
    for name, frame in tables.items():
        _write_csv(frame, summary / f"{name}.csv")
    images = (_dataset_plots(plan, omissions)
              + _per_fit_plots(records, truths, output_dir, omissions)
              + _combined_plots(tables, output_dir, omissions))
    status = tables["run_status"]
    failures = status.loc[status["status"] != "ok",
                          ["dataset", "seed", "fitter", "status", "reason"]]
    try:
        settings = run_settings(plan, records)
    except Exception as error:  # output boundary: e.g. a fitter's versions() failing
        settings = {"datasets": ", ".join(plan.dataset_names), "fitters": ", ".join(plan.fitters)}
        omissions.append(f"run settings: incomplete ({type(error).__name__}: {error})")
    sentences = _verdict_sentences(tables, omissions)
    comparison = tables.get("comparison") if plan.compare_to is not None else None
    report = build_report(output_dir, settings, tables, images, failures, notes=omissions,
                          verdict_text=sentences, comparison=comparison,
                          compared_to=str(plan.compare_to or ""))
    return report, headline_table(tables)[0]


def _verdict_sentences(tables: dict[str, pd.DataFrame], omissions: _Omissions) -> list[str]:
    if "verdict" not in tables:
        return ["The verdict could not be built (see Not in this report)."]
    try:
        return verdict_sentences(tables["verdict_fits"], tables["verdict"])
    except Exception as error:  # output boundary
        logger.exception("verdict sentences failed")
        omissions.append(f"verdict sentences: not written ({type(error).__name__}: {error})")
        return []
