"""Checks of observed and truth frames: every problem found is reported at once.

Two levels:

- ``validate_data_frame`` / ``validate_truth_frame``: the file format (docs/architecture.md),
  checked on every save and load: the columns (``x{i}_{name}`` with a name that has no
  ``_`` — letters of any case, digits, hyphens... — and a unique index ``i``; ``c{k}``),
  numeric dtypes (no text, no booleans), finite values of magnitude below
  ``MAX_MAGNITUDE``, spend >= 0, one row per (date, geo) sorted by date then geo, and
  every geo observed on the same dates, which lie on one regular weekly grid (one date
  every 7 days, no gaps: weekly data is the only frequency supported).
- ``validate_fittable``: what a model needs on top (checked when a dataset is loaded for
  the benchmark): at least ``MIN_DATES`` weeks, a KPI that is not all zero or constant,
  every channel spending something, every geo spending something, no control that is
  constant over time in every geo.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from mmm_param_recovery.errors import DatasetFormatError

CHANNEL_COLUMN = re.compile(r"^x(\d+)_([^_]+)$")
CONTROL_COLUMN = re.compile(r"^c(\d+)$")
KEY_COLUMNS = ("date", "geo")
POPULATION = "population"
"""Optional column: people per geo, positive and the same on every date of a geo."""
MAX_MAGNITUDE = 1e15
"""Largest |value| accepted in a number column (y, spend, controls, truth): far above any
real KPI, far below where sums of squares overflow float64."""
MIN_DATES = 9
"""Fewest weekly dates a dataset may have: the adstock window of both libraries (lags
0..8 weeks) plus nothing less."""
WEEK = pd.Timedelta(days=7)
_CONSTANT_RTOL = 1e-12


def channel_columns(frame: pd.DataFrame) -> list[str]:
    """Channel spend columns ``x{i}_{name}`` in their order in the frame."""
    return [c for c in frame.columns if CHANNEL_COLUMN.match(str(c))]


def control_columns(frame: pd.DataFrame) -> list[str]:
    """Control columns ``c{k}`` in their order in the frame."""
    return [c for c in frame.columns if CONTROL_COLUMN.match(str(c))]


def validate_data_frame(data: pd.DataFrame, source: str = "data") -> None:
    """Raise DatasetFormatError listing every way ``data`` breaks the observed format."""
    problems = _duplicate_columns(data) + _missing_columns(data, [*KEY_COLUMNS, "y"])
    channels, controls = channel_columns(data), control_columns(data)
    if not channels:
        problems.append("no channel column; allowed: columns named x{i}_{name}, e.g. x1_tv "
                        "or x2_Paid-Search (no '_' in the name)")
    known = {*KEY_COLUMNS, "y", POPULATION, *channels, *controls}
    unknown = [c for c in data.columns if c not in known]
    if unknown:
        problems.append(
            f"unknown columns {unknown}; allowed: date, geo, y, x{{i}}_{{name}} (name without "
            "'_'), c{k}, population")
    problems += _duplicate_indices(channels, CHANNEL_COLUMN, "channel")
    problems += _duplicate_indices(controls, CONTROL_COLUMN, "control")
    population = [POPULATION] if POPULATION in data.columns else []
    if not problems:
        problems += _value_problems(data, channels, ["y", *channels, *controls, *population])
    if not problems and population:
        problems += _population_problems(data)
    _raise_if(problems, source)


def _population_problems(data: pd.DataFrame) -> list[str]:
    """Why the ``population`` column is not one positive number per geo."""
    values = data[POPULATION].to_numpy(dtype=float)
    if (values <= 0).any():
        return [f"column 'population': {int((values <= 0).sum())} values <= 0 (min "
                f"{values.min():g}); allowed: people per geo, > 0"]
    varying = data.groupby("geo", sort=True)[POPULATION].nunique()
    varying = varying[varying > 1].index.tolist()
    if varying:
        return [f"column 'population': changes over dates in geo(s) {varying}; allowed: one "
                "population per geo, the same on every date"]
    return []


def validate_truth_frame(truth: pd.DataFrame, data: pd.DataFrame, source: str = "truth") -> None:
    """Raise DatasetFormatError unless ``truth`` has a contribution column per channel of
    ``data``, on exactly the same (date, geo) rows, with finite numbers in every column."""
    expected = [f"contribution_{c}" for c in channel_columns(data)]
    problems = _duplicate_columns(truth) + _missing_columns(truth, [*KEY_COLUMNS, *expected])
    if not problems:
        numeric = [c for c in truth.columns if c not in KEY_COLUMNS]
        problems += _value_problems(truth, [], numeric)
        truth_keys = truth[list(KEY_COLUMNS)].reset_index(drop=True)
        data_keys = data[list(KEY_COLUMNS)].reset_index(drop=True)
        if len(truth_keys) != len(data_keys) or not truth_keys.equals(data_keys):
            problems.append("(date, geo) rows differ from the data file's; allowed: the same "
                            "rows in the same order (sorted by date, then geo)")
    _raise_if(problems, source)


def validate_fittable(data: pd.DataFrame, source: str = "data") -> None:
    """Raise DatasetFormatError for a well-formed frame no model can be fitted to (call
    after ``validate_data_frame``): too few weeks, a KPI that is all zero or constant, a
    channel that never spends, a geo with no spend at all, a control constant over time
    in every geo."""
    problems = []
    n_dates = int(pd.to_datetime(data["date"]).nunique())
    if n_dates < MIN_DATES:
        problems.append(f"column 'date': {n_dates} weekly date(s) ({len(data)} rows) is too "
                        f"few; allowed: at least {MIN_DATES} weeks (the adstock window)")
    y = data["y"].to_numpy(dtype=float)
    if len(y) and np.all(y == 0):
        problems.append("column 'y': every value is 0; allowed: a KPI that is not all zero")
    elif len(y) and np.ptp(y) <= _CONSTANT_RTOL * max(float(np.abs(y).max()), 1.0):
        problems.append(f"column 'y': every value is {y[0]:g}; allowed: a KPI that varies")
    channels = channel_columns(data)
    spend = data[channels].astype(float)
    silent = [c for c in channels if not (spend[c] > 0).any()]
    if silent:
        problems.append(f"channel(s) {silent} never spend (total spend 0); allowed: channels "
                        "with some spend (drop the column)")
    by_geo = spend.groupby(data["geo"], sort=False).sum().sum(axis=1)
    idle = [str(g) for g in by_geo.index[by_geo <= 0]]
    if idle:
        problems.append(f"geo(s) {idle[:10]} have zero spend on every channel and date; "
                        "allowed: geos with some spend (drop the geo)")
    problems += _constant_controls(data)
    _raise_if(problems, source)


def _constant_controls(data: pd.DataFrame) -> list[str]:
    controls = control_columns(data)
    if not controls:
        return []
    values = data[controls].astype(float)
    spread = values.groupby(data["geo"], sort=False).std(ddof=0).fillna(0.0)
    level = values.abs().max()
    constant = [c for c in controls
                if bool(np.all(spread[c].to_numpy() <= _CONSTANT_RTOL * max(float(level[c]), 1.0)))]
    if not constant:
        return []
    return [f"control(s) {constant} are constant over time in every geo; allowed: controls "
            "that vary (a constant is collinear with the intercept: drop the column)"]


def _duplicate_columns(frame: pd.DataFrame) -> list[str]:
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    return [f"duplicated columns {duplicated}; allowed: each column once"] if duplicated else []


def _duplicate_indices(columns: list[str], pattern: re.Pattern, kind: str) -> list[str]:
    index = {c: int(pattern.match(str(c)).group(1)) for c in columns}
    counts = Counter(index.values())
    clashes = [c for c in columns if counts[index[c]] > 1]
    if not clashes:
        return []
    return [f"{kind} columns {clashes} share an index; allowed: a distinct index per {kind}"]


def _missing_columns(frame: pd.DataFrame, required: list[str]) -> list[str]:
    missing = [c for c in required if c not in frame.columns]
    return [f"missing columns {missing}"] if missing else []


def _dtype_problem(column: str, series: pd.Series) -> str | None:
    """Why ``series`` is not a column of numbers (text, booleans, dates...), else None."""
    if pd.api.types.is_bool_dtype(series):
        return (f"column {column!r}: booleans (dtype {series.dtype}) are invalid; allowed: "
                "numbers (int or float)")
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_complex_dtype(series):
        return None
    text = series.dropna()
    text = text[pd.to_numeric(text, errors="coerce").isna()] if len(text) else text
    first = f", first {text.iloc[0]!r} at row {text.index[0]}" if len(text) else ""
    return (f"column {column!r}: dtype {series.dtype} (not numbers{first}) is invalid; "
            "allowed: numbers (int or float), not text")


def _value_problems(frame: pd.DataFrame, spend: list[str], numeric: list[str]) -> list[str]:
    problems = []
    for column in numeric:
        series = frame[column]
        problem = _dtype_problem(column, series)
        if problem is not None:
            problems.append(problem)
            continue
        values = series.to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            problems.append(f"column {column!r}: {int(bad.sum())} missing/non-numeric/inf values "
                            f"(first at row {int(np.argmax(bad))}); allowed: finite numbers")
        huge = np.abs(np.where(bad, 0.0, values)) >= MAX_MAGNITUDE
        if huge.any():
            problems.append(f"column {column!r}: {int(huge.sum())} values of magnitude >= "
                            f"{MAX_MAGNITUDE:g} (largest {np.nanmax(np.abs(values[~bad])):g}); "
                            f"allowed: |value| < {MAX_MAGNITUDE:g}")
        if column in spend and (values < 0).any():
            problems.append(f"column {column!r}: {int((values < 0).sum())} negative spend values "
                            f"(min {np.nanmin(values):g}); allowed: spend >= 0")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        problems.append(f"column 'date': {int(dates.isna().sum())} values that are not dates "
                        f"(first at row {int(np.argmax(dates.isna().to_numpy()))}); allowed: "
                        "dates such as 2024-01-01")
    if frame["geo"].isna().any():
        problems.append("column 'geo': missing values; allowed: a geo on every row")
    if dates.isna().any() or frame["geo"].isna().any():
        return problems
    duplicated = frame.duplicated(list(KEY_COLUMNS))
    if duplicated.any():
        first = frame.loc[duplicated, list(KEY_COLUMNS)].iloc[0].tolist()
        problems.append(f"{int(duplicated.sum())} duplicated (date, geo) rows, first {first}; "
                        "allowed: one row per (date, geo)")
    return problems + _panel_problems(frame)


def _panel_problems(frame: pd.DataFrame) -> list[str]:
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if getattr(dates.dt, "tz", None) is not None:
        return [f"column 'date': time-zone aware dates ({dates.dt.tz}) are invalid; allowed: "
                "plain dates such as 2024-01-01"]
    geos = frame["geo"].astype(str)
    counts = frame.groupby(geos).size()
    if counts.nunique() > 1:
        return [f"geos have different numbers of rows {counts.to_dict()}; allowed: every geo on "
                "every date"]
    grid = np.sort(dates.unique())
    for geo, geo_dates in dates.groupby(geos, sort=False):
        if not np.array_equal(np.sort(geo_dates.unique()), grid):
            other = np.setdiff1d(grid, geo_dates.unique())[:1]
            return [f"geo {geo!r} is not observed on the dates the other geos are (e.g. "
                    f"{pd.Timestamp(other[0]).date() if len(other) else '?'}); allowed: every "
                    "geo on the same dates"]
    order = pd.DataFrame({"date": dates, "geo": geos})
    if not order.equals(order.sort_values(["date", "geo"])):
        return ["rows are not sorted by date, then geo"]
    steps = np.diff(grid)
    irregular = np.flatnonzero(steps != WEEK.to_timedelta64())
    if irregular.size:
        i = int(irregular[0])
        days = sorted({pd.Timedelta(step).total_seconds() / 86400 for step in steps})
        return [f"column 'date': not one weekly grid (steps of {days[:5]} days; first "
                f"irregular step {pd.Timestamp(grid[i]).date()} -> "
                f"{pd.Timestamp(grid[i + 1]).date()}); allowed: weekly data, one date every 7 "
                "days without gaps (daily or monthly data: aggregate it to weeks)"]
    return []


def _raise_if(problems: list[str], source: str) -> None:
    if problems:
        raise DatasetFormatError(f"{source}: " + "; ".join(problems))
