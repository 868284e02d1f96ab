"""The run plan: datasets x fitters x seeds, with skip rules applied as data.

A ``BenchmarkRequest`` is what the user asked for (validated); ``build_plan`` turns it
into ``PlannedFit`` items, writing each dataset's files once (reused when the stored
config hash matches, so a re-run fits exactly the same data).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil

from mmm_param_recovery.benchmarking.registry import get_fitter
from mmm_param_recovery.benchmarking.specs import DatasetRef, FitSpec, config_hash, make_fit_spec
from mmm_param_recovery.data_generator import (
    generate_mmm_dataset,
    get_preset_config,
    load_dataset,
    load_dataset_files,
    save_dataset,
)


@dataclass(frozen=True)
class UserDataset:
    """A user's own dataset in the generator's file format."""

    name: str
    data_file: Path
    truth_file: Path


@dataclass(frozen=True)
class BenchmarkRequest:
    """A validated benchmark request (see ``runner.request_from_args``)."""

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


def dataset_folder(output_dir: Path, name: str, seed: int) -> Path:
    """Where the data and truth files of (dataset, seed) live."""
    return Path(output_dir) / name / f"data_seed{seed}"


def _frame_hash(frame: pd.DataFrame) -> str:
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(row_hashes.tobytes()).hexdigest()


def _stored_hash(folder: Path) -> str | None:
    try:
        return json.loads((folder / "truth.json").read_text()).get("dataset_hash")
    except (OSError, ValueError):
        return None


def materialise_dataset(request: BenchmarkRequest, name: str, seed: int) -> DatasetRef:
    """Write (or reuse) the files of dataset ``name`` for ``seed``; return its reference.

    A preset is identified by the hash of its generator config, a user's dataset by the
    hash of its data and truth contents; the files are rewritten only when that changed.
    """
    folder = dataset_folder(request.output_dir, name, seed)
    user = request.user_dataset
    if user is not None and name == user.name:
        result = load_dataset_files(user.data_file, user.truth_file)
        frames = (result["data"], result["ground_truth"]["contributions"])
        digest = hashlib.sha256("".join(map(_frame_hash, frames)).encode()).hexdigest()
    else:
        result = generate_mmm_dataset(get_preset_config(name, seed=seed))
        digest = config_hash(result["config"])
    if _stored_hash(folder) != digest:
        result["ground_truth"]["dataset_hash"] = digest
        save_dataset(result, folder)
    return DatasetRef.from_frame(name, seed, digest, folder, result["data"])


def stored_dataset_ref(request: BenchmarkRequest, name: str, seed: int) -> DatasetRef:
    """The reference of a dataset already on disk (``--plots-only``: nothing is written)."""
    folder = dataset_folder(request.output_dir, name, seed)
    result = load_dataset(folder)
    return DatasetRef.from_frame(name, seed, _stored_hash(folder) or "0", folder, result["data"])


def build_plan(request: BenchmarkRequest, datasets: dict[tuple[str, int], DatasetRef]):
    """Every (dataset, seed, fitter) of the request, with its skip reason if any."""
    total_memory = psutil.virtual_memory().total
    cores = max(1, min(request.chains, (psutil.cpu_count() or 1) // request.jobs))
    plan = []
    for (name, seed), ref in datasets.items():
        for fitter in request.fitters:
            spec = make_fit_spec(
                fitter, ref, chains=request.chains, draws=request.draws, tune=request.tune,
                target_accept=request.target_accept, seed=seed, cores=cores,
                timeout_seconds=request.timeout,
            )
            reason = get_fitter(fitter).ineligibility(
                request.chains, request.draws, ref.cells, total_memory)
            plan.append(PlannedFit(name, seed, fitter, spec, reason))
    return plan
