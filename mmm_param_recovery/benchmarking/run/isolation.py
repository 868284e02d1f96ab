"""Run one fit in a fresh child process and measure it from the outside.

``run_fit`` starts ``python -m mmm_param_recovery.benchmarking.run.fit_child`` with the
adapter's environment (thread counts, XLA flags) already in its environment, so import
state, JAX/XLA flags, thread pools and memory of one fit never touch another. While the
child runs, the parent samples the summed RSS of the child's whole process tree every
``POLL_SECONDS`` (sampler worker processes included; pages shared between processes
count once per process), relays the child's phases to ``on_phase``, and kills the whole
tree when the timeout passes. Whatever happens in the child (an exception, a crash, an
out-of-memory kill, a timeout) comes back as a ``FitResult``; only a completed fit is
moved into its run folder (see ``storage``). POSIX only (process groups).

Clean ends: on Linux the child is started with ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so
it dies with its parent even when the parent is SIGKILLed (it runs in its own session,
out of reach of the terminal's Ctrl-C); ``processes.request_stop()`` (the runner calls it on
SIGINT/SIGTERM) makes every supervised fit kill its process tree within ``POLL_SECONDS``
and every wait for a run lock give up. Two runs on one output folder serialise on the
run key's lock (``store.staging.run_lock``): the second waits, then reuses the completed run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from mmm_param_recovery.benchmarking.fitters.environment import jax_cache_state
from mmm_param_recovery.benchmarking.fitters.registry import FitterEntry, get_fitter
from mmm_param_recovery.benchmarking.run.cores import CoreLease
from mmm_param_recovery.benchmarking.run.fit_child import (
    CHILD_RESULT,
    CORES_GRANTED,
    PHASE_LOG,
    PHASES,
    WAIT_FOR_CORES_ENV,
)
from mmm_param_recovery.benchmarking.run.processes import (
    die_with_parent,
    kill_tree,
    killed_by,
    oom_kill_counts,
    stop_requested,
    tree_rss,
)
from mmm_param_recovery.benchmarking.run.records import Status
from mmm_param_recovery.benchmarking.run.specs import FitSpec, run_key
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.benchmarking.store.atomic import LockWaitCancelled, write_json_atomic
from mmm_param_recovery.benchmarking.store.staging import run_lock
from mmm_param_recovery.errors import MMMBenchmarkError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
STDERR_TAIL_CHARS = 4000
FIT_LOG = storage.FIT_LOG
INTERRUPTED = "interrupted: the run was stopped (SIGINT/SIGTERM) before this fit finished"
WAITING = "waiting: another run on this folder is fitting this spec"



@dataclass(frozen=True)
class FitResult:
    """The outcome of one fit. Seconds are wall-clock; phase seconds come from the child
    (NaN for a phase that did not finish), ``total_seconds`` from the parent (start of the
    child to its exit, less ``waiting_seconds``: the time it waited for its sampling cores
    while sharing cores with other fits, ``run.cores``; 0 when it did not share).
    ``peak_rss_bytes``: the largest summed RSS of the fit's process
    tree seen; ``jax_cache`` the JAX compilation cache's state at launch (``off``,
    ``cold``, ``warm``; "" when unknown). ``run_dir`` is the completed run folder
    (``status == "ok"`` only); ``cached`` is True when an earlier completed run of the
    same spec was reused."""

    fitter: str
    status: str
    reason: str = ""
    run_key: str = ""
    build_seconds: float = math.nan
    sampling_seconds: float = math.nan
    postprocess_seconds: float = math.nan
    total_seconds: float = math.nan
    waiting_seconds: float = 0.0
    peak_rss_bytes: int = 0
    jax_cache: str = ""
    exit_code: int | None = None
    run_dir: Path | None = None
    stderr_tail: str = ""
    cached: bool = False

    def __post_init__(self) -> None:
        allowed = (Status.OK, Status.FAILED, Status.TIMEOUT, Status.SKIPPED)
        if self.status not in allowed:
            raise MMMBenchmarkError(
                f"status: {self.status!r} is invalid; allowed: {[str(s) for s in allowed]}")

    @property
    def posterior_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / storage.POSTERIOR

    @classmethod
    def from_stored(cls, fitter: str, run: storage.StoredRun) -> FitResult:
        """The ``ok`` result of a completed run found on disk (``cached=True``)."""
        return _result_from_timings(fitter, run.run_key, run.timings, status="ok",
                                    exit_code=0, run_dir=run.path, cached=True)


@dataclass
class _Watch:
    """What the parent saw of a running child."""

    exit_code: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    oom_kills_before: tuple[int | None, ...] = ()
    oom_kills_after: tuple[int | None, ...] = ()
    peak_rss_bytes: int = 0
    wall_seconds: float = 0.0
    phases: list[str] = field(default_factory=list)
    jax_cache: str = ""
    cores_granted: bool = False
    waited_seconds: float = 0.0
    """How long the parent waited for the sampling cores (not counted by the timeout)."""

    @property
    def phase(self) -> str:
        """The phase the child was in last (``starting`` before its first)."""
        return self.phases[-1] if self.phases else "starting"


def _grant_cores_when_asked(lease: CoreLease | None, staging: Path, watch: _Watch) -> None:
    """Once the child waits for its sampling cores, wait for the ``lease``'s share and tell
    the child (``CORES_GRANTED``); a stop request ends the wait ungranted."""
    if lease is None or watch.cores_granted or "waiting_for_cores" not in watch.phases:
        return
    asked = time.perf_counter()
    watch.cores_granted = lease.grant_sampling(stop_requested)
    watch.waited_seconds += time.perf_counter() - asked
    if watch.cores_granted:
        (staging / CORES_GRANTED).touch()


def _relay_phases(staging: Path, watch: _Watch, on_phase: Callable[[str], None] | None) -> None:
    """Record (and pass to ``on_phase``) the phases the child announced since last time."""
    try:
        announced = (staging / PHASE_LOG).read_text().split()
    except FileNotFoundError:
        return
    for phase in announced[len(watch.phases):]:
        watch.phases.append(phase)
        if on_phase is not None:
            on_phase(phase)


def _supervise(
    command: list[str],
    env: dict[str, str],
    staging: Path,
    timeout: float | None,
    on_phase: Callable[[str], None] | None,
    lease: CoreLease | None = None,
) -> _Watch:
    """Run ``command`` to its end or its timeout (the child's own time, without its wait
    for cores), sampling RSS, relaying phases and, with a ``lease``, granting the sampling
    cores when the child waits for them."""
    watch = _Watch(oom_kills_before=oom_kill_counts())
    with (staging / FIT_LOG).open("wb") as log:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 preexec_fn=die_with_parent())
        try:
            process = psutil.Process(child.pid)
            with contextlib.suppress(psutil.Error, OSError):
                write_json_atomic(staging / storage.FIT_PROCESS,
                                  {"pid": child.pid, "create_time": process.create_time()})
            while child.poll() is None:
                watch.peak_rss_bytes = max(watch.peak_rss_bytes, tree_rss(process))
                _relay_phases(staging, watch, on_phase)
                _grant_cores_when_asked(lease, staging, watch)
                own_seconds = time.perf_counter() - start - watch.waited_seconds
                if timeout is not None and own_seconds > timeout:
                    watch.timed_out = True
                    break
                if stop_requested():
                    watch.cancelled = True
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(POLL_SECONDS)
        finally:
            kill_tree(child)  # the timeout, an interrupt, or stray worker processes
        watch.wall_seconds = time.perf_counter() - start
        watch.exit_code = child.returncode
        watch.oom_kills_after = oom_kill_counts()
    _relay_phases(staging, watch, on_phase)
    return watch


def _machine() -> dict[str, Any]:
    """What the timings were measured on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "total_memory_bytes": psutil.virtual_memory().total,
    }


