"""Where the fits of a plan run: on this machine (``local``) or on a Ray cluster (``ray``).

Both run each fit through ``isolation.run_fit``, which starts a fresh child process with
the adapter's environment (thread counts, XLA flags) set before any import, so a fit
behaves the same on either executor. The runner calls ``executor.run_fit`` from
``executor.parallel`` driver threads; metrics, tables and the report are computed by the
driver from the stored run folders.

``ray``: every fit is one Ray task in a fresh worker process (``max_calls=1``) that asks
for ``num_cpus`` = the fit's cores and ``memory`` = the fitter's memory estimate, so Ray
places fits where they fit. Where results go (``RAY_STORAGE``): with ``shared`` (the
default) the worker writes the run folder itself, so the output folder (and the dataset
folders under it) must be on storage that every node sees, which the driver checks by
finding the committed run folder after the task returns (a fit whose folder the driver
cannot see is failed with that reason); with ``ship`` the dataset travels with the task
and the finished run folder comes back to the driver, which checks and commits it
(``run.shipping``), so nodes need no common storage. A worker or node lost mid-fit is
retried once by Ray (``max_retries=1``); any other Ray error, and a task that outlives
its fit's timeout by ``GRACE_SECONDS``, comes back as a failed fit with its reason, so a
run never hangs. Ray is optional
(``pip install .[ray]``); ``--executor ray`` without it is refused up front.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.run import cores, isolation, memory, processes, shipping
from mmm_param_recovery.benchmarking.run.specs import FitSpec
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.errors import ConfigError

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
RAY_STORAGE = ("shared", "ship")
"""How Ray fits' run folders reach the driver: written on storage every node sees, or
shipped back with the task's result."""
GRACE_SECONDS = 300.0
"""How long past a fit's own timeout the driver waits for its Ray task."""
MAX_DRIVER_THREADS = 64
PhaseCallback = Callable[[str], None]


class LocalExecutor:
    """Fits on this machine, each in its own child process: ``jobs`` at a time, or, with
    ``overlap``, one more, whose loading and building (one core) overlap the others'
    sampling while the fits never hold more than ``capacity`` cores (``run.cores``).
    Either way the fits running at once never reserve more than ``memory_budget`` by the
    registry's memory model (``run.memory``; default: 90 % of this machine's RAM)."""

    name = "local"

    def __init__(self, jobs: int, overlap: bool = False, capacity: int = 1,
                 memory_budget: memory.MemoryBudget | None = None) -> None:
        self.parallel = jobs + 1 if overlap else jobs
        self.pool = cores.CorePool(capacity) if overlap else None
        self.memory = memory_budget or memory.MemoryBudget()

    def run_fit(self, spec: FitSpec, output_dir: Path, force: bool,
                on_phase: PhaseCallback) -> isolation.FitResult:
        """Reserve the fit's estimated memory, then run it (with a core lease when
        overlapping)."""
        needed = memory.estimated_peak_bytes(spec)
        if not self.memory.reserve(needed, processes.stop_requested,
                                   on_wait=lambda: on_phase("waiting for memory")):
            return isolation.FitResult(spec.fitter, "failed", reason=isolation.INTERRUPTED)
        try:
            return self._run_on_cores(spec, output_dir, force, on_phase)
        finally:
            self.memory.release(needed)

    def _run_on_cores(self, spec: FitSpec, output_dir: Path, force: bool,
                      on_phase: PhaseCallback) -> isolation.FitResult:
        if self.pool is None:
            return isolation.run_fit(spec, output_dir, force=force, on_phase=on_phase)
        lease = cores.CoreLease(self.pool, spec.cores)
        try:
            if not lease.open(processes.stop_requested):
                return isolation.FitResult(spec.fitter, "failed", reason=isolation.INTERRUPTED)
            return isolation.run_fit(spec, output_dir, force=force, on_phase=on_phase,
                                     lease=lease)
        finally:
            lease.close()

    def close(self) -> None:
        """Nothing to release."""


def _fit_in_worker(spec: FitSpec, output_dir: str, cwd: str, force: bool) -> dict[str, Any]:
    """The Ray task: ``isolation.run_fit`` in the driver's working directory; returns the
    FitResult and the node it ran on."""
    import ray

    os.chdir(cwd)
    result = isolation.run_fit(spec, output_dir, force=force)
    return {"result": result, "node": ray.get_runtime_context().get_node_id()}


def _ship_in_worker(spec: FitSpec, packed_dataset: bytes, force: bool) -> dict[str, Any]:
    """The Ray task of ``--ray-storage ship``: ``shipping.fit_and_ship`` and the node."""
    import ray

    return {**shipping.fit_and_ship(spec, packed_dataset, force),
            "node": ray.get_runtime_context().get_node_id()}


