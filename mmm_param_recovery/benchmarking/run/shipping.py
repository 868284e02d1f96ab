"""Ray fits on nodes that do not share the driver's storage (``--ray-storage ship``).

The driver packs the dataset folder into the task's arguments; the worker unpacks it into
a scratch folder on its node, fits into another scratch folder there, packs the
committed run folder and returns it with the result; the driver unpacks it into a
staging folder beside the final run folder, checks it as it would check any stored run
(complete, its run key, every file's manifest checksum) and only then renames it into
place. Nothing is left on the worker's node. Folders travel as uncompressed tar bytes in
Ray's object store (posteriors are already compressed netCDF).
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from mmm_param_recovery.benchmarking.run import isolation
from mmm_param_recovery.benchmarking.run.specs import FitSpec
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.errors import StorageError


def pack_folder(folder: Path) -> bytes:
    """The files under ``folder`` (relative paths) as tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                archive.add(path, arcname=str(path.relative_to(folder)))
    return buffer.getvalue()


def unpack_folder(packed: bytes, folder: Path) -> Path:
    """Write the files of ``pack_folder``'s bytes under ``folder``; returns ``folder``.
    Only plain files inside ``folder`` are accepted (no links, no absolute paths)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r") as archive:
        archive.extractall(folder, filter="data")
    return folder


def fit_and_ship(spec: FitSpec, packed_dataset: bytes, force: bool) -> dict[str, Any]:
    """Run ``spec`` on this node with the shipped dataset; returns the ``result`` (its
    ``run_dir`` None) and, for an ok fit, the packed run folder as ``run``."""
    with tempfile.TemporaryDirectory(prefix="mmm-ship-") as scratch:
        dataset_dir = unpack_folder(packed_dataset, Path(scratch) / "dataset")
        here = dataclasses.replace(spec, dataset=dataclasses.replace(spec.dataset,
                                                                     path=dataset_dir))
        result = isolation.run_fit(here, Path(scratch) / "out", force=force)
        packed_run = pack_folder(result.run_dir) if result.status == "ok" else None
    return {"result": dataclasses.replace(result, run_dir=None), "run": packed_run}


def commit_shipped(packed_run: bytes, output_dir: Path, spec: FitSpec,
                   result: isolation.FitResult) -> isolation.FitResult:
    """Put a shipped run folder in place under ``output_dir`` once it checks out; the
    result with its ``run_dir``, or failed with what was wrong."""
    final = storage.run_dir(output_dir, spec, result.run_key)
    staging = storage.staging_dir(final)
    try:
        unpack_folder(packed_run, staging)
        storage.load_run(staging, expected_key=result.run_key)  # complete, same bytes
        storage.commit_run(staging, final)
    except (StorageError, tarfile.TarError, OSError) as error:
        return dataclasses.replace(result, status="failed",
                                   reason=f"the shipped run folder is unusable: {error}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dataclasses.replace(result, run_dir=final)