def _read_child_result(staging: Path) -> dict[str, Any]:
    """child.json (phase timings and the child's error), or ``{}`` when it never wrote it."""
    try:
        return json.loads((staging / CHILD_RESULT).read_text())
    except (OSError, ValueError):
        return {}


def _tail(path: Path) -> str:
    """The last STDERR_TAIL_CHARS characters of the fit's log."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - STDERR_TAIL_CHARS))
        return handle.read().decode("utf-8", errors="replace")


def _failure(
    spec: FitSpec, watch: _Watch, child: dict[str, Any], tail: str, staging: Path
) -> tuple[str, str] | None:
    """``(status, reason)`` when the fit did not complete, else ``None``."""
    where = f"during phase '{watch.phase}'"
    code = watch.exit_code
    if watch.cancelled:
        return "failed", f"{INTERRUPTED} ({where})"
    if watch.timed_out:
        return "timeout", f"exceeded the timeout of {spec.timeout_seconds:g} s {where}"
    if code is not None and code < 0:
        killer = killed_by(-code, watch.oom_kills_before, watch.oom_kills_after)
        return "failed", f"{killer} {where}; peak RSS {watch.peak_rss_bytes / 2**30:.2f} GiB"
    if child.get("error"):
        error = child["error"]
        return "failed", f"{error['type']}: {error['message']} ({where})"
    if code != 0:
        last = tail.strip().splitlines()[-1:] or ["no output"]
        return "failed", f"fit process exited with code {code} {where}: {last[0]}"
    if not (staging / storage.POSTERIOR).is_file():
        return "failed", f"fit process exited 0 without writing {storage.POSTERIOR}"
    return None


def _result_from_timings(fitter: str, key: str, timings: dict[str, Any], **extra: Any) -> FitResult:
    """A FitResult whose timing fields are read from a timings mapping."""
    names = ("build_seconds", "sampling_seconds", "postprocess_seconds", "total_seconds")
    seconds = {name: float(timings.get(name, math.nan)) for name in names}
    waited = float(timings.get("waiting_seconds", math.nan))
    return FitResult(fitter, run_key=key, peak_rss_bytes=int(timings.get("peak_rss_bytes", 0)),
                     jax_cache=str(timings.get("jax_cache", "")),
                     waiting_seconds=0.0 if math.isnan(waited) else waited, **seconds, **extra)


def _collect(spec: FitSpec, key: str, watch: _Watch, staging: Path, final: Path) -> FitResult:
    """Turn what the child left in ``staging`` into a FitResult; commit a completed run."""
    child = _read_child_result(staging)
    waited = child.get("timings", {}).get("waiting_seconds", 0.0)
    timings = {
        **{name: math.nan for _, name in PHASES},
        **child.get("timings", {}),
        "waiting_seconds": waited,
        "total_seconds": watch.wall_seconds - waited,  # the fit's own time, not its wait
        "peak_rss_bytes": watch.peak_rss_bytes,
        "jax_cache": watch.jax_cache,
        "cores": spec.cores,
        "machine": _machine(),
    }
    tail = _tail(staging / FIT_LOG)
    failure = _failure(spec, watch, child, tail, staging)
    if failure is not None:
        status, reason = failure
        logger.warning("%s on %s: %s: %s", spec.fitter, spec.dataset.name, status, reason)
        return _result_from_timings(spec.fitter, key, timings, status=status, reason=reason,
                                    exit_code=watch.exit_code, stderr_tail=tail)
    write_json_atomic(staging / storage.TIMINGS, timings)
    for internal in (CHILD_RESULT, PHASE_LOG, CORES_GRANTED, storage.FIT_PROCESS):
        (staging / internal).unlink(missing_ok=True)
    run_dir = storage.commit_run(staging, final)
    return _result_from_timings(spec.fitter, key, timings, status="ok", exit_code=0,
                                run_dir=run_dir, stderr_tail=tail)


def _launch(spec: FitSpec, entry: FitterEntry, adapter: Any, staging: Path,
            on_phase: Callable[[str], None] | None, lease: CoreLease | None) -> _Watch:
    """Run the child on ``staging`` (holding run_spec.json) with the adapter's environment."""
    env = {**os.environ, **adapter.environment(spec.settings, spec.cores),
           "PYTHONUNBUFFERED": "1", WAIT_FOR_CORES_ENV: "1" if lease is not None else "0"}
    command = [sys.executable, "-m", "mmm_param_recovery.benchmarking.run.fit_child",
               str(staging), entry.adapter]
    cache = jax_cache_state(env)
    watch = _supervise(command, env, staging, spec.timeout_seconds, on_phase, lease)
    watch.jax_cache = cache
    return watch


