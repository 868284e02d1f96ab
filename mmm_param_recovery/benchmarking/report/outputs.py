"""Write a run's summary tables, plots and report from its records (nothing is fitted).

Plots only read stored results: posteriors from their run folders, truths from the
dataset folders, and the summary tables.
"""

from __future__ import annotations

import logging
import os
import platform
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.report import plots as viz
from mmm_param_recovery.benchmarking.report.figures import save_figure
from mmm_param_recovery.benchmarking.report.html import build_report, headline_table
from mmm_param_recovery.benchmarking.report.replicate_table import replicate_table
from mmm_param_recovery.benchmarking.report.tables import summary_tables
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


def file_label(fitter: str) -> str:
    """A fitter name usable in file names (``pymc:nutpie`` -> ``pymc_nutpie``)."""
    return fitter.replace(":", "_")


def _ok(records: Sequence[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.status == Status.OK]


def _per_fit_plots(records: Sequence[RunRecord], truths: dict, output_dir: Path) -> list[Path]:
    """Posterior predictive and contribution recovery per fit; one model comparison per
    (dataset, seed)."""
    images, by_run = [], defaultdict(dict)
    for record in _ok(records):
        p = record.planned
        folder = output_dir / p.dataset / "plots"
        folder.mkdir(parents=True, exist_ok=True)
        idata = storage.load_run(record.run_dir, record.run_key).posterior()
        truth = truths[(p.dataset, p.seed)]
        stem = f"{file_label(p.fitter)}_seed{p.seed}"
        images.append(save_figure(
            viz.plot_posterior_predictive(idata, truth["y"], f"{p.dataset} seed {p.seed}: "
                                          f"{p.fitter}"),
            folder / f"posterior_predictive_{stem}.png"))
        images.append(save_figure(viz.plot_contribution_recovery(idata, truth, p.fitter),
                                  folder / f"contributions_{stem}.png"))
        by_run[(p.dataset, p.seed)][p.fitter] = idata
    for (dataset, seed), posteriors in by_run.items():
        images.append(save_figure(
            viz.plot_model_comparison(posteriors, truths[(dataset, seed)]["y"]),
            output_dir / dataset / "plots" / f"model_comparison_seed{seed}.png"))
    return images


def _dataset_plots(plan: BenchmarkPlan) -> list[Path]:
    """The generator's views of each dataset: spend, true contributions, y decomposition
    and true response curves with the observed spend range."""
    images = []
    for (name, seed), ref in plan.datasets.items():
        result = load_dataset(ref.path)
        folder = plan.output_dir / name / "plots"
        for kind, (plot, needs) in DATASET_PLOTS.items():
            if set(needs) <= set(result["ground_truth"]):
                images.append(save_figure(plot(result), folder / f"dataset_{kind}_seed{seed}.png"))
    return images


def _combined_plots(tables: dict[str, pd.DataFrame], output_dir: Path) -> list[Path]:
    folder = output_dir / "summary" / "combined_plots"
    folder.mkdir(parents=True, exist_ok=True)
    images = [
        save_figure(viz.plot_runtime_ess(tables["runtime_comparison"], tables["ess_comparison"]),
                    folder / "runtime_ess.png"),
        save_figure(viz.plot_memory(tables["runtime_comparison"]), folder / "memory.png"),
    ]
    recovery = tables["recovery_metrics"].dropna(subset=["stat"])
    for (dataset, seed), rows in recovery.groupby(["dataset", "seed"], sort=False):
        images.append(save_figure(viz.plot_roas_forest(viz.roas_interval_table(rows)),
                                  folder / f"roas_forest_{dataset}_seed{seed}.png"))
    replicates = tables.get("replicate_summary")
    if replicates is not None:
        rows = calibration_rows(replicates)
        if len(rows):
            images.append(save_figure(viz.plot_coverage_calibration(rows),
                                      folder / "coverage_calibration.png"))
    return images


def calibration_rows(replicates: pd.DataFrame) -> pd.DataFrame:
    """Coverage rows pooled over channels (one per fitter, quantity and nominal level),
    with ``metric`` the quantity (``roas``, ``contribution_total`` ...)."""
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


def write_outputs(plan: BenchmarkPlan, records: Sequence[RunRecord],
                  truths: dict) -> tuple[Path, pd.DataFrame]:
    """Write summary/*.csv, every plot and summary/report.html; return the report path
    and the headline table (one row per planned fit)."""
    output_dir = plan.output_dir
    summary = output_dir / "summary"
    summary.mkdir(parents=True, exist_ok=True)
    tables = summary_tables(records)
    if len(plan.seeds) > 1:
        tables["replicate_summary"] = replicate_table(records)
    for name, frame in tables.items():
        _write_csv(frame, summary / f"{name}.csv")
    images = (_dataset_plots(plan) + _per_fit_plots(records, truths, output_dir)
              + _combined_plots(tables, output_dir))
    failures = tables["run_status"].loc[lambda t: t["status"] != "ok",
                                        ["dataset", "seed", "fitter", "status", "reason"]]
    report = build_report(output_dir, run_settings(plan, records), tables, images, failures)
    return report, headline_table(tables)[0]