def require_ray() -> None:
    """Raise a ConfigError naming the extra when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise ConfigError("--executor: 'ray' is invalid; allowed: local (Ray is not installed: "
                          "pip install '.[ray]')") from error


class RayExecutor:
    """Fits as Ray tasks on the cluster at ``address`` (None: a local Ray instance), their
    run folders on shared storage or shipped back (``storage_mode``, one of RAY_STORAGE)."""

    name = "ray"

    def __init__(self, address: str | None, n_fits: int, storage_mode: str = "shared") -> None:
        if storage_mode not in RAY_STORAGE:
            raise ConfigError(f"--ray-storage: {storage_mode!r} is invalid; allowed: "
                              f"{', '.join(RAY_STORAGE)}")
        require_ray()
        import ray

        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False)
        self._ray = ray
        self.storage_mode = storage_mode
        task = _ship_in_worker if storage_mode == "ship" else _fit_in_worker
        self._task = ray.remote(max_calls=1, max_retries=1)(task)
        self.parallel = max(1, min(n_fits, MAX_DRIVER_THREADS))
        self.nodes: dict[str, str] = {}
        """Run key -> Ray node id of every fit that ran (for tests and logs)."""

    def _options(self, spec: FitSpec) -> dict[str, Any]:
        return {"num_cpus": spec.cores, "memory": memory.estimated_peak_bytes(spec)}

    def run_fit(self, spec: FitSpec, output_dir: Path, force: bool,
                on_phase: PhaseCallback) -> isolation.FitResult:
        """Run ``spec`` as a Ray task; a failed result for anything Ray reports."""
        if self.storage_mode == "ship" and not force:
            reused = _stored_result(spec, output_dir)
            if reused is not None:
                return reused
        absolute = dataclasses.replace(spec, dataset=dataclasses.replace(
            spec.dataset, path=Path(spec.dataset.path).resolve()))
        if self.storage_mode == "ship":
            arguments = (absolute, shipping.pack_folder(absolute.dataset.path), force)
        else:
            arguments = (absolute, str(Path(output_dir).resolve()), str(Path.cwd()), force)
        ref = self._task.options(**self._options(spec)).remote(*arguments)
        on_phase("queued on ray")
        limit = (spec.timeout_seconds or float("inf")) + GRACE_SECONDS
        try:
            done = self._wait(ref, limit)
        except self._ray.exceptions.RayError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return isolation.FitResult(spec.fitter, "failed",
                                       reason=f"ray: {type(error).__name__}: {first}")
        if done is None:
            return isolation.FitResult(spec.fitter, "failed", reason=isolation.INTERRUPTED)
        if done == "late":
            return isolation.FitResult(spec.fitter, "timeout", reason=(
                f"the Ray task did not return within the fit's timeout + {GRACE_SECONDS:g} s"))
        result = done["result"]
        self.nodes[result.run_key] = done["node"]
        if self.storage_mode == "ship":
            return (shipping.commit_shipped(done["run"], Path(output_dir), spec, result)
                    if result.status == "ok" else result)
        if result.status == "ok" and not (result.run_dir and result.run_dir.is_dir()):
            return dataclasses.replace(result, status="failed", reason=(
                f"the fit's run folder {result.run_dir} is not visible to the driver: "
                "--output-dir must be on storage every Ray node sees, or use "
                "--ray-storage ship"))
        return result

    def _wait(self, ref: Any, limit: float) -> dict[str, Any] | str | None:
        """The task's value; None when the run was stopped; ``late`` past ``limit``."""
        waited = 0.0
        while True:
            ready, _ = self._ray.wait([ref], timeout=isolation.POLL_SECONDS)
            if ready:
                return self._ray.get(ref)
            waited += isolation.POLL_SECONDS
            if processes.stop_requested() or waited > limit:
                self._ray.cancel(ref, force=True)
                return None if processes.stop_requested() else "late"

    def close(self) -> None:
        """Leave the cluster (a local instance started here is shut down)."""
        self._ray.shutdown()


def _stored_result(spec: FitSpec, output_dir: Path) -> isolation.FitResult | None:
    """The driver's completed run of ``spec`` (None: none usable, fit it)."""
    versions = get_fitter(spec.fitter).load_adapter().versions()
    stored, _ = storage.lookup_completed_run(output_dir, spec, versions)
    return None if stored is None else isolation.FitResult.from_stored(spec.fitter, stored)


def make_executor(name: str, jobs: int, n_fits: int, ray_address: str | None = None,
                  overlap: bool = False, capacity: int = 1, ray_storage: str = "shared"):
    """The executor ``name`` (``EXECUTORS``) for a plan of ``n_fits`` fits; ``overlap``
    and ``capacity`` (cores) apply to ``local``, ``ray_address`` and ``ray_storage``
    (RAY_STORAGE) to ``ray``."""
    if name == "local":
        return LocalExecutor(jobs, overlap, capacity)
    if name == "ray":
        return RayExecutor(ray_address, n_fits, ray_storage)
    raise ConfigError(f"--executor: {name!r} is invalid; allowed: {', '.join(EXECUTORS)}")
