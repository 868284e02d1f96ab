"""Checks of observed and truth frames: every problem found is reported at once."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mmm_param_recovery.errors import DatasetFormatError

CHANNEL_COLUMN = re.compile(r"^x\d+_[A-Za-z][A-Za-z0-9]*$")
CONTROL_COLUMN = re.compile(r"^c\d+$")
KEY_COLUMNS = ("date", "geo")


def channel_columns(frame: pd.DataFrame) -> list[str]:
    """Channel spend columns ``x{i}_{name}`` in their order in the frame."""
    return [c for c in frame.columns if CHANNEL_COLUMN.match(str(c))]


def control_columns(frame: pd.DataFrame) -> list[str]:
    """Control columns ``c{k}`` in their order in the frame."""
    return [c for c in frame.columns if CONTROL_COLUMN.match(str(c))]


def validate_data_frame(data: pd.DataFrame, source: str = "data") -> None:
    """Raise DatasetFormatError listing every way ``data`` breaks the observed format."""
    problems = _missing_columns(data, [*KEY_COLUMNS, "y"])
    channels = channel_columns(data)
    if not channels:
        problems.append("no channel column; allowed: columns named x{i}_{name}, e.g. x1_tv")
    known = {*KEY_COLUMNS, "y", *channels, *control_columns(data)}
    unknown = [c for c in data.columns if c not in known]
    if unknown:
        problems.append(
            f"unknown columns {unknown}; allowed: date, geo, y, x{{i}}_{{name}}, c{{k}}")
    if not problems:
        problems += _value_problems(data, channels, ["y", *channels, *control_columns(data)])
    _raise_if(problems, source)


def validate_truth_frame(truth: pd.DataFrame, data: pd.DataFrame, source: str = "truth") -> None:
    """Raise DatasetFormatError unless ``truth`` has a contribution column per channel of
    ``data``, on exactly the same (date, geo) rows, with finite values."""
    expected = [f"contribution_{c}" for c in channel_columns(data)]
    problems = _missing_columns(truth, [*KEY_COLUMNS, *expected])
    if not problems:
        problems += _value_problems(truth, [], expected)
        truth_keys = truth[list(KEY_COLUMNS)].reset_index(drop=True)
        data_keys = data[list(KEY_COLUMNS)].reset_index(drop=True)
        if len(truth_keys) != len(data_keys) or not truth_keys.equals(data_keys):
            problems.append("(date, geo) rows differ from the data file's; allowed: the same "
                            "rows in the same order (sorted by date, then geo)")
    _raise_if(problems, source)


def _missing_columns(frame: pd.DataFrame, required: list[str]) -> list[str]:
    missing = [c for c in required if c not in frame.columns]
    return [f"missing columns {missing}"] if missing else []


def _value_problems(frame: pd.DataFrame, spend: list[str], numeric: list[str]) -> list[str]:
    problems = []
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            problems.append(f"column {column!r}: {int(bad.sum())} missing/non-numeric/inf values "
                            f"(first at row {int(np.argmax(bad))}); allowed: finite numbers")
        if column in spend and (values < 0).any():
            problems.append(f"column {column!r}: {int((values < 0).sum())} negative spend values "
                            f"(min {np.nanmin(values):g}); allowed: spend >= 0")
    if frame[list(KEY_COLUMNS)].isna().any().any():
        problems.append("date/geo: missing values; allowed: a date and a geo on every row")
    duplicated = frame.duplicated(list(KEY_COLUMNS))
    if duplicated.any():
        first = frame.loc[duplicated, list(KEY_COLUMNS)].iloc[0].tolist()
        problems.append(f"{int(duplicated.sum())} duplicated (date, geo) rows, first {first}; "
                        "allowed: one row per (date, geo)")
    return problems + _panel_problems(frame)


def _panel_problems(frame: pd.DataFrame) -> list[str]:
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        return [f"column 'date': {int(dates.isna().sum())} values that are not dates"]
    counts = frame.groupby("geo").size()
    if counts.nunique() > 1:
        return [f"geos have different numbers of rows {counts.to_dict()}; allowed: every geo on "
                "every date"]
    order = pd.DataFrame({"date": dates, "geo": frame["geo"].astype(str)})
    if not order.equals(order.sort_values(["date", "geo"])):
        return ["rows are not sorted by date, then geo"]
    return []


def _raise_if(problems: list[str], source: str) -> None:
    if problems:
        raise DatasetFormatError(f"{source}: " + "; ".join(problems))
