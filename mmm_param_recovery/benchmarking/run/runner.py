"""Execute a benchmark plan: isolated fits -> metrics -> records (then report.outputs).

The runner does no terminal work: it logs, and reports progress through an
``EventCallback`` that the CLI renders. A failing fit never stops the others: it is a
``RunRecord`` with its reason, present in every table.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.metrics.per_run import compute_run_metrics
from mmm_param_recovery.benchmarking.metrics.truth import canonical_truth
from mmm_param_recovery.benchmarking.report.outputs import write_outputs
from mmm_param_recovery.benchmarking.run import isolation
from mmm_param_recovery.benchmarking.run.plan import BenchmarkPlan, PlannedFit
from mmm_param_recovery.benchmarking.run.records import (
    EventCallback,
    FitEvent,
    RunRecord,
    Status,
    ignore_event,
)
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.data_generator import load_dataset

logger = logging.getLogger(__name__)

Truths = dict[tuple[str, int], xr.Dataset]


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
        storage.write_run_metrics(result.run_dir, metrics)
    except Exception as error:  # run boundary: a metric failure marks this fit failed
        logger.exception("metrics of %s failed", planned.fitter)
        return RunRecord(planned, Status.FAILED, f"metrics: {type(error).__name__}: {error}",
                         result.run_key, result.run_dir, timings)
    return RunRecord(planned, Status.OK, "", result.run_key, result.run_dir, timings, metrics,
                     reused=result.cached)


def _record(planned: PlannedFit, result: isolation.FitResult, truth) -> RunRecord:
    if result.status == Status.OK:
        return _with_metrics(planned, result, truth)
    return RunRecord(planned, Status(result.status), result.reason, result.run_key,
                     result.run_dir)


def _outcome(record: RunRecord) -> str:
    if record.status != Status.OK:
        return f"{record.status}: {record.reason[:80]}"
    return "reused" if record.reused else str(record.status)


def _fit_one(planned: PlannedFit, plan: BenchmarkPlan, truth, on_event: EventCallback):
    label = planned.label
    if planned.skip_reason is not None:
        on_event(FitEvent(label, "finished", str(Status.SKIPPED)))
        return RunRecord(planned, Status.SKIPPED, planned.skip_reason)
    on_event(FitEvent(label, "started", "starting"))
    result = isolation.run_fit(planned.spec, plan.output_dir, force=plan.force_rerun,
                               on_phase=lambda phase: on_event(FitEvent(label, "phase", phase)))
    record = _record(planned, result, truth)
    on_event(FitEvent(label, "finished", _outcome(record), fitted=not record.reused))
    return record


def _stored_record(planned: PlannedFit, output_dir: Path, truth) -> RunRecord:
    """``--plots-only``: the stored result of ``planned`` (status ``missing`` if none)."""
    if planned.skip_reason is not None:
        return RunRecord(planned, Status.SKIPPED, planned.skip_reason)
    versions = get_fitter(planned.fitter).load_adapter().versions()
    stored = storage.find_completed_run(output_dir, planned.spec, versions)
    if stored is None:
        return RunRecord(planned, Status.MISSING, "no stored result for this spec; run "
                         "without --plots-only to fit it")
    result = isolation.FitResult.from_stored(planned.fitter, stored)
    return _with_metrics(planned, result, truth)


def execute(plan: BenchmarkPlan, truths: Truths,
            on_event: EventCallback = ignore_event) -> list[RunRecord]:
    """Run (or, with ``plan.plots_only``, look up) every planned fit, ``plan.jobs`` at a
    time; records in plan order."""
    if plan.plots_only:
        return [_stored_record(p, plan.output_dir, truths[(p.dataset, p.seed)])
                for p in plan.fits]
    with ThreadPoolExecutor(max_workers=plan.jobs) as pool:
        futures = [pool.submit(_fit_one, p, plan, truths[(p.dataset, p.seed)], on_event)
                   for p in plan.fits]
        return [future.result() for future in futures]


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: records in plan order, the report and its headline table."""

    records: list[RunRecord]
    report: Path
    headline: pd.DataFrame


def run(plan: BenchmarkPlan, on_event: EventCallback = ignore_event) -> RunOutcome:
    """Run the whole plan: fits, metrics, tables, plots and report."""
    if not plan.plots_only:
        for folder in storage.remove_orphaned_staging(plan.output_dir, plan.dataset_names):
            logger.info("removed %s, left behind by an interrupted run", folder)
    truths = {key: canonical_truth(load_dataset(ref.path)) for key, ref in plan.datasets.items()}
    records = execute(plan, truths, on_event)
    report, headline = write_outputs(plan, records, truths)
    return RunOutcome(records, report, headline)
