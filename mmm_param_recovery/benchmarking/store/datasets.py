"""Dataset folders of a results tree: ``<output-dir>/{dataset}/data_seed{seed}/``.

Each holds data.parquet|csv, truth.parquet|csv and truth.json as written by
``data_generator.save_dataset``; truth.json carries the ``dataset_hash`` the folder was
written for, so a re-run rewrites it only when the dataset changed and fits exactly the
same data otherwise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.run.specs import DatasetRef, config_hash
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


def dataset_folder(output_dir: str | Path, name: str, seed: int) -> Path:
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


def _dataset_result(name: str, seed: int, user: UserDataset | None) -> tuple[dict, str]:
    """The generator result of (name, seed) and its identity hash: the generator config's
    hash for a preset, the hash of the data and truth contents for a user's dataset."""
    if user is not None and name == user.name:
        result = load_dataset_files(user.data_file, user.truth_file)
        frames = (result["data"], result["ground_truth"]["contributions"])
        return result, hashlib.sha256("".join(map(_frame_hash, frames)).encode()).hexdigest()
    result = generate_mmm_dataset(get_preset_config(name, seed=seed))
    return result, config_hash(result["config"])


def materialise_dataset(
    output_dir: str | Path, name: str, seed: int, user: UserDataset | None = None
) -> DatasetRef:
    """Write (or reuse) the files of dataset ``name`` for ``seed``; return its reference.

    ``user``: the user's dataset files when ``name`` is theirs (else a preset is
    generated). The files are rewritten only when the dataset's hash changed.
    """
    folder = dataset_folder(output_dir, name, seed)
    result, digest = _dataset_result(name, seed, user)
    if _stored_hash(folder) != digest:
        result["ground_truth"]["dataset_hash"] = digest
        save_dataset(result, folder)
    return DatasetRef.from_frame(name, seed, digest, folder, result["data"])


def stored_dataset_ref(output_dir: str | Path, name: str, seed: int) -> DatasetRef:
    """The reference of a dataset already on disk (``--plots-only``: nothing is written)."""
    folder = dataset_folder(output_dir, name, seed)
    result = load_dataset(folder)
    return DatasetRef.from_frame(name, seed, _stored_hash(folder) or "0", folder, result["data"])
