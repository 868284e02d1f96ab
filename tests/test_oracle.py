"""Known-answer, simulation and edge-case tests of benchmarking.metrics.oracle."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from mmm_param_recovery.benchmarking.metrics.oracle import (
    Z_94,
    identified,
    noise_free_y,
    oracle_fit,
    oracle_rows,
    oracle_table,
)
from mmm_param_recovery.benchmarking.metrics.rows import IDENTITY
from mmm_param_recovery.data_generator import (
    customize_preset,
    generate_mmm_dataset,
    get_preset_config,
    list_available_presets,
    load_dataset,
    save_dataset,
)
from mmm_param_recovery.errors import DatasetFormatError, MMMBenchmarkError


def dataset(name: str, seed: int = 42, **overrides):
    config = customize_preset(name, seed=seed, **overrides) if overrides else \
        get_preset_config(name, seed=seed)
    return generate_mmm_dataset(config)


def copy_result(result):
    truth = {k: (v.copy() if isinstance(v, pd.DataFrame) else v)
             for k, v in result["ground_truth"].items()}
    return {"data": result["data"].copy(), "ground_truth": truth, "config": result["config"]}


def replace_contribution(result, channel: str, values: np.ndarray, rows=None):
    """A copy of ``result`` whose true contribution of ``channel`` is ``values`` on
    ``rows`` (a boolean mask of the long frame; all rows by default), with y changed by
    the same amount so that y = mu + noise still holds."""
    out = copy_result(result)
    rows = np.ones(len(out["data"]), bool) if rows is None else rows
    column = f"contribution_{channel}"
    old = out["ground_truth"]["contributions"][column].to_numpy(float)
    new = np.where(rows, values, old)
    out["ground_truth"]["contributions"][column] = new
    out["data"]["y"] = out["data"]["y"].to_numpy(float) + new - old
    return out


def simulated_y(result, rng: np.random.Generator) -> np.ndarray:
    """(date, geo) noise-free mean plus a fresh Gaussian draw with the true noise sd."""
    mu = noise_free_y(result)
    sigma = np.array([result["ground_truth"]["noise_scale"][g]
                      for g in pd.unique(result["data"]["geo"])])
    return mu + rng.normal(size=mu.shape) * sigma


# --- known answers -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["small_business", "growing_business", "multi_region"])
def test_noise_free_outcome_gives_multipliers_of_exactly_one(name):
    result = dataset(name)
    oracle = oracle_fit(result, y=noise_free_y(result))
    np.testing.assert_allclose(oracle["multiplier"], 1.0, rtol=0, atol=1e-8)
    np.testing.assert_allclose(oracle["multiplier_by_geo"], 1.0, rtol=0, atol=1e-8)
    np.testing.assert_allclose(oracle["roas_oracle"], oracle["roas_true"], rtol=1e-8)
    np.testing.assert_allclose(oracle["nuisance"], oracle["nuisance_true"], rtol=1e-8)
    roas = result["ground_truth"]["roas"]
    overall = roas[roas["geo"] == "overall"].set_index("channel")["roas"]
    np.testing.assert_allclose(oracle["roas_true"], overall.loc[oracle["channel"].values],
                               rtol=1e-12)
    assert oracle.attrs["y_source"] == "given y"


def test_observed_outcome_is_the_data_y_and_has_noise():
    result = dataset("small_business")
    oracle = oracle_fit(result)
    assert oracle.attrs["y_source"] == "data y"
    assert np.all(np.abs(oracle["multiplier"].values - 1.0) > 1e-4)
    np.testing.assert_allclose(oracle["roas_abs_rel_error"], abs(oracle["multiplier"] - 1))
    np.testing.assert_allclose(oracle["roas_rel_se"], oracle["multiplier_se"])
    np.testing.assert_allclose(oracle["roas_se"], oracle["multiplier_se"] * oracle["roas_true"])


def test_matches_a_dense_weighted_least_squares_fit():
    """The partialled-out solution equals (X' W X)^{-1} X' W y on the full design."""
    result = dataset("growing_business")
    oracle = oracle_fit(result)
    data, truth = result["data"], result["ground_truth"]
    geos = pd.unique(data["geo"])
    media = truth["contributions"].filter(like="contribution_").to_numpy(float)
    parts = np.column_stack([np.ones(len(data)), truth["baseline"]["trend"],
                             truth["baseline"]["seasonality"], data[["c1", "c2"]]])
    nuisance = np.column_stack([parts * (data["geo"] == g).to_numpy()[:, None] for g in geos])
    design = np.column_stack([media, nuisance])
    w = 1.0 / data["geo"].map(truth["noise_scale"]).to_numpy(float) ** 2
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    beta = cov @ design.T @ (w * data["y"].to_numpy(float))
    k = media.shape[1]
    np.testing.assert_allclose(oracle["multiplier"], beta[:k], rtol=1e-7)
    np.testing.assert_allclose(oracle["multiplier_se"], np.sqrt(np.diag(cov)[:k]), rtol=1e-7)


# --- the standard error, by simulation -------------------------------------------------


def test_standard_error_matches_the_spread_over_noise_redraws():
    result = dataset("small_business")
    se = oracle_fit(result)["multiplier_se"].values
    rng = np.random.default_rng(2024)
    n = 300
    draws = np.array([oracle_fit(result, y=simulated_y(result, rng))["multiplier"].values
                      for _ in range(n)])
    sd = draws.std(axis=0, ddof=1)
    np.testing.assert_allclose(sd / se, 1.0, atol=0.15)  # SD of an SD over 300 draws: ~4 %
    assert np.all(np.abs(draws.mean(axis=0) - 1.0) < 4 * se / math.sqrt(n))  # unbiased
    covered = (np.abs(draws - 1.0) <= Z_94 * se).mean(axis=0)
    binomial_se = math.sqrt(0.94 * 0.06 / n)
    np.testing.assert_allclose(covered, 0.94, atol=3.5 * binomial_se)


def test_noise_free_dataset_has_zero_standard_errors():
    oracle = oracle_fit(dataset("basic", noise_level=0.0))
    np.testing.assert_allclose(oracle["multiplier"], 1.0, atol=1e-8)
    np.testing.assert_array_equal(oracle["multiplier_se"], 0.0)
    assert identified(oracle).values.all()


# --- identifiability -------------------------------------------------------------------


def test_identified_flag_follows_the_threshold():
    oracle = oracle_fit(dataset("medium_business"))
    rel_se = oracle["roas_rel_se"].values
    assert rel_se.min() < 0.3 < rel_se.max()
    np.testing.assert_array_equal(identified(oracle).values, rel_se <= 0.3)
    middle = float(np.median(rel_se))
    np.testing.assert_array_equal(identified(oracle, middle).values, rel_se <= middle)
    assert identified(oracle, float(rel_se.max())).values.all()
    assert not identified(oracle, float(rel_se.min()) / 2).values.any()
    flags = {r["channel"]: r["value"] for r in oracle_rows(oracle, middle)
             if r["stat"] == "identified" and r["geo"] == "all"}
    assert list(flags.values()) == (rel_se <= middle).astype(float).tolist()
    by_geo = identified(oracle, by_geo=True)
    assert by_geo.dims == ("geo", "channel")
    np.testing.assert_array_equal(by_geo.values, oracle["roas_by_geo_rel_se"].values <= 0.3)
    for bad in (0.0, -1.0, math.nan, "0.3"):
        with pytest.raises(MMMBenchmarkError, match="threshold"):
            identified(oracle, bad)


def test_mean_error_over_identified_channels_uses_only_those():
    oracle = oracle_fit(dataset("medium_business"))
    rows = {(r["stat"], r["channel"]): r for r in oracle_rows(oracle)
            if r["quantity"] == "oracle_roas"}
    error, flags = oracle["roas_abs_rel_error"].values, identified(oracle).values
    assert rows[("mean_abs_rel_error", "all")]["value"] == pytest.approx(error.mean())
    assert rows[("mean_abs_rel_error_identified", "all")]["value"] == pytest.approx(
        error[flags].mean())
    assert rows[("mean_abs_rel_error_identified", "all")]["level"] == 0.3
    assert rows[("n_identified", "all")]["value"] == flags.sum()
    assert rows[("n_channels", "all")]["value"] == len(error)


# --- edge cases: zero channels, singular designs ----------------------------------------


def test_all_zero_channel_gives_nan_and_a_note():
    result = dataset("basic", **{"channels.1.effect": 0.0})
    oracle = oracle_fit(result, y=noise_free_y(result))
    zero, live = oracle.sel(channel="x2_search"), oracle.sel(channel="x1_tv")
    assert math.isnan(zero["multiplier"]) and math.isnan(zero["roas_rel_se"])
    assert "zero in every week" in zero["note"].item()
    assert float(live["multiplier"]) == pytest.approx(1.0, abs=1e-8)
    assert live["note"].item() == ""
    assert identified(oracle, threshold=10.0).values.tolist() == [True, False]
    rows = [r for r in oracle_rows(oracle) if r["channel"] == "x2_search"]
    assert rows and all("zero" in r["note"] for r in rows)
    assert all(math.isnan(r["value"]) for r in rows if r["stat"] in ("estimate", "rel_se"))
    overall = next(r for r in oracle_rows(oracle) if r["stat"] == "mean_abs_rel_error")
    assert overall["value"] == pytest.approx(0.0, abs=1e-8) and "1 channel" in overall["note"]
    table = oracle_table(oracle, "basic", 42, threshold=10.0)
    assert table["identified"].tolist() == [True, False]


def test_channel_without_spend_in_one_geo_is_nan_only_there():
    result = dataset("multi_region")
    rows = (result["data"]["geo"] == "geo_a").to_numpy()
    result = replace_contribution(result, "x1_tv", 0.0, rows)
    oracle = oracle_fit(result, y=noise_free_y(result))
    cell = oracle.sel(geo="geo_a", channel="x1_tv")
    assert math.isnan(cell["multiplier_by_geo"]) and "geo_a" in cell["note_by_geo"].item()
    others = oracle["multiplier_by_geo"].drop_sel(geo="geo_a")
    np.testing.assert_allclose(others, 1.0, atol=1e-8)
    np.testing.assert_allclose(oracle["multiplier"], 1.0, atol=1e-8)


def test_collinear_channels_are_nan_and_the_rest_still_exact():
    result = dataset("seasonal")
    tv = result["ground_truth"]["contributions"]["contribution_x1_tv"].to_numpy(float)
    result = replace_contribution(result, "x2_search", 2.0 * tv)
    oracle = oracle_fit(result, y=noise_free_y(result))
    for channel in ("x1_tv", "x2_search"):
        assert math.isnan(oracle["multiplier"].sel(channel=channel))
        assert "collinear with other channels" in oracle["note"].sel(channel=channel).item()
    assert float(oracle["multiplier"].sel(channel="x3_social")) == pytest.approx(1.0, abs=1e-8)
    assert np.isfinite(oracle["multiplier_se"].sel(channel="x3_social"))


def test_channel_in_the_baseline_span_is_not_identifiable():
    result = dataset("basic")
    trend = result["ground_truth"]["baseline"]["trend"].to_numpy(float)
    result = replace_contribution(result, "x2_search", 0.1 * trend + 500.0)
    oracle = oracle_fit(result, y=noise_free_y(result))
    assert math.isnan(oracle["multiplier"].sel(channel="x2_search"))
    assert "span of the baseline" in oracle["note"].sel(channel="x2_search").item()
    assert float(oracle["multiplier"].sel(channel="x1_tv")) == pytest.approx(1.0, abs=1e-8)


def test_zero_trend_makes_a_rank_deficient_baseline_without_harm():
    result = dataset("small_business", trend_growth=0.0)
    oracle = oracle_fit(result, y=noise_free_y(result))
    np.testing.assert_allclose(oracle["multiplier"], 1.0, atol=1e-8)
    assert math.isnan(oracle["nuisance"].sel(term="trend").item())
    assert oracle["nuisance"].sel(term="seasonality").item() == pytest.approx(1.0)


def test_a_saved_and_loaded_dataset_gives_the_same_fit(tmp_path):
    result = dataset("growing_business")
    loaded = load_dataset(save_dataset(result, tmp_path / "growing"))
    before, after = oracle_fit(result), oracle_fit(loaded)
    for name in ("multiplier", "multiplier_se", "roas_true", "multiplier_by_geo_se"):
        np.testing.assert_allclose(after[name], before[name], rtol=1e-10)


def test_missing_truth_parts_raise_a_named_error():
    result = copy_result(dataset("basic"))
    del result["ground_truth"]["noise_scale"]
    with pytest.raises(DatasetFormatError, match="noise_scale"):
        oracle_fit(result)
    with pytest.raises(DatasetFormatError, match="shape"):
        oracle_fit(dataset("basic"), y=np.zeros((3, 1)))


# --- every preset, rows and table ------------------------------------------------------


@pytest.mark.parametrize("name", list_available_presets())
def test_runs_on_every_preset(name):
    result = dataset(name)
    start = time.perf_counter()
    oracle = oracle_fit(result)
    seconds = time.perf_counter() - start
    assert seconds < 2.0
    assert np.isfinite(oracle["multiplier_se"]).all() and (oracle["multiplier_se"] > 0).all()
    assert np.isfinite(oracle["multiplier_by_geo_se"]).all()
    rows = oracle_rows(oracle)
    identities = [tuple(r[k] for k in IDENTITY) for r in rows]
    assert len(identities) == len(set(identities))
    n_channels, n_geos = oracle.sizes["channel"], oracle.sizes["geo"]
    assert len(rows) == 8 * n_channels * (1 + n_geos) + 4
    table = oracle_table(oracle, name, 42)
    assert len(table) == n_channels and table["dataset"].eq(name).all()
    assert {"roas_true", "roas_oracle", "roas_rel_se", "identified", "note"} <= set(table)
