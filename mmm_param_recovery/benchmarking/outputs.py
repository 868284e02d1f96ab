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

from mmm_param_recovery.benchmarking import storage
from mmm_param_recovery.benchmarking import visualization as viz
from mmm_param_recovery.benchmarking.plan import BenchmarkRequest, dataset_folder
from mmm_param_recovery.benchmarking.registry import get_fitter
from mmm_param_recovery.benchmarking.replicates_table import replicate_table
from mmm_param_recovery.benchmarking.report import build_report, headline_table
from mmm_param_recovery.benchmarking.summaries import RunRecord, summary_tables
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
    staging = path.with_suffix(f".tmp-{os.getpid()}")
    frame.to_csv(staging, index=False)
    os.replace(staging, path)
    return path


def file_label(fitter: str) -> str:
    """A fitter name usable in file names (``pymc:nutpie`` -> ``pymc_nutpie``)."""
    return fitter.replace(":", "_")


def _ok(records: Sequence[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.status == "ok"]


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
        path = folder / f"posterior_predictive_{stem}.png"
        viz.plot_posterior_predictive(idata, truth["y"], path,
                                      f"{p.dataset} seed {p.seed}: {p.fitter}")
        images.append(path)
        path = folder / f"contributions_{stem}.png"
        viz.plot_contribution_recovery(idata, truth, path, p.fitter)
        images.append(path)
        by_run[(p.dataset, p.seed)][p.fitter] = idata
    for (dataset, seed), posteriors in by_run.items():
        path = output_dir / dataset / "plots" / f"model_comparison_seed{seed}.png"
        viz.plot_model_comparison(posteriors, truths[(dataset, seed)]["y"], path)
        images.append(path)
    return images


def _dataset_plots(request: BenchmarkRequest, output_dir: Path) -> list[Path]:
    """The generator's views of each dataset: spend, true contributions, y decomposition
    and true response curves with the observed spend range."""
    images = []
    for name in request.dataset_names:
        for seed in request.seeds:
            result = load_dataset(dataset_folder(output_dir, name, seed))
            folder = output_dir / name / "plots"
            folder.mkdir(parents=True, exist_ok=True)
            for kind, (plot, needs) in DATASET_PLOTS.items():
                if not set(needs) <= set(result["ground_truth"]):
                    continue
                path = folder / f"dataset_{kind}_seed{seed}.png"
                plot(result, path)
                images.append(path)
    return images


def _combined_plots(tables: dict[str, pd.DataFrame], output_dir: Path) -> list[Path]:
    folder = output_dir / "summary" / "combined_plots"
    folder.mkdir(parents=True, exist_ok=True)
    images = [folder / "runtime_ess.png", folder / "memory.png"]
    viz.plot_runtime_ess(tables["runtime_comparison"], tables["ess_comparison"], images[0])
    viz.plot_memory(tables["runtime_comparison"], images[1])
    recovery = tables["recovery_metrics"].dropna(subset=["metric"])
    for (dataset, seed), rows in recovery.groupby(["dataset", "seed"], sort=False):
        path = folder / f"roas_forest_{dataset}_seed{seed}.png"
        viz.plot_roas_forest(viz.roas_interval_table(rows), path)
        images.append(path)
    replicates = tables.get("replicate_summary")
    if replicates is not None:
        rows = calibration_rows(replicates)
        if len(rows):
            path = folder / "coverage_calibration.png"
            viz.plot_coverage_calibration(rows, path)
            images.append(path)
    return images


def calibration_rows(replicates: pd.DataFrame) -> pd.DataFrame:
    """Coverage rows pooled over channels (one per fitter, quantity and nominal level),
    with ``metric`` the quantity (``roas``, ``contribution_total`` ...)."""
    rows = replicates[(replicates["kind"] == "coverage") & (replicates["channel"] == "pooled")
                      & (replicates["geo"] == "all")].dropna(subset=["empirical"])
    return rows.assign(metric=rows["metric"].str.replace(r"_in_hdi\d+$", "", regex=True))


def run_settings(request: BenchmarkRequest, records: Sequence[RunRecord]) -> dict:
    """Settings, versions and machine shown at the top of the report."""
    versions = {}
    for fitter in request.fitters:
        versions.update(get_fitter(fitter).load_adapter().versions())
    return {
        "datasets": ", ".join(request.dataset_names),
        "fitters": ", ".join(request.fitters),
        "seeds": ", ".join(map(str, request.seeds)),
        "chains x tune x draws": f"{request.chains} x {request.tune} x {request.draws}",
        "target accept": request.target_accept,
        "parallel fits (jobs)": request.jobs,
        "fits reused from cache": sum(r.reused for r in records),
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()})",
        "library versions": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
    }


def write_outputs(request: BenchmarkRequest, records: Sequence[RunRecord],
                  truths: dict) -> tuple[Path, pd.DataFrame]:
    """Write summary/*.csv, every plot and summary/report.html; return the report path
    and the headline table (one row per planned fit)."""
    output_dir = Path(request.output_dir)
    summary = output_dir / "summary"
    summary.mkdir(parents=True, exist_ok=True)
    tables = summary_tables(records)
    if len(request.seeds) > 1:
        tables["replicate_summary"] = replicate_table(records)
    for name, frame in tables.items():
        _write_csv(frame, summary / f"{name}.csv")
    images = (_dataset_plots(request, output_dir) + _per_fit_plots(records, truths, output_dir)
              + _combined_plots(tables, output_dir))
    failures = tables["run_status"].loc[lambda t: t["status"] != "ok",
                                        ["dataset", "seed", "fitter", "status", "reason"]]
    report = build_report(output_dir, run_settings(request, records), tables, images, failures)
    return report, headline_table(tables)[0]
