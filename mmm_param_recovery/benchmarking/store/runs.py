"""Fit results on disk: open formats, keyed by spec, never half-read.

Layout (docs/architecture.md, DESIGN section 4)::

    <output-dir>/{dataset}/{library}[_{sampler}]__{key8}/
        run_spec.json   {"schema_version", "run_key", "spec" (specs.spec_to_dict), "versions"}
        posterior.nc    canonical InferenceData (netCDF)
        timings.json    build/sampling/postprocess/total seconds, peak_rss_bytes, machine
        fit.log         the fit process's stdout and stderr (isolated fits)
        diagnostics.json, metrics.parquet   added later by the metrics stage

``key8`` is the first 8 hex digits of the run key. A folder is written under a staging
name and renamed into place only when every file in ``RUN_FILES`` exists, so a run folder
is complete or absent; a run counts as completed only when, in addition, the hash of its
stored spec and versions equals its stored run key. Nothing here uses pickle.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import psutil

from mmm_param_recovery.benchmarking.fitters.registry import FitterEntry, fitters_for, get_fitter
from mmm_param_recovery.benchmarking.run.specs import (
    SCHEMA_VERSION,
    FitSpec,
    run_key,
    run_key_from_dict,
    spec_to_dict,
)
from mmm_param_recovery.benchmarking.store.atomic import atomic_write, write_json_atomic
from mmm_param_recovery.errors import StorageError

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = Path("data/results")
RUN_SPEC = "run_spec.json"
POSTERIOR = "posterior.nc"
TIMINGS = "timings.json"
METRICS = "metrics.parquet"
RUN_FILES = (RUN_SPEC, POSTERIOR, TIMINGS)


@dataclass(frozen=True)
class StoredRun:
    """A completed, hash-verified run folder. ``spec`` is the dict of
    ``specs.spec_to_dict``; ``timings`` the content of timings.json (seconds, bytes)."""

    path: Path
    run_key: str
    spec: dict[str, Any]
    versions: dict[str, str]
    timings: dict[str, Any]

    def posterior(self) -> az.InferenceData:
        """The canonical posterior (docs/architecture.md), read from posterior.nc."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="free_parameters group is not defined")
            return az.from_netcdf(self.path / POSTERIOR)


def run_dir(output_dir: str | Path, spec: FitSpec, key: str) -> Path:
    """``<output_dir>/{dataset}/{library}[_{sampler}]__{key8}``."""
    stem = get_fitter(spec.fitter).folder_stem
    return Path(output_dir) / spec.dataset.name / f"{stem}__{key[:8]}"


def staging_dir(final: Path) -> Path:
    """An empty folder next to ``final`` (``<final>.tmp-<pid>``) to write a run into."""
    staging = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def remove_orphaned_staging(output_dir: Path, dataset_names) -> list[Path]:
    """Delete run staging folders (``<run>.tmp-<pid>``) whose writer process is gone,
    e.g. after the run was killed; they are never read, only cleaned up."""
    removed = []
    for name in dataset_names:
        for folder in (Path(output_dir) / name).glob("*.tmp-*"):
            pid = folder.name.rsplit(".tmp-", 1)[1]
            if folder.is_dir() and pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def _netcdf_attrs(attrs: dict[str, Any]) -> None:
    """Booleans as 0/1 in place: netCDF attributes cannot hold a bool (truth.py does so too)."""
    for name, value in attrs.items():
        if isinstance(value, bool | np.bool_):
            attrs[name] = int(value)


def write_posterior(posterior: az.InferenceData, path: Path) -> None:
    """Write ``posterior`` as netCDF to ``path``; boolean attributes become 0/1, in place."""
    for group in posterior.groups():
        dataset = posterior[group]
        _netcdf_attrs(dataset.attrs)
        for variable in dataset.variables.values():
            _netcdf_attrs(variable.attrs)
    posterior.to_netcdf(str(path))


def write_run_spec(folder: Path, spec: FitSpec, key: str, versions: Mapping[str, str]) -> None:
    """Write run_spec.json: the spec, the library versions and the run key they hash to."""
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_key": key,
        "spec": spec_to_dict(spec),
        "versions": dict(versions),
    }
    write_json_atomic(folder / RUN_SPEC, record)


