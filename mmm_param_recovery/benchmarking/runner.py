"""Execute a benchmark request: datasets -> isolated fits -> metrics -> tables -> report.

Only the CLI prints; this module logs. A failing fit never stops the others: it is a
``RunRecord`` with its reason, present in every table.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking import isolation, storage
from mmm_param_recovery.benchmarking.outputs import write_outputs
from mmm_param_recovery.benchmarking.plan import (
    BenchmarkRequest,
    PlannedFit,
    build_plan,
    materialise_dataset,
    stored_dataset_ref,
)
from mmm_param_recovery.benchmarking.progress import ProgressDisplay
from mmm_param_recovery.benchmarking.registry import get_fitter
from mmm_param_recovery.benchmarking.run_metrics import compute_run_metrics, write_run_metrics
from mmm_param_recovery.benchmarking.summaries import RunRecord
from mmm_param_recovery.benchmarking.truth import canonical_truth
from mmm_param_recovery.data_generator import load_dataset

logger = logging.getLogger(__name__)


def fit_label(planned: PlannedFit) -> str:
    return f"{planned.dataset} seed {planned.seed} {planned.fitter}"


def _dataset_refs(request: BenchmarkRequest) -> dict:
    refs = {}
    for name in request.dataset_names:
        for seed in request.seeds:
            if request.plots_only:
                refs[(name, seed)] = stored_dataset_ref(request, name, seed)
            else:
                refs[(name, seed)] = materialise_dataset(request, name, seed)
    return refs


def _with_metrics(planned: PlannedFit, result: isolation.FitResult, truth) -> RunRecord:
    """A record of an ok fit with its metrics (computed from the stored posterior and
    written beside it)."""
    timings = {"build_seconds": result.build_seconds, "sampling_seconds": result.sampling_seconds,
               "postprocess_seconds": result.postprocess_seconds,
               "total_seconds": result.total_seconds, "peak_rss_bytes": result.peak_rss_bytes}

    try:
        idata = storage.load_run(result.run_dir, result.run_key).posterior()
        metrics = compute_run_metrics(idata, truth, result.run_key, result.sampling_seconds,
                                      result.total_seconds)
        write_run_metrics(result.run_dir, metrics)
    except Exception as error:  # run boundary: a metric failure marks this fit failed
        logger.exception("metrics of %s failed", planned.fitter)
        return RunRecord(planned, "failed", f"metrics: {type(error).__name__}: {error}",
                         result.run_key, result.run_dir, timings)
    return RunRecord(planned, "ok", "", result.run_key, result.run_dir, timings, metrics,
                     reused=result.cached)


def _record(planned: PlannedFit, result: isolation.FitResult, truth) -> RunRecord:
    if result.status == "ok":
        return _with_metrics(planned, result, truth)
    return RunRecord(planned, result.status, result.reason, result.run_key, result.run_dir)


def _fit_one(planned: PlannedFit, request: BenchmarkRequest, truth, progress) -> RunRecord:
    label = fit_label(planned)
    if planned.skip_reason is not None:
        progress.finished(label, "skipped", fitted=False)
        return RunRecord(planned, "skipped", planned.skip_reason)
    progress.started(label)
    result = isolation.run_fit(planned.spec, request.output_dir, force=request.force_rerun,
                               on_phase=lambda phase: progress.phase(label, phase))
    record = _record(planned, result, truth)
    outcome = "reused" if record.reused else record.status
    progress.finished(label, outcome if record.status == "ok" else
                      f"{record.status}: {record.reason[:80]}", fitted=not record.reused)
    return record


def _stored_record(planned: PlannedFit, request: BenchmarkRequest, truth) -> RunRecord:
    """``--plots-only``: the stored result of ``planned`` (status ``missing`` if none)."""
    if planned.skip_reason is not None:
        return RunRecord(planned, "skipped", planned.skip_reason)
    versions = get_fitter(planned.fitter).load_adapter().versions()
    stored = storage.find_completed_run(request.output_dir, planned.spec, versions)
    if stored is None:
        return RunRecord(planned, "missing", "no stored result for this spec; run without "
                         "--plots-only to fit it")
    result = isolation.FitResult.from_stored(planned.fitter, stored)
    return _with_metrics(planned, result, truth)


def execute(plan: list[PlannedFit], request: BenchmarkRequest, truths: dict) -> list[RunRecord]:
    """Run (or, with --plots-only, look up) every planned fit; records in plan order."""
    if request.plots_only:
        return [_stored_record(p, request, truths[(p.dataset, p.seed)]) for p in plan]
    labels = [fit_label(p) for p in plan]
    with ProgressDisplay(labels, jobs=request.jobs) as progress:
        with ThreadPoolExecutor(max_workers=request.jobs) as pool:
            futures = [pool.submit(_fit_one, p, request, truths[(p.dataset, p.seed)], progress)
                       for p in plan]
            return [future.result() for future in futures]


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: records in plan order, the report and its headline table."""

    records: list[RunRecord]
    report: Path
    headline: pd.DataFrame


def run(request: BenchmarkRequest) -> RunOutcome:
    """Run the whole benchmark: datasets, fits, metrics, tables, plots and report."""
    if not request.plots_only:
        for folder in storage.remove_orphaned_staging(request.output_dir, request.dataset_names):
            logger.info("removed %s, left behind by an interrupted run", folder)
    refs = _dataset_refs(request)
    truths = {key: canonical_truth(load_dataset(ref.path)) for key, ref in refs.items()}
    plan = build_plan(request, refs)
    records = execute(plan, request, truths)
    report, headline = write_outputs(request, records, truths)
    return RunOutcome(records, report, headline)