def _run_fit(spec: FitSpec, output_dir: Path, on_phase, force: bool,
             lease: CoreLease | None) -> FitResult:
    if stop_requested():
        return FitResult(spec.fitter, "failed", reason=INTERRUPTED)
    entry = get_fitter(spec.fitter)
    adapter = entry.load_adapter()
    versions = dict(adapter.versions())
    key = run_key(spec, versions)
    if not force:  # the common case, without touching the lock
        stored, _ = storage.lookup_completed_run(output_dir, spec, versions)
        if stored is not None:
            return FitResult.from_stored(spec.fitter, stored)
    settings, total_memory = spec.settings, psutil.virtual_memory().total
    reason = entry.ineligibility(settings.chains, settings.draws, spec.dataset.cells,
                                 total_memory)
    if reason is not None:
        return FitResult(spec.fitter, "skipped", reason=reason, run_key=key)
    announce = (lambda: on_phase(WAITING)) if on_phase is not None else None
    try:
        with run_lock(output_dir, spec.dataset.name, key, should_stop=stop_requested,
                              on_wait=announce) as waited_since:
            stored, problem = storage.lookup_completed_run(output_dir, spec, versions)
            fitted_meanwhile = (stored is not None and waited_since is not None
                                and stored.written_at >= waited_since - 1.0)
            if stored is not None and (not force or fitted_meanwhile):
                reused = FitResult.from_stored(spec.fitter, stored)
                note = "fitted meanwhile by a concurrent run on this folder" * fitted_meanwhile
                return dataclasses.replace(reused, reason=note)
            result = _fit_in_child(spec, entry, adapter, key, versions, output_dir, on_phase,
                                   lease)
    except LockWaitCancelled:
        return FitResult(spec.fitter, "failed", reason=INTERRUPTED, run_key=key)
    if problem:
        note = f"{problem}: re-fitted"
        logger.warning("%s on %s: %s", spec.fitter, spec.dataset.name, note)
        reason = note if result.status == "ok" else f"{result.reason} (re-fit after: {problem})"
        result = dataclasses.replace(result, reason=reason)
    return result