def commit_run(staging: Path, final: Path) -> Path:
    """Rename the complete ``staging`` folder to ``final`` (replacing an older one)."""
    missing = [name for name in RUN_FILES if not (staging / name).is_file()]
    if missing:
        raise StorageError(f"{staging}: cannot commit, missing {missing}; required: {RUN_FILES}")
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise StorageError(f"{path}: cannot be read as JSON ({error})") from error
    if not isinstance(data, dict):
        raise StorageError(f"{path}: {type(data).__name__} is invalid; allowed: a JSON object")
    return data


def _verified_key(path: Path, record: Mapping[str, Any]) -> str:
    """The stored run key after checking it is the hash of the stored spec and versions."""
    stored = record.get("run_key")
    try:
        recomputed = run_key_from_dict(record["spec"], record["versions"])
    except (KeyError, TypeError, AttributeError) as error:
        raise StorageError(f"{path / RUN_SPEC}: malformed record ({error!r})") from error
    if stored != recomputed:
        raise StorageError(
            f"{path / RUN_SPEC}: run_key {str(stored)[:12]}... does not match the hash of "
            f"its spec and versions {recomputed[:12]}... (the file was edited, or written "
            f"under schema_version {record.get('schema_version')!r}, now {SCHEMA_VERSION})"
        )
    return recomputed


def load_run(path: str | Path, expected_key: str | None = None) -> StoredRun:
    """Read a run folder after checking it is complete and its hash matches.

    Raises StorageError when a file of ``RUN_FILES`` is missing, run_spec.json is not the
    hash of its own content, or its key differs from ``expected_key`` (when given).
    """
    path = Path(path)
    missing = [name for name in RUN_FILES if not (path / name).is_file()]
    if missing:
        raise StorageError(f"{path}: incomplete run, missing {missing}; required: {RUN_FILES}")
    record = _read_json(path / RUN_SPEC)
    key = _verified_key(path, record)
    if expected_key is not None and key != expected_key:
        raise StorageError(f"{path}: run_key {key[:12]}... differs from the expected "
                           f"{expected_key[:12]}... (a different spec or library versions)")
    return StoredRun(path, key, record["spec"], record["versions"], _read_json(path / TIMINGS))


def find_completed_run(
    output_dir: str | Path, spec: FitSpec, versions: Mapping[str, str]
) -> StoredRun | None:
    """The completed run of exactly ``spec`` under ``versions``, or ``None`` (fit it)."""
    key = run_key(spec, versions)
    try:
        return load_run(run_dir(output_dir, spec, key), expected_key=key)
    except StorageError as error:
        logger.debug("no reusable run for %s: %s", spec.fitter, error)
        return None


def completed_runs(
    output_dir: str | Path, dataset_name: str, entries: tuple[FitterEntry, ...]
) -> list[StoredRun]:
    """Every completed run of the fitters ``entries`` on ``dataset_name``, newest first."""
    stems = "|".join(re.escape(entry.folder_stem) for entry in entries)
    pattern = re.compile(rf"^(?:{stems})__[0-9a-f]{{8}}$")
    runs = []
    for folder in sorted((Path(output_dir) / dataset_name).glob("*__*")):
        if pattern.match(folder.name):
            try:
                runs.append(load_run(folder))
            except StorageError as error:
                logger.info("ignoring %s: %s", folder, error)
    return sorted(runs, key=lambda run: (run.path / TIMINGS).stat().st_mtime, reverse=True)


def model_exists(
    dataset_name: str,
    library: str,
    sampler: str | None = None,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
) -> bool:
    """True when a completed run of ``library`` (and ``sampler``, any when ``None``)
    exists for ``dataset_name`` under ``output_dir``."""
    return bool(completed_runs(output_dir, dataset_name, fitters_for(library, sampler)))


def save_run(
    output_dir: str | Path,
    spec: FitSpec,
    versions: Mapping[str, str],
    posterior: az.InferenceData,
    timings: Mapping[str, Any],
) -> Path:
    """Store a canonical ``posterior`` fitted in this process as a completed run folder."""
    key = run_key(spec, versions)
    final = run_dir(output_dir, spec, key)
    staging = staging_dir(final)
    try:
        write_posterior(posterior, staging / POSTERIOR)
        write_run_spec(staging, spec, key, versions)
        write_json_atomic(staging / TIMINGS, dict(timings))
        return commit_run(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_run_metrics(run_dir: str | Path, metrics: pd.DataFrame) -> Path:
    """Store the tidy metric rows of a run as ``run_dir/metrics.parquet`` atomically."""
    return atomic_write(Path(run_dir) / METRICS, lambda tmp: metrics.to_parquet(tmp, index=False))
