"""Dataset folders of a results tree: ``<output-dir>/{dataset}/data_seed{seed}/``.

Each holds data.parquet|csv, truth.parquet|csv, truth.json and manifest.json as written by
``data_generator.save_dataset``; truth.json carries the ``dataset_hash`` the folder was
written for and manifest.json the sha256 of every file, so a re-run rewrites the folder
when the dataset changed or a file was edited or corrupted (it fails its checksum), and
fits exactly the same data otherwise. Writers of one folder serialise on a lock
(``<output-dir>/{dataset}/.locks/data_seed{seed}.lock``).

A dataset's identity (``dataset_hash``, part of every run key): the generator config's
hash for a preset; for a user's dataset the hash of its column names, dtypes and values,
data and every truth column (renaming a channel changes it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.run.specs import DatasetRef, canonical_json, config_hash
from mmm_param_recovery.benchmarking.store.atomic import LOCKS, file_lock, writer_gone, writer_pid
from mmm_param_recovery.data_generator import (
    generate_mmm_dataset,
    get_preset_config,
    list_available_presets,
    load_dataset,
    load_dataset_files,
    save_dataset,
)
from mmm_param_recovery.data_generator.io import dataset_checksum_problem
from mmm_param_recovery.errors import ConfigError, DatasetFormatError, invalid

logger = logging.getLogger(__name__)

DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
RESERVED_NAMES = ("summary",)
"""Folder names of the results tree that a dataset must not take."""


def check_dataset_name(name: str, field: str = "--dataset-name") -> str:
    """Raise ConfigError unless ``name`` can be a dataset folder: letters, digits, ``_``,
    ``.``, ``-`` (not first), at most 100 characters, not ``summary``, no ``.tmp-``."""
    allowed = ("letters, digits, '_', '.', '-' (starting with a letter or digit, at most 100 "
               f"characters), not {', '.join(RESERVED_NAMES)}")
    if (not isinstance(name, str) or not DATASET_NAME.match(name)
            or name.lower() in RESERVED_NAMES or ".tmp-" in name):
        raise invalid(field, name, allowed, ConfigError)
    return name


@dataclass(frozen=True)
class UserDataset:
    """A user's own dataset in the generator's file format."""

    name: str
    data_file: Path
    truth_file: Path


def dataset_folder(output_dir: str | Path, name: str, seed: int) -> Path:
    """Where the data and truth files of (dataset, seed) live."""
    return Path(output_dir) / name / f"data_seed{seed}"


def _frame_hash(frame: pd.DataFrame) -> str:
    """sha256 of the column names, dtypes and every value of ``frame``."""
    header = canonical_json([[str(c), str(t)] for c, t in frame.dtypes.items()])
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(header.encode() + row_hashes.tobytes()).hexdigest()


def user_dataset_hash(result: dict) -> str:
    """The identity of a user's dataset: its data frame and every truth frame, by column
    names, dtypes and values."""
    truth = result["ground_truth"]
    frames = [result["data"], *(truth[k] for k in sorted(truth)
                                if isinstance(truth[k], pd.DataFrame))]
    return hashlib.sha256("".join(map(_frame_hash, frames)).encode()).hexdigest()


def _stored_hash(folder: Path) -> str | None:
    try:
        return json.loads((folder / "truth.json").read_text()).get("dataset_hash")
    except (OSError, ValueError, AttributeError):
        return None


def _dataset_result(name: str, seed: int, user: UserDataset | None) -> tuple[dict, str]:
    """The generator result of (name, seed) and its identity hash: the generator config's
    hash for a preset, ``user_dataset_hash`` for a user's dataset."""
    if user is not None and name == user.name:
        result = load_dataset_files(user.data_file, user.truth_file)
        return result, user_dataset_hash(result)
    result = generate_mmm_dataset(get_preset_config(name, seed=seed))
    return result, config_hash(result["config"])


def _dataset_lock(output_dir: str | Path, name: str, seed: int):
    return file_lock(Path(output_dir) / name / LOCKS / f"data_seed{seed}.lock")


def _reusable(folder: Path, digest: str) -> bool:
    """The folder holds the dataset of ``digest`` and every file matches its checksum."""
    if _stored_hash(folder) != digest:
        return False
    problem = dataset_checksum_problem(folder, require=True)
    if problem is not None:
        logger.warning("rewriting %s: %s", folder, problem)
        return False
    return True


def materialise_dataset(
    output_dir: str | Path, name: str, seed: int, user: UserDataset | None = None
) -> DatasetRef:
    """Write (or reuse) the files of dataset ``name`` for ``seed``; return its reference.

    ``user``: the user's dataset files when ``name`` is theirs (else a preset is
    generated). The files are rewritten when the dataset's hash changed or a stored file
    fails its checksum (or the manifest is missing).
    """
    check_dataset_name(name, "dataset")
    folder = dataset_folder(output_dir, name, seed)
    result, digest = _dataset_result(name, seed, user)
    with _dataset_lock(output_dir, name, seed):
        for staging in folder.parent.glob(f".{folder.name}.tmp-*"):
            pid = writer_pid(staging.name)
            if pid is not None and writer_gone(pid):  # a killed writer's
                shutil.rmtree(staging, ignore_errors=True)
                logger.info("removed %s, left behind by an interrupted run", staging)
        if not _reusable(folder, digest):
            result["ground_truth"]["dataset_hash"] = digest
            save_dataset(result, folder)
    return DatasetRef.from_frame(name, seed, digest, folder, result["data"])


def stored_dataset_ref(output_dir: str | Path, name: str, seed: int) -> DatasetRef:
    """The reference of a dataset already on disk (``--plots-only``: nothing is fitted).

    When the folder is missing or fails its checksum, a preset is written again (it is
    fully determined by its name and seed), so that the plan can be made and the fits
    reported ``missing``; a user's dataset raises DatasetFormatError (run without
    ``--plots-only`` to write it)."""
    folder = dataset_folder(output_dir, name, seed)
    try:
        result = load_dataset(folder)
    except DatasetFormatError as error:
        if name not in list_available_presets():
            raise DatasetFormatError(
                f"{folder}: no usable stored dataset {name!r} seed {seed} ({error}); allowed: "
                "a folder a run without --plots-only wrote") from error
        logger.warning("--plots-only: %s; writing the preset again", error)
        return materialise_dataset(output_dir, name, seed)
    return DatasetRef.from_frame(name, seed, _stored_hash(folder) or "0", folder, result["data"])


def check_name_is_free(name: str) -> None:
    """Raise ConfigError when a user's dataset name is a preset's (their folders would mix)."""
    if name in list_available_presets():
        raise invalid("--dataset-name", name,
                      f"a name that is not a preset ({', '.join(list_available_presets())})",
                      ConfigError)
