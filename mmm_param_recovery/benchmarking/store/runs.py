"""Fit results on disk: open formats, keyed by spec, never half-read.

Layout (docs/architecture.md, DESIGN section 4)::

    <output-dir>/{dataset}/{library}[_{sampler}]__{key8}/
        run_spec.json   {"schema_version", "run_key", "spec" (specs.spec_to_dict), "versions"}
        posterior.nc    canonical InferenceData (netCDF)
        timings.json    build/sampling/postprocess/total seconds, peak_rss_bytes, machine
        fit.log         the fit process's stdout and stderr (isolated fits)
        manifest.json   {"run_key", "written_at", "files": {name: {"sha256", "bytes"}}}
        metrics.parquet added later by the metrics stage (its checksum joins the manifest)

``key8`` is the first 8 hex digits of the run key. A folder is written under a staging
name and renamed into place only when every file in ``RUN_FILES`` exists (``commit_run``
writes the manifest), so a run folder is complete or absent; a run counts as completed
only when, in addition, the hash of its stored spec and versions equals its stored run
key and every file listed in its manifest has its recorded size and sha256 (a truncated
or edited posterior, timings or metrics file means the run is re-fitted, never reused).
Writers of one run key serialise on ``staging.run_lock``. Nothing here uses pickle.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.fitters.registry import FitterEntry, fitters_for, get_fitter
from mmm_param_recovery.benchmarking.run.specs import (
    SCHEMA_VERSION,
    FitSpec,
    run_key,
    run_key_from_dict,
    spec_to_dict,
)
from mmm_param_recovery.benchmarking.store.atomic import (
    checksum_problem,
    file_checksums,
    sha256_file,
    temporary_path,
    write_json_atomic,
)
from mmm_param_recovery.errors import StorageError

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = Path("data/results")
RUN_SPEC = "run_spec.json"
POSTERIOR = "posterior.nc"
TIMINGS = "timings.json"
METRICS = "metrics.parquet"
MANIFEST = "manifest.json"
RUN_FILES = (RUN_SPEC, POSTERIOR, TIMINGS, MANIFEST)
"""The files of a completed run folder (``commit_run`` adds the manifest)."""
CHECKSUMMED = (RUN_SPEC, POSTERIOR, TIMINGS)
"""Files every manifest must record. ``commit_run`` records every file of the folder but
``UNCHECKED`` (e.g. the child's warnings.json too); metrics.parquet joins when written."""
FIT_LOG = "fit.log"
UNCHECKED = (FIT_LOG, MANIFEST)
"""Not checksummed: the fit's log is for people (never read back), and the manifest."""
FIT_PROCESS = "fit_process.json"
"""In a staging folder: the fit child's pid and start time, so that a later run can kill
what a SIGKILLed parent left running (``remove_stale_staging``)."""


@dataclass(frozen=True)
class StoredRun:
    """A completed, hash-verified run folder. ``spec`` is the dict of
    ``specs.spec_to_dict``; ``timings`` the content of timings.json (seconds, bytes)."""

    path: Path
    run_key: str
    spec: dict[str, Any]
    versions: dict[str, str]
    timings: dict[str, Any]
    written_at: float = 0.0
    """``time.time()`` at which the run was committed (from its manifest)."""

    def posterior(self) -> az.InferenceData:
        """The canonical posterior (docs/architecture.md), read from posterior.nc."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="(free_parameters|prior_roas) group is not")
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
    missing = [name for name in CHECKSUMMED if not (staging / name).is_file()]
    if missing:
        raise StorageError(f"{staging}: cannot commit, missing {missing}; required: "
                           f"{CHECKSUMMED}")
    (staging / FIT_PROCESS).unlink(missing_ok=True)
    key = _read_json(staging / RUN_SPEC).get("run_key")
    names = sorted(p.name for p in staging.iterdir()
                   if p.is_file() and p.name not in UNCHECKED and not p.name.startswith("."))
    write_json_atomic(staging / MANIFEST, {"run_key": key, "written_at": time.time(),
                                           "files": file_checksums(staging, names)})
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


def load_run(
    path: str | Path, expected_key: str | None = None, *, check_metrics: bool = True
) -> StoredRun:
    """Read a run folder after checking it is complete, its hash matches and every file
    has the checksum its manifest recorded.

    Raises StorageError when a file of ``RUN_FILES`` is missing, run_spec.json is not the
    hash of its own content, its key differs from ``expected_key`` (when given), or a file
    (posterior, timings, run spec, metrics) differs from its manifest entry: truncated,
    edited or unreadable. ``check_metrics=False`` skips metrics.parquet (for readers of
    the posterior only, which must not race a concurrent metrics rewrite).
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
    timings = _read_json(path / TIMINGS)
    manifest = _verify_checksums(path, key, check_metrics)
    written_at = manifest.get("written_at")
    return StoredRun(path, key, record["spec"], record["versions"], timings,
                     float(written_at) if isinstance(written_at, int | float) else 0.0)


CHECKSUM_FAILED = "stored result failed its checksum"
"""Start of the StorageError message (and of the re-fit note) for a file whose content
is not what its manifest recorded."""


def _verify_checksums(path: Path, key: str, check_metrics: bool) -> dict[str, Any]:
    """The manifest, after checking every file it lists has its recorded size and sha256
    (and metrics.parquet, when present, is listed); StorageError otherwise."""
    manifest = _read_json(path / MANIFEST)
    files = manifest.get("files")
    if manifest.get("run_key") != key or not isinstance(files, dict) or not all(
            name in files for name in CHECKSUMMED):
        raise StorageError(f"{path / MANIFEST}: {CHECKSUM_FAILED}: the manifest does not "
                           f"record {list(CHECKSUMMED)} for run_key {key[:12]}...")
    if check_metrics and METRICS not in files and (path / METRICS).exists():
        raise StorageError(f"{path}: {CHECKSUM_FAILED}: {METRICS} is not in {MANIFEST}")
    for name, recorded in files.items():
        if name != METRICS or check_metrics:
            problem = checksum_problem(path, name, recorded)
            if problem is not None:
                raise StorageError(f"{path}: {CHECKSUM_FAILED}: {problem}")
    return manifest


def find_completed_run(
    output_dir: str | Path, spec: FitSpec, versions: Mapping[str, str]
) -> StoredRun | None:
    """The completed run of exactly ``spec`` under ``versions``, or ``None`` (fit it)."""
    return lookup_completed_run(output_dir, spec, versions)[0]


def lookup_completed_run(
    output_dir: str | Path, spec: FitSpec, versions: Mapping[str, str]
) -> tuple[StoredRun | None, str]:
    """``(run, "")`` for the completed run of ``spec``; ``(None, "")`` when there is no
    folder for it; ``(None, problem)`` when a folder is there but cannot be trusted
    (incomplete, edited, failed its checksum): the caller re-fits and says why."""
    key = run_key(spec, versions)
    folder = run_dir(output_dir, spec, key)
    if not folder.exists():
        return None, ""
    try:
        return load_run(folder, expected_key=key), ""
    except StorageError as error:
        logger.warning("not reusing %s: %s", folder, error)
        message = str(error)
        return None, message.split(": ", 1)[1] if message.startswith(str(folder)) else message


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
    """Store the tidy metric rows of a run as ``run_dir/metrics.parquet`` atomically and
    record its checksum in the manifest; call it holding the run's ``run_lock``.

    Crash-safe in two steps: the manifest first accepts the old file or the new one,
    then the new file is renamed into place, then the manifest accepts only the new one.
    A kill at any point leaves a folder that verifies (and a stale temporary file).
    """
    run_dir = Path(run_dir)
    target, manifest = run_dir / METRICS, _read_json(run_dir / MANIFEST)
    files = manifest.setdefault("files", {})
    recorded = files.get(METRICS)
    candidates = recorded if isinstance(recorded, list) else [recorded]
    current = None
    if target.is_file():
        current = next((entry for entry in candidates if entry is not None
                        and checksum_problem(run_dir, METRICS, entry) is None), "corrupt")
    temporary = temporary_path(target)
    try:
        metrics.to_parquet(temporary, index=False)
        new = {"sha256": sha256_file(temporary), "bytes": temporary.stat().st_size}
        files[METRICS] = [new] + ([] if current == "corrupt" else [current])
        write_json_atomic(run_dir / MANIFEST, manifest)
        os.replace(temporary, target)
        files[METRICS] = new
        write_json_atomic(run_dir / MANIFEST, manifest)
    finally:
        temporary.unlink(missing_ok=True)
    return target
