"""Datasets on disk: exact round trips, malformed files rejected by name, canonical truth."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmm_param_recovery.benchmarking.metrics.truth import canonical_truth
from mmm_param_recovery.data_generator import (
    TransformConfig,
    customize_preset,
    generate_mmm_dataset,
    get_preset_config,
    load_dataset,
    load_dataset_files,
    save_dataset,
)
from mmm_param_recovery.errors import DatasetFormatError

TRUTH_FRAMES = ("contributions", "baseline", "control_effects", "noise")


@functools.cache
def small_dataset() -> dict[str, Any]:
    """20 weeks x 2 geos x 2 channels x 1 control (tests must not mutate it)."""
    config = customize_preset("basic", n_periods=20, **{"regions.n_regions": 2})
    return generate_mmm_dataset(config)


def read_back(directory: Path, fmt: str) -> dict[str, Any]:
    if fmt == "parquet":
        return load_dataset(directory)
    return load_dataset_files(directory / "data.csv", directory / "truth.csv",
                              directory / "truth.json")


@pytest.mark.parametrize("name", ["small_business", "multi_region", "large_business",
                                  "meridian_native"])
def test_csv_and_parquet_round_trips_give_identical_frames(name: str, tmp_path: Path) -> None:
    result = generate_mmm_dataset(get_preset_config(name))
    save_dataset(result, tmp_path / name)
    for fmt in ("parquet", "csv"):
        loaded = read_back(tmp_path / name, fmt)
        pd.testing.assert_frame_equal(loaded["data"], result["data"], check_exact=True)
        truth, original = loaded["ground_truth"], result["ground_truth"]
        for key in TRUTH_FRAMES:
            pd.testing.assert_frame_equal(truth[key], original[key], check_exact=True)
        for key in ("roas", "attribution_shares"):
            pd.testing.assert_frame_equal(truth[key], original[key], check_exact=True)
        for key in ("transform_parameters", "control_coefficients", "noise_scale",
                    "media_share"):
            assert truth[key] == original[key], key
        assert loaded["config"]["seed"] == 42
        assert len(loaded["config"]["channels"]) == len(result["config"].channels)


def write_pair(directory: Path, data: pd.DataFrame, truth: pd.DataFrame, fmt: str):
    paths = directory / f"data.{fmt}", directory / f"truth.{fmt}"
    for frame, path in zip((data, truth), paths, strict=True):
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    return paths


def with_value(column: str, row: int, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = frame[column].astype(object if isinstance(value, str) else float)
        frame.loc[row, column] = value
        return frame
    return mutate


MALFORMED = {  # id -> (formats, "data" or "truth", mutation, substrings of the message)
    "missing column": (("csv", "parquet"), "data", lambda f: f.drop(columns="y"),
                       ["missing columns ['y']"]),
    "no channel column": (("csv", "parquet"), "data",
                          lambda f: f.drop(columns=["x1_tv", "x2_search"]),
                          ["no channel column", "x{i}_{name}"]),
    "NaN": (("csv", "parquet"), "data", with_value("x1_tv", 3, np.nan),
            ["'x1_tv'", "1 missing/non-numeric/inf", "row 3"]),
    "text in a number column": (("csv",), "data", with_value("y", 2, "n/a"),
                                ["'y'", "missing/non-numeric"]),
    "negative spend": (("csv", "parquet"), "data", with_value("x2_search", 5, -10.0),
                       ["'x2_search'", "1 negative spend", "spend >= 0"]),
    "duplicated rows": (("csv", "parquet"), "data",
                        lambda f: pd.concat([f, f.iloc[[4]]]).sort_values(["date", "geo"]),
                        ["1 duplicated (date, geo) rows", "one row per (date, geo)"]),
    "unknown column": (("csv", "parquet"), "data", lambda f: f.assign(colour=1.0),
                       ["unknown columns ['colour']"]),
    "unsorted rows": (("csv", "parquet"), "data", lambda f: f.iloc[::-1],
                      ["not sorted by date, then geo"]),
    "a geo missing a week": (("csv", "parquet"), "data", lambda f: f.drop(index=7),
                             ["different numbers of rows", "every geo on every date"]),
    "not a date": (("csv",), "data", with_value("date", 0, "someday"),
                   ["'date'", "not dates"]),
    "population not positive": (("csv", "parquet"), "data", lambda f: f.assign(population=0.0),
                                ["'population'", "values <= 0", "> 0"]),
    "population changes": (("csv", "parquet"), "data",
                           lambda f: f.assign(population=np.arange(len(f)) + 1.0),
                           ["'population'", "changes over dates", "one population per geo"]),
    "truth rows differ": (("csv", "parquet"), "truth", lambda f: f.iloc[:-2],
                          ["(date, geo) rows differ"]),
    "truth dates shifted": (("csv", "parquet"), "truth",
                            lambda f: f.assign(date=f["date"] + pd.Timedelta(weeks=1)),
                            ["(date, geo) rows differ"]),
    "truth missing contribution": (("csv", "parquet"), "truth",
                                   lambda f: f.drop(columns="contribution_x2_search"),
                                   ["missing columns ['contribution_x2_search']"]),
    "truth NaN": (("csv", "parquet"), "truth", with_value("contribution_x1_tv", 0, np.nan),
                  ["'contribution_x1_tv'", "missing/non-numeric"]),
}
MALFORMED_CASES = [(case, fmt) for case, spec in MALFORMED.items() for fmt in spec[0]]


@pytest.mark.parametrize("case, fmt", MALFORMED_CASES)
def test_malformed_files_raise_naming_the_file_and_the_problem(
        case: str, fmt: str, tmp_path: Path) -> None:
    _, target, mutate, expected = MALFORMED[case]
    data = small_dataset()["data"]
    truth = small_dataset()["ground_truth"]["contributions"]
    frames = {"data": data, "truth": truth}
    frames[target] = mutate(frames[target])
    data_path, truth_path = write_pair(tmp_path, frames["data"], frames["truth"], fmt)
    with pytest.raises(DatasetFormatError) as error:
        load_dataset_files(data_path, truth_path)
    message = str(error.value)
    assert message.startswith(str(data_path if target == "data" else truth_path))
    assert all(part in message for part in expected), message


@pytest.mark.parametrize("broken, content, expected", [
    ("data.parquet", None, "file not found"),
    ("truth.parquet", None, "file not found"),
    ("data.parquet", b"PAR1 this is not parquet", "cannot be read as a table"),
    ("data.csv", b"\xff\xfe\x00\x81 not text", "cannot be read as a table"),
    ("data.csv", b"", "cannot be read as a table"),
    ("truth.json", b"{not json", "cannot be read as JSON"),
])
def test_missing_or_unreadable_files_raise(
        broken: str, content: bytes | None, expected: str, tmp_path: Path) -> None:
    directory = save_dataset(small_dataset(), tmp_path / "ds")
    (directory / broken).unlink()
    if content is not None:
        (directory / broken).write_bytes(content)
    fmt = "csv" if broken.endswith(".csv") else "parquet"
    with pytest.raises(DatasetFormatError) as error:
        read_back(directory, fmt)
    assert str(directory / broken) in str(error.value) and expected in str(error.value)


def test_loading_a_folder_that_does_not_exist_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="file not found"):
        load_dataset(tmp_path / "never_saved")


def folder_digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def test_saving_an_invalid_frame_writes_nothing_and_keeps_the_old_folder(
        tmp_path: Path) -> None:
    good = small_dataset()
    bad = {**good, "data": with_value("y", 0, np.nan)(good["data"])}
    with pytest.raises(DatasetFormatError, match="'y'"):
        save_dataset(bad, tmp_path / "fresh")
    assert list(tmp_path.iterdir()) == []
    existing = save_dataset(good, tmp_path / "existing")
    before = folder_digests(existing)
    with pytest.raises(DatasetFormatError):
        save_dataset(bad, existing)
    assert folder_digests(existing) == before
    assert [p.name for p in tmp_path.iterdir()] == ["existing"]


# --- canonical truth --------------------------------------------------------------------

def test_canonical_truth_coordinates_and_identities() -> None:
    result = small_dataset()
    data, truth = result["data"], result["ground_truth"]
    ds = canonical_truth(result)
    assert list(ds["channel"].values) == ["x1_tv", "x2_search"]
    assert list(ds["geo"].values) == ["geo_a", "geo_b"] and ds.sizes["date"] == 20
    y = data["y"].to_numpy().reshape(20, 2)
    noise = truth["noise"]["noise"].to_numpy().reshape(20, 2)
    np.testing.assert_array_equal(ds["y"].values, y)
    np.testing.assert_allclose(ds["mu"].values, y - noise, rtol=1e-12)
    non_media = (truth["baseline"]["baseline"] + truth["control_effects"].filter(
        like="effect_").sum(axis=1)).to_numpy().reshape(20, 2)
    np.testing.assert_allclose(ds["mu"].values,
                               non_media + ds["channel_contribution"].sum("channel").values,
                               rtol=1e-12)


def test_canonical_truth_roas_is_contribution_over_spend() -> None:
    result = small_dataset()
    data, truth = result["data"], result["ground_truth"]
    ds = canonical_truth(result)
    roas = truth["roas"].set_index(["geo", "channel"])["roas"]
    for channel in ("x1_tv", "x2_search"):
        expected = truth["contributions"][f"contribution_{channel}"].sum() / data[channel].sum()
        assert float(ds["roas"].sel(channel=channel)) == pytest.approx(expected, rel=1e-12)
        assert float(ds["roas"].sel(channel=channel)) == pytest.approx(
            roas[("overall", channel)], rel=1e-12)
        for geo in ("geo_a", "geo_b"):
            assert float(ds["roas_by_geo"].sel(geo=geo, channel=channel)) == pytest.approx(
                roas[(geo, channel)], rel=1e-12)
    shares = truth["attribution_shares"].set_index("channel")["share"]
    np.testing.assert_allclose(ds["attribution_share"].values, shares.to_numpy(), rtol=1e-12)


def test_canonical_truth_adstock_alpha_comes_from_the_parameters() -> None:
    config = customize_preset("basic", n_periods=20, **{
        "channels.0.transform.adstock_params": {"alpha": 0.37},
        "channels.1.transform": TransformConfig("weibull", {"lam": 2.0, "k": 1.5})})
    ds = canonical_truth(generate_mmm_dataset(config))
    assert float(ds["adstock_alpha"].sel(channel="x1_tv")) == 0.37
    assert np.isnan(float(ds["adstock_alpha"].sel(channel="x2_search")))
    assert ds["adstock_alpha"].attrs["adstock_normalized"] == 1


def test_canonical_truth_of_a_saved_dataset_equals_the_generated_one(tmp_path: Path) -> None:
    result = small_dataset()
    directory = save_dataset(result, tmp_path / "ds")
    expected = canonical_truth(result)
    for fmt in ("parquet", "csv"):
        loaded = canonical_truth(read_back(directory, fmt))
        assert loaded.identical(expected), fmt


def test_canonical_truth_of_a_users_dataset_has_no_mu_without_noise(tmp_path: Path) -> None:
    result = small_dataset()
    data_path, truth_path = write_pair(tmp_path, result["data"],
                                       result["ground_truth"]["contributions"], "csv")
    ds = canonical_truth(load_dataset_files(data_path, truth_path))
    assert "mu" not in ds and np.isnan(ds["adstock_alpha"].values).all()
    np.testing.assert_allclose(ds["roas"].values, canonical_truth(result)["roas"].values,
                               rtol=1e-12)
