"""The run plan: datasets x fitters x seeds, with skip rules applied as data.

A ``BenchmarkRequest`` is what the user asked for (validated by the CLI); ``build_plan``
turns it, once, into a frozen ``BenchmarkPlan``: the dataset references (their files
written or reused) and one ``PlannedFit`` per (dataset, seed, fitter). Every later stage
only reads the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path

import psutil

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.run.specs import DatasetRef, FitSpec, make_fit_spec
from mmm_param_recovery.benchmarking.store.datasets import (
    UserDataset,
    materialise_dataset,
    stored_dataset_ref,
)


@dataclass(frozen=True)
class BenchmarkRequest:
    """A validated benchmark request (``cli.arguments.request_from_args`` builds one)."""

    datasets: tuple[str, ...]
    user_dataset: UserDataset | None
    fitters: tuple[str, ...]
    seeds: tuple[int, ...]
    chains: int
    draws: int
    tune: int
    target_accept: float
    output_dir: Path
    jobs: int
    timeout: float
    force_rerun: bool
    plots_only: bool
    profiles: tuple[str, ...] = ("seed",)
    compare_to: Path | None = None
    executor: str = "local"
    ray_address: str | None = None
    fitter_options: tuple[tuple[str, str], ...] = ()
    """``(key, value)`` options, each given to every fitter that takes ``key``."""
    overlap: bool = True
    ray_storage: str = "shared"

    def options_of(self, fitter: str) -> dict[str, str]:
        """The ``fitter_options`` that ``fitter`` takes."""
        taken = get_fitter(fitter).options
        return {key: value for key, value in self.fitter_options if key in taken}

    @property
    def dataset_names(self) -> tuple[str, ...]:
        user = (self.user_dataset.name,) if self.user_dataset else ()
        return (*self.datasets, *user)


@dataclass(frozen=True)
class PlannedFit:
    """One cell of the plan: a fit to run, or one skipped with ``skip_reason``."""

    dataset: str
    seed: int
    fitter: str
    spec: FitSpec
    skip_reason: str | None = None

    @property
    def profile(self) -> str:
        """The prior profile of the fit (``model_spec.PROFILES``)."""
        return self.spec.profile

    @property
    def label(self) -> str:
        """``{dataset} seed {seed} {fitter} priors={profile}``: how progress, logs and
        the CLI name the fit."""
        return f"{self.dataset} seed {self.seed} {self.fitter} priors={self.profile}"


@dataclass(frozen=True)
class BenchmarkPlan:
    """Everything a run needs, decided up front.

    ``datasets``: ``(name, seed) -> DatasetRef`` in request order; ``fits``: the planned
    fits in plan order; ``settings``: the request's NUTS settings and run control, shown
    in the report; ``jobs``: fits in parallel; ``force_rerun``: ignore stored results;
    ``plots_only``: only look up stored results.
    """

    output_dir: Path
    datasets: dict[tuple[str, int], DatasetRef]
    fits: tuple[PlannedFit, ...]
    fitters: tuple[str, ...]
    seeds: tuple[int, ...]
    profiles: tuple[str, ...]
    settings: dict[str, object]
    jobs: int
    force_rerun: bool
    plots_only: bool
    compare_to: Path | None = None
    """Output folder of an earlier run to compare with in the report (``--compare-to``)."""
    executor: str = "local"
    """Where the fits run (``run.executors``: ``local`` or ``ray``); run control."""
    ray_address: str | None = None
    """The Ray cluster of ``executor == "ray"`` (None: start a local Ray instance)."""
    overlap: bool = True
    """``local``: one extra fit builds while others sample, within ``jobs x cores`` cores
    (``run.cores``); run control."""
    ray_storage: str = "shared"
    """``ray``: run folders on storage every node sees, or shipped back
    (``run.executors.RAY_STORAGE``); run control."""

    @property
    def dataset_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name, _ in self.datasets))


def _dataset_refs(request: BenchmarkRequest) -> dict[tuple[str, int], DatasetRef]:
    refs = {}
    for name in request.dataset_names:
        for seed in request.seeds:
            if request.plots_only:
                refs[(name, seed)] = stored_dataset_ref(request.output_dir, name, seed)
            else:
                refs[(name, seed)] = materialise_dataset(
                    request.output_dir, name, seed, request.user_dataset)
    return refs


def _planned_fits(request: BenchmarkRequest, refs: dict[tuple[str, int], DatasetRef]):
    total_memory = psutil.virtual_memory().total
    cores = max(1, min(request.chains, (psutil.cpu_count() or 1) // request.jobs))
    fits = []
    for (name, seed), ref in refs.items():
        prepared = ref.prepared()
        for fitter, profile in product(request.fitters, request.profiles):
            spec = make_fit_spec(
                fitter, ref, chains=request.chains, draws=request.draws, tune=request.tune,
                target_accept=request.target_accept, seed=seed, cores=cores,
                timeout_seconds=request.timeout, profile=profile, prepared=prepared,
                options=request.options_of(fitter),
            )
            reason = get_fitter(fitter).ineligibility(
                request.chains, request.draws, ref.cells, total_memory)
            fits.append(PlannedFit(name, seed, fitter, spec, reason))
    return tuple(fits)


def build_plan(request: BenchmarkRequest) -> BenchmarkPlan:
    """Write or look up every dataset of ``request`` and plan every fit."""
    refs = _dataset_refs(request)
    settings = {
        "chains x tune x draws": f"{request.chains} x {request.tune} x {request.draws}",
        "target accept": request.target_accept,
        "parallel fits (jobs)": request.jobs,
        "executor": request.executor + (f" ({request.ray_address})" if request.ray_address
                                        else ""),
    }
    if request.executor == "local":
        settings["overlap builds with sampling"] = "on" if request.overlap else "off"
    else:
        settings["ray storage"] = request.ray_storage
    if request.fitter_options:
        settings["fitter options"] = ", ".join(f"{k}={v}" for k, v in request.fitter_options)
    return BenchmarkPlan(
        output_dir=Path(request.output_dir), datasets=refs,
        fits=_planned_fits(request, refs), fitters=request.fitters, seeds=request.seeds,
        profiles=request.profiles,
        settings=settings, jobs=request.jobs, force_rerun=request.force_rerun,
        plots_only=request.plots_only, compare_to=request.compare_to,
        executor=request.executor, ray_address=request.ray_address, overlap=request.overlap,
        ray_storage=request.ray_storage,
    )
