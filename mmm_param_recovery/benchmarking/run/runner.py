"""Execute a benchmark plan: isolated fits -> metrics -> records (then report.outputs).

The runner does no terminal work: it logs, and reports progress through an
``EventCallback`` that the CLI renders. A failing fit never stops the others: it is a
``RunRecord`` with its reason, present in every table.

Clean ends: a run starts by removing what killed runs left behind (temporary files and
staging folders whose writer is gone, ``staging.remove_stale_staging``). When the run is
interrupted (KeyboardInterrupt, or any exception the CLI's SIGINT/SIGTERM handler raises
in the main thread), ``execute`` tells every running fit to kill its process tree
(``processes.request_stop``), drops the queued ones, waits the few seconds that takes and
re-raises: completed fits stay committed, nothing half-written is left in place.
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
from mmm_param_recovery.benchmarking.run import isolation, processes
from mmm_param_recovery.benchmarking.run.executors import make_executor
from mmm_param_recovery.benchmarking.run.plan import BenchmarkPlan, PlannedFit
from mmm_param_recovery.benchmarking.run.records import (
    EventCallback,
    FitEvent,
    RunRecord,
    Status,
    ignore_event,
)
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.benchmarking.store import staging
from mmm_param_recovery.benchmarking.store.atomic import LOCKS, file_lock
from mmm_param_recovery.data_generator import load_dataset
from mmm_param_recovery.errors import MMMBenchmarkError

logger = logging.getLogger(__name__)

Truths = dict[tuple[str, int], xr.Dataset]
SUMMARY_LOCK = "summary.lock"


def _with_metrics(planned: PlannedFit, result: isolation.FitResult, truth) -> RunRecord:
    """A record of an ok fit with its metrics (computed from the stored posterior and
    written beside it, under the run key's lock)."""
    timings = {"build_seconds": result.build_seconds, "sampling_seconds": result.sampling_seconds,
               "postprocess_seconds": result.postprocess_seconds,
               "total_seconds": result.total_seconds,
               "waiting_seconds": result.waiting_seconds, "peak_rss_bytes": result.peak_rss_bytes,
               "jax_cache": result.jax_cache}
    try:
        idata = storage.load_run(result.run_dir, result.run_key, check_metrics=False).posterior()
        metrics = compute_run_metrics(idata, truth, result.run_key, result.sampling_seconds,
                                      result.total_seconds)
        with staging.run_dir_lock(result.run_dir, result.run_key,
                                  should_stop=processes.stop_requested):
            storage.write_run_metrics(result.run_dir, metrics)
    except Exception as error:  # run boundary: a metric failure marks this fit failed
        logger.exception("metrics of %s failed", planned.fitter)
        return RunRecord(planned, Status.FAILED, f"metrics: {type(error).__name__}: {error}",
                         result.run_key, result.run_dir, timings)
    return RunRecord(planned, Status.OK, result.reason, result.run_key, result.run_dir, timings,
                     metrics, reused=result.cached)


def _record(planned: PlannedFit, result: isolation.FitResult, truth) -> RunRecord:
    if result.status == Status.OK:
        return _with_metrics(planned, result, truth)
    return RunRecord(planned, Status(result.status), result.reason, result.run_key,
                     result.run_dir)


def _outcome(record: RunRecord) -> str:
    if record.status != Status.OK:
        return f"{record.status}: {record.reason[:80]}"
    return "reused" if record.reused else str(record.status)


def _fit_one(planned: PlannedFit, plan: BenchmarkPlan, executor, truths: Truths,
             problems: dict[tuple[str, int], str], on_event: EventCallback) -> RunRecord:
    label = planned.label
    if planned.skip_reason is not None:
        on_event(FitEvent(label, "finished", str(Status.SKIPPED)))
        return RunRecord(planned, Status.SKIPPED, planned.skip_reason)
    problem = problems.get((planned.dataset, planned.seed))
    if problem is not None:
        record = RunRecord(planned, Status.FAILED, f"dataset: {problem}")
        on_event(FitEvent(label, "finished", _outcome(record)))
        return record
    if processes.stop_requested():
        return RunRecord(planned, Status.FAILED, isolation.INTERRUPTED)
    on_event(FitEvent(label, "started", "starting"))
    result = executor.run_fit(planned.spec, plan.output_dir, plan.force_rerun,
                              lambda phase: on_event(FitEvent(label, "phase", phase)))
    record = _record(planned, result, truths[(planned.dataset, planned.seed)])
    on_event(FitEvent(label, "finished", _outcome(record), fitted=not record.reused))
    return record


def _stored_record(planned: PlannedFit, output_dir: Path, truths: Truths,
                   problems: dict[tuple[str, int], str]) -> RunRecord:
    """``--plots-only``: the stored result of ``planned`` (status ``missing`` if none)."""
    if planned.skip_reason is not None:
        return RunRecord(planned, Status.SKIPPED, planned.skip_reason)
    problem = problems.get((planned.dataset, planned.seed))
    if problem is not None:
        return RunRecord(planned, Status.MISSING, f"no usable stored dataset ({problem}); "
                         "run without --plots-only to write it and fit")
    versions = get_fitter(planned.fitter).load_adapter().versions()
    stored, problem = storage.lookup_completed_run(output_dir, planned.spec, versions)
    if stored is None:
        why = f"the stored result is unusable ({problem})" if problem else \
            "no stored result for this spec"
        return RunRecord(planned, Status.MISSING, f"{why}; run without --plots-only to fit it")
    result = isolation.FitResult.from_stored(planned.fitter, stored)
    return _with_metrics(planned, result, truths[(planned.dataset, planned.seed)])


def execute(plan: BenchmarkPlan, truths: Truths, on_event: EventCallback = ignore_event,
            problems: dict[tuple[str, int], str] | None = None) -> list[RunRecord]:
    """Run (or, with ``plan.plots_only``, look up) every planned fit on the plan's executor
    (``run.executors``: ``local``, ``plan.jobs`` at a time, or ``ray``); records in plan
    order. ``problems``: (dataset, seed) -> why its stored dataset
    could not be loaded (its fits fail, or are missing with ``plots_only``).

    Interrupted (an exception in this thread, e.g. KeyboardInterrupt), it stops every
    running fit, drops the queued ones and re-raises once the workers have returned."""
    problems = problems or {}
    if plan.plots_only:
        return [_stored_record(p, plan.output_dir, truths, problems) for p in plan.fits]
    capacity = plan.jobs * max((fit.spec.cores for fit in plan.fits), default=1)
    executor = make_executor(plan.executor, plan.jobs, len(plan.fits), plan.ray_address,
                             plan.overlap, capacity, plan.ray_storage)
    pool = ThreadPoolExecutor(max_workers=executor.parallel)
    try:
        futures = [pool.submit(_fit_one, p, plan, executor, truths, problems, on_event)
                   for p in plan.fits]
        records = [future.result() for future in futures]
    except BaseException:
        processes.request_stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        executor.close()
    return records


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced: records in plan order, the report and its headline table."""

    records: list[RunRecord]
    report: Path
    headline: pd.DataFrame


def load_truths(plan: BenchmarkPlan) -> tuple[Truths, dict[tuple[str, int], str]]:
    """The canonical truth of every (dataset, seed) of the plan, and why any could not be
    loaded (missing folder with ``--plots-only``, a file that failed its checksum)."""
    truths, problems = {}, {}
    for key, ref in plan.datasets.items():
        try:
            truths[key] = canonical_truth(load_dataset(ref.path))
        except MMMBenchmarkError as error:
            problems[key] = str(error)
            logger.warning("dataset %s seed %d: %s", *key, error)
    return truths, problems


def run(plan: BenchmarkPlan, on_event: EventCallback = ignore_event) -> RunOutcome:
    """Run the whole plan: fits, metrics, tables, plots and report.

    Starts by removing what killed runs left behind in the plan's folders; writes the
    summary holding ``<output>/.locks/summary.lock`` (two runs on one folder write it one
    after the other)."""
    processes.clear_stop()
    staging.remove_stale_staging(plan.output_dir, plan.dataset_names)
    truths, problems = load_truths(plan)
    records = execute(plan, truths, on_event, problems)
    with file_lock(Path(plan.output_dir) / LOCKS / SUMMARY_LOCK):
        report, headline = write_outputs(plan, records, truths)
    return RunOutcome(records, report, headline)