def _fit_in_child(spec: FitSpec, entry: FitterEntry, adapter: Any, key: str,
                  versions: dict[str, str], output_dir: Path, on_phase,
                  lease: CoreLease | None) -> FitResult:
    """Fit ``spec`` in a child on a staging folder; commit it when complete."""
    final = storage.run_dir(output_dir, spec, key)
    staging = storage.staging_dir(final)
    try:
        storage.write_run_spec(staging, spec, key, versions)
        watch = _launch(spec, entry, adapter, staging, on_phase, lease)
        return _collect(spec, key, watch, staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_fit(
    spec: FitSpec,
    output_dir: str | Path = storage.DEFAULT_OUTPUT_DIR,
    *,
    on_phase: Callable[[str], None] | None = None,
    force: bool = False,
    lease: CoreLease | None = None,
) -> FitResult:
    """Fit ``spec`` in a fresh process and store it under ``output_dir`` (see storage).

    A completed run of the same spec and library versions is reused (``cached=True``)
    unless ``force``. A fitter whose eligibility rules rule the dataset out is
    ``skipped`` without starting a process. ``on_phase`` is called in this process with
    each phase the child enters (``loading``, ``building``, ``sampling``,
    ``postprocessing``, ``writing``), within about ``POLL_SECONDS`` of it starting.
    Never raises for a failed fit: the status (``ok | failed | timeout | skipped``) and
    ``reason`` say what happened; ``stderr_tail`` holds the end of the fit's output.
    An ``ok`` result may carry a note in ``reason``: a stored result that failed its
    checksum (or was otherwise unusable) and was re-fitted, or a run fitted meanwhile by
    a concurrent run on the same folder (this one waited on the run key's lock).
    ``lease`` (``run.cores``): the child waits for the lease's sampling cores before
    sampling; the wait is recorded as ``waiting_seconds``, outside ``total_seconds``.
    """
    try:
        return _run_fit(spec, Path(output_dir), on_phase, force, lease)
    except Exception as error:  # run boundary: a failure in the parent is a failed fit too
        logger.exception("%s on %s failed", spec.fitter, spec.dataset.name)
        return FitResult(spec.fitter, "failed", reason=f"{type(error).__name__}: {error}")
