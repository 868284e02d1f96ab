"""Datasets on disk in open formats, and the loader users bring their own data through.

A dataset folder holds:

- ``data.parquet`` and ``data.csv``: date, geo, y, x{i}_{name}, c{k} (one row per date, geo)
- ``truth.parquet`` and ``truth.csv``: date, geo, contribution_x{i}_{name}; generated
  datasets add the baseline parts, effect_c{k} and noise
- ``truth.json``: truth parameters (transform parameters, ROAS, shares, control
  coefficients, noise scale, media share) and the generator config
- ``manifest.json``: ``{"files": {name: {"sha256", "bytes"}}}`` of the five files above;
  ``load_dataset`` refuses a folder whose files differ from it (edited or corrupted)

Writes are atomic: the folder is written under ``.{name}.tmp-{pid}-{random}`` and renamed
into place complete, or not at all (a killed writer's staging folder is removed by the
benchmark's next run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_param_recovery.errors import DatasetFormatError

from .validation import (
    KEY_COLUMNS,
    channel_columns,
    control_columns,
    validate_data_frame,
    validate_fittable,
    validate_truth_frame,
)

__all__ = ["save_dataset", "load_dataset", "load_dataset_files", "config_to_dict",
           "channel_columns", "control_columns"]

_TRUTH_FRAMES = ("contributions", "baseline", "control_effects", "noise")
_TRUTH_TABLES = ("roas", "attribution_shares")
MANIFEST = "manifest.json"
DATASET_FILES = ("data.parquet", "data.csv", "truth.parquet", "truth.csv", "truth.json")
READABLE_SUFFIXES = (".csv", ".parquet")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a generator config (callables by their qualified name)."""
    if config is None or isinstance(config, dict):
        return dict(config or {})
    return _encode(config)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if callable(value):
        return f"<callable {getattr(value, '__qualname__', repr(value))}>"
    return value


def save_dataset(result: dict[str, Any], directory: str | Path) -> Path:
    """Write ``result`` (as returned by generate_mmm_dataset) to ``directory`` atomically."""
    data, truth_frame = result["data"], _truth_frame(result["ground_truth"])
    validate_data_frame(data)
    validate_truth_frame(truth_frame, data)
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(
        f".{directory.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    staging.mkdir()
    try:
        for name, frame in (("data", data), ("truth", truth_frame)):
            frame.to_parquet(staging / f"{name}.parquet", index=False)
            frame.to_csv(staging / f"{name}.csv", index=False, date_format="%Y-%m-%d")
        (staging / "truth.json").write_text(json.dumps(_truth_params(result), indent=2))
        manifest = {"files": {name: _checksum(staging / name) for name in DATASET_FILES}}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _truth_frame(ground_truth: dict[str, Any]) -> pd.DataFrame:
    frames = [ground_truth[k] for k in _TRUTH_FRAMES if k in ground_truth]
    merged = frames[0]
    for frame in frames[1:]:
        merged = merged.merge(frame, on=list(KEY_COLUMNS), how="left", validate="1:1")
    return merged


def _truth_params(result: dict[str, Any]) -> dict[str, Any]:
    truth = result["ground_truth"]
    params = {k: v for k, v in truth.items() if k not in (*_TRUTH_FRAMES, *_TRUTH_TABLES)}
    params.update({k: truth[k].to_dict(orient="records") for k in _TRUTH_TABLES if k in truth})
    params["config"] = config_to_dict(result.get("config"))
    return params


def _checksum(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def dataset_checksum_problem(directory: str | Path, require: bool = False) -> str | None:
    """Why the files of the dataset folder differ from its manifest.json (None when they
    match, or when there is no manifest and ``require`` is False)."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = manifest["files"]
    except FileNotFoundError:
        return f"{directory / MANIFEST}: file not found" if require else None
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{directory / MANIFEST}: unreadable ({error})"
    for name in DATASET_FILES:
        try:
            actual = _checksum(directory / name)
        except OSError:
            return f"{directory / name}: file not found"
        if files.get(name) != actual:
            return (f"{directory / name}: its content differs from the sha256 recorded in "
                    f"{MANIFEST} (edited or corrupted after it was written)")
    return None


def load_dataset(directory: str | Path) -> dict[str, Any]:
    """Load a dataset folder written by save_dataset; validated like a user's files, and
    refused (DatasetFormatError) when a file differs from its checksum in manifest.json."""
    directory = Path(directory)
    result = load_dataset_files(
        directory / "data.parquet", directory / "truth.parquet", directory / "truth.json"
    )
    problem = dataset_checksum_problem(directory)
    if problem is not None:
        raise DatasetFormatError(f"{problem}; allowed: the files as save_dataset wrote them "
                                 "(delete the folder to have it written again)")
    return result


def load_dataset_files(
    data_path: str | Path, truth_path: str | Path, params_path: str | Path | None = None
) -> dict[str, Any]:
    """Load and validate a data file and a truth file (CSV or Parquet) and optional
    truth JSON; return ``{"data", "ground_truth", "config"}`` like the generator (with
    ``config`` as a plain dict, empty for a user's dataset without one).

    Raises DatasetFormatError naming the file and every problem in it, including data
    no model can be fitted to (``validation.validate_fittable``).
    """
    data = _read_frame(data_path)
    validate_data_frame(data, source=str(data_path))
    validate_fittable(data, source=str(data_path))
    truth = _read_frame(truth_path)
    validate_truth_frame(truth, data, source=str(truth_path))
    params = _read_params(params_path) if params_path is not None else {}
    ground_truth = _split_truth(truth)
    ground_truth.update({k: v for k, v in params.items() if k not in (*_TRUTH_TABLES, "config")})
    for key in _TRUTH_TABLES:
        if key in params:
            ground_truth[key] = pd.DataFrame(params[key])
    return {"data": data, "ground_truth": ground_truth, "config": params.get("config", {})}


def _read_frame(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: file not found; allowed: an existing .csv or .parquet")
    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise DatasetFormatError(f"{path}: suffix {path.suffix!r} is invalid; allowed: "
                                 f"{', '.join(READABLE_SUFFIXES)}")
    try:
        frame = (pd.read_parquet(path) if path.suffix == ".parquet"
                 else pd.read_csv(path, float_precision="round_trip"))
    except (OSError, ValueError) as error:
        raise DatasetFormatError(f"{path}: cannot be read as a table ({error})") from error
    if frame.columns.duplicated().any():
        return frame  # validation names the duplicated columns
    if "date" in frame.columns:
        try:
            frame["date"] = pd.to_datetime(frame["date"], errors="coerce", format="ISO8601")
        except (TypeError, ValueError, OverflowError):
            frame["date"] = pd.NaT
    if "geo" in frame.columns:
        frame["geo"] = frame["geo"].where(frame["geo"].isna(), frame["geo"].astype(str))
    return frame


def _read_params(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise DatasetFormatError(f"{path}: cannot be read as JSON ({error})") from error


def _split_truth(truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    keys = list(KEY_COLUMNS)
    groups = {
        "contributions": [c for c in truth.columns if c.startswith("contribution_")],
        "baseline": [c for c in ("intercept", "trend", "seasonality", "baseline")
                     if c in truth.columns],
        "control_effects": [c for c in truth.columns if c.startswith("effect_")],
        "noise": ["noise"] if "noise" in truth.columns else [],
    }
    return {name: truth[keys + cols].copy() for name, cols in groups.items() if cols}
