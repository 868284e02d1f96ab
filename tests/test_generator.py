"""The data generator: determinism, exact decomposition, presets, patterns, errors, plots."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

from mmm_param_recovery.data_generator import (
    ChannelConfig,
    MMMDataConfig,
    RegionConfig,
    TransformConfig,
    channel_column_names,
    control_column_names,
    customize_preset,
    generate_mmm_dataset,
    get_preset_config,
    list_available_presets,
    load_dataset_files,
    plot_contributions,
    plot_decomposition,
    plot_saturation_curves,
    plot_spend,
    save_dataset,
)
from mmm_param_recovery.data_generator.regions import PEOPLE_PER_UNIT
from mmm_param_recovery.errors import ConfigError, DatasetFormatError

PRESETS = list_available_presets()
SIZES = {  # periods, geos, channels, controls
    "small_business": (104, 1, 4, 2), "growing_business": (131, 2, 6, 2),
    "medium_business": (156, 8, 8, 4), "large_business": (208, 50, 30, 10),
    "basic": (104, 1, 2, 0), "seasonal": (104, 1, 3, 1), "multi_region": (104, 5, 3, 1),
    "shared_dgp": (104, 1, 4, 2), "pymc_native": (104, 3, 4, 2),
    "meridian_native": (104, 5, 3, 1),
}
TRUTH_KEYS = {"contributions", "baseline", "control_effects", "noise", "transform_parameters",
              "roas", "attribution_shares", "control_coefficients", "noise_scale", "media_share"}


@functools.cache
def generated(name: str, seed: int = 42) -> dict[str, Any]:
    """A preset's dataset, generated once per test session (tests must not mutate it)."""
    return generate_mmm_dataset(get_preset_config(name, seed=seed))


def folder_digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def truth_columns(result: dict[str, Any], frame: str, prefix: str) -> np.ndarray:
    table = result["ground_truth"][frame]
    return table[[c for c in table.columns if c.startswith(prefix)]].to_numpy()


def single_channel_config(n_periods: int = 60, **channel: Any) -> MMMDataConfig:
    return MMMDataConfig(n_periods=n_periods, channels=(ChannelConfig("tv", **channel),))


# --- determinism and randomness ---------------------------------------------------------

def test_same_seed_gives_byte_identical_files_in_a_new_process(tmp_path: Path) -> None:
    names = ["medium_business", "large_business"]
    script = (
        "import sys\n"
        "from mmm_param_recovery.data_generator import generate_mmm_dataset, "
        "get_preset_config, save_dataset\n"
        "for name in sys.argv[2:]:\n"
        "    save_dataset(generate_mmm_dataset(get_preset_config(name, seed=7)), "
        "f'{sys.argv[1]}/{name}')\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "child"), *names],
                   check=True, env=env, cwd=Path(__file__).parents[1])
    for name in names:
        save_dataset(generate_mmm_dataset(get_preset_config(name, seed=7)), tmp_path / name)
        ours, theirs = folder_digests(tmp_path / name), folder_digests(tmp_path / "child" / name)
        assert set(ours) == {"data.csv", "data.parquet", "truth.csv", "truth.parquet",
                             "truth.json", "manifest.json"}
        assert ours == theirs


@pytest.mark.parametrize("name", ["small_business", "multi_region", "large_business"])
def test_a_different_seed_gives_different_data(name: str) -> None:
    first, second = generated(name, 42)["data"], generated(name, 43)["data"]
    assert first[["date", "geo"]].equals(second[["date", "geo"]])
    assert not np.any(np.isclose(first["y"], second["y"], rtol=1e-12, atol=0))


def test_generation_leaves_global_random_state_alone() -> None:
    np.random.seed(2024)
    random.seed(2024)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    for name in PRESETS:
        generate_mmm_dataset(get_preset_config(name, seed=3))
    after = np.random.get_state()
    assert random.getstate() == python_state
    assert after[0] == numpy_state[0] and after[2:] == numpy_state[2:]
    np.testing.assert_array_equal(after[1], numpy_state[1])


# --- presets ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", PRESETS)
def test_y_is_exactly_the_sum_of_its_parts(name: str) -> None:
    result = generated(name)
    parts = (truth_columns(result, "baseline", "baseline").sum(axis=1)
             + truth_columns(result, "control_effects", "effect_c").sum(axis=1)
             + truth_columns(result, "contributions", "contribution_x").sum(axis=1)
             + truth_columns(result, "noise", "noise").sum(axis=1))
    np.testing.assert_allclose(parts, result["data"]["y"].to_numpy(), rtol=1e-9, atol=0)


def test_presets_have_the_reference_sizes() -> None:
    assert sorted(PRESETS) == sorted(SIZES)
    for name, (periods, geos, channels, controls) in SIZES.items():
        config, data = get_preset_config(name), generated(name)["data"]
        assert (config.n_periods, config.regions.n_regions) == (periods, geos), name
        assert (len(config.channels), len(config.controls)) == (channels, controls), name
        assert (data["date"].nunique(), data["geo"].nunique(), len(data)) == (
            periods, geos, periods * geos), name
        assert len(channel_column_names(config)) == channels, name


@pytest.mark.parametrize("seed", [42, 1])
@pytest.mark.parametrize("name", PRESETS)
def test_presets_have_realistic_roas_and_media_share(name: str, seed: int) -> None:
    truth = generated(name, seed)["ground_truth"]
    overall = truth["roas"].loc[truth["roas"]["geo"] == "overall", "roas"]
    assert len(overall) == SIZES[name][2]
    assert overall.between(0.2, 10.0).all(), overall.describe()
    assert 0.10 <= truth["media_share"] <= 0.50


@pytest.mark.parametrize("name", PRESETS)
def test_data_frame_layout(name: str) -> None:
    config, data = get_preset_config(name), generated(name)["data"]
    population = ["population"] if config.regions.population_variation else []
    assert list(data.columns) == ["date", "geo", *channel_column_names(config),
                                  *control_column_names(config), "y", *population]
    assert all(c == f"x{i}_{ch.name}" for i, (c, ch) in
               enumerate(zip(channel_column_names(config), config.channels, strict=True), 1))
    assert isinstance(data.index, pd.RangeIndex)
    assert data.equals(data.sort_values(["date", "geo"]).reset_index(drop=True))
    assert data["date"].dtype == "datetime64[ns]" and data["geo"].dtype == object
    assert all(isinstance(g, str) for g in data["geo"].unique())
    assert (data.drop(columns=["date", "geo"]).dtypes == "float64").all()
    dates = data["date"].drop_duplicates()
    assert (dates.diff().dropna() == pd.Timedelta(weeks=1)).all()
    assert dates.iloc[0] == pd.Timestamp(config.start_date)
    assert (data[channel_column_names(config)] >= 0).all().all()


@pytest.mark.parametrize("name", ["small_business", "medium_business"])
def test_truth_contents(name: str) -> None:
    result = generated(name)
    data, truth, config = result["data"], result["ground_truth"], result["config"]
    channels, controls = channel_column_names(config), control_column_names(config)
    geos = config.regions.names
    assert set(truth) == TRUTH_KEYS
    expected_frames = {
        "contributions": [f"contribution_{c}" for c in channels],
        "baseline": ["intercept", "trend", "seasonality", "baseline"],
        "control_effects": [f"effect_{c}" for c in controls], "noise": ["noise"],
    }
    for key, columns in expected_frames.items():
        assert list(truth[key].columns) == ["date", "geo", *columns], key
        assert truth[key][["date", "geo"]].equals(data[["date", "geo"]]), key
    baseline = truth["baseline"]
    np.testing.assert_allclose(baseline[["intercept", "trend", "seasonality"]].sum(axis=1),
                               baseline["baseline"], rtol=1e-12)
    for control in controls:
        coefficient = data["geo"].map(truth["control_coefficients"][control])
        np.testing.assert_allclose(truth["control_effects"][f"effect_{control}"],
                                   coefficient * data[control], rtol=1e-12)
    assert set(truth["noise_scale"]) == set(geos)
    for geo, sigma in truth["noise_scale"].items():
        sd = truth["noise"].loc[truth["noise"]["geo"] == geo, "noise"].std()
        assert 0.7 < sd / sigma < 1.3, geo
    contributions = truth_columns(result, "contributions", "contribution_x")
    assert truth["media_share"] == pytest.approx(contributions.sum() / data["y"].sum(), rel=1e-12)


@pytest.mark.parametrize("name", ["small_business", "growing_business"])
def test_truth_roas_shares_and_parameters(name: str) -> None:
    result = generated(name)
    data, truth, config = result["data"], result["ground_truth"], result["config"]
    channels, geos = channel_column_names(config), config.regions.names
    contributions = truth["contributions"]
    roas = truth["roas"].set_index(["geo", "channel"])["roas"]
    assert len(roas) == (len(geos) + 1) * len(channels)
    totals = contributions.groupby("geo")[[f"contribution_{c}" for c in channels]].sum()
    for c in channels:
        overall = contributions[f"contribution_{c}"].sum() / data[c].sum()
        assert roas[("overall", c)] == pytest.approx(overall, rel=1e-12)
        for geo in geos:
            by_geo = totals.loc[geo, f"contribution_{c}"] / data.loc[data["geo"] == geo, c].sum()
            assert roas[(geo, c)] == pytest.approx(by_geo, rel=1e-12)
    shares = truth["attribution_shares"].set_index("channel")["share"]
    np.testing.assert_allclose(shares[channels], totals.sum().to_numpy() / totals.sum().sum())
    for channel, column in zip(config.channels, channels, strict=True):
        params = truth["transform_parameters"][column]
        tf = channel.transform
        assert params["adstock"] == {"type": tf.adstock_fun, "params": dict(tf.adstock_params),
                                     "normalized": tf.adstock_normalize, "l_max": tf.adstock_lmax}
        assert params["saturation"]["type"] == tf.saturation_fun
        assert params["saturation"]["params"] == dict(tf.saturation_params)
        assert set(params["effect_by_geo"]) == set(geos)


# --- spend patterns ---------------------------------------------------------------------

N = 60
T = np.arange(N, dtype=float)
PATTERNS = {  # id -> (pattern, pattern_params, custom_fn, expected level per period)
    "linear_trend": ("linear_trend", {"growth": 0.5}, None, 1 + 0.5 * T / (N - 1)),
    "seasonal": ("seasonal", {"amplitude": 0.4, "period": 13, "phase": 1.0}, None,
                 1 + 0.4 * np.sin(2 * np.pi * T / 13 + 1.0)),
    "delayed_start": ("delayed_start", {"start_period": 10, "ramp_periods": 4, "end_period": 40},
                      None, np.where(T < 40, np.clip((T - 9) / 4, 0, 1), 0.0)),
    "on_off": ("on_off", {"on_periods": 3, "off_periods": 2, "offset": 1}, None,
               ((T + 1) % 5 < 3).astype(float)),
    "custom": ("custom", {}, lambda t, rng: np.where(t % 4 == 0, 0.0, 1 + t / 100),
               np.where(T % 4 == 0, 0.0, 1 + T / 100)),
}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_spend_follows_its_pattern_exactly_without_noise(pattern: str) -> None:
    name, params, fn, level = PATTERNS[pattern]
    config = single_channel_config(N, base_spend=2000.0, pattern=name, pattern_params=params,
                                   custom_fn=fn, spend_noise=0.0)
    spend = generate_mmm_dataset(config)["data"]["x1_tv"].to_numpy()
    np.testing.assert_allclose(spend, 2000.0 * level, rtol=1e-12, atol=0)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_spend_is_zero_exactly_where_the_pattern_is_off(pattern: str) -> None:
    name, params, fn, level = PATTERNS[pattern]
    config = single_channel_config(N, pattern=name, pattern_params=params, custom_fn=fn,
                                   spend_noise=0.3)
    spend = generate_mmm_dataset(config)["data"]["x1_tv"].to_numpy()
    np.testing.assert_array_equal(spend == 0.0, level == 0.0)


def test_ended_spend_stops_contributing_after_the_adstock_window() -> None:
    lmax, end = 5, 40
    config = single_channel_config(
        N, pattern="delayed_start", pattern_params={"start_period": 0, "end_period": end},
        transform=TransformConfig(adstock_params={"alpha": 0.8}, adstock_lmax=lmax))
    contribution = generate_mmm_dataset(config)["ground_truth"]["contributions"]
    values = contribution["contribution_x1_tv"].to_numpy()
    assert np.all(values[end:end + lmax - 1] > 0)
    np.testing.assert_array_equal(values[end + lmax - 1:], 0.0)


def test_custom_pattern_gets_a_seeded_generator() -> None:
    config = single_channel_config(pattern="custom", custom_fn=lambda t, rng: rng.uniform(
        0.5, 1.5, len(t)))
    first = generate_mmm_dataset(config)["data"]["x1_tv"]
    assert first.equals(generate_mmm_dataset(config)["data"]["x1_tv"])
    other = generate_mmm_dataset(dataclasses.replace(config, seed=8))["data"]["x1_tv"]
    assert not np.allclose(first, other)


def test_a_geo_that_spends_more_gets_more_contribution() -> None:
    channels = (ChannelConfig("tv", spend_noise=0.0), ChannelConfig("radio", spend_noise=0.0,
                                                                    pattern="on_off"))
    config = MMMDataConfig(channels=channels, regions=RegionConfig(
        n_regions=4, spend_variation=0.6, effectiveness_variation=0.0))
    result = generate_mmm_dataset(config)
    data, contributions = result["data"], result["ground_truth"]["contributions"]
    for column in ("x1_tv", "x2_radio"):
        effects = result["ground_truth"]["transform_parameters"][column]["effect_by_geo"]
        assert len(set(effects.values())) == 1
        spend = data.pivot(index="date", columns="geo", values=column)
        gain = contributions.pivot(index="date", columns="geo", values=f"contribution_{column}")
        order = spend.sum().sort_values().index
        assert spend.sum()[order].is_monotonic_increasing
        assert gain.sum()[order].diff().dropna().gt(0).all(), column
        active = spend.sum(axis=1) > 0
        assert (gain.loc[active, order].diff(axis=1).iloc[:, 1:] > 0).all().all()


def test_populations_multiply_a_per_capita_world() -> None:
    with_people = get_preset_config("meridian_native", seed=5)
    regions = dataclasses.replace(with_people.regions, population_variation=0.0)
    per_capita = dataclasses.replace(with_people, regions=regions)
    a, b = generate_mmm_dataset(with_people), generate_mmm_dataset(per_capita)
    assert "population" not in b["data"]
    people = a["data"]["population"].to_numpy()
    assert (people == np.rint(people)).all() and len(set(people)) == 5  # whole people per geo
    multiplier = people / PEOPLE_PER_UNIT
    columns = [*channel_column_names(with_people), "y"]
    np.testing.assert_allclose(a["data"][columns].to_numpy() / multiplier[:, None],
                               b["data"][columns].to_numpy(), rtol=1e-12)
    controls = control_column_names(with_people)
    assert a["data"][controls].equals(b["data"][controls])  # regressors are not scaled
    contribution = [f"contribution_{c}" for c in channel_column_names(with_people)]
    np.testing.assert_allclose(a["ground_truth"]["contributions"][contribution].to_numpy()
                               / multiplier[:, None],
                               b["ground_truth"]["contributions"][contribution].to_numpy(),
                               rtol=1e-12)
    roas_a, roas_b = (r["ground_truth"]["roas"].query("geo != 'overall'")["roas"] for r in (a, b))
    np.testing.assert_allclose(roas_a.to_numpy(), roas_b.to_numpy(), rtol=1e-12)


# --- seeds and customisation ------------------------------------------------------------

def channel_draws(config: MMMDataConfig) -> list[tuple]:
    return [(c.pattern, c.base_spend, c.effect, dict(c.transform.adstock_params),
             dict(c.transform.saturation_params)) for c in config.channels]


def test_large_business_parameters_derive_from_the_seed() -> None:
    first, again = get_preset_config("large_business", 5), get_preset_config("large_business", 5)
    other = get_preset_config("large_business", 6)
    assert first == again and channel_draws(first) == channel_draws(again)
    differing = [a != b for a, b in zip(channel_draws(first), channel_draws(other), strict=True)]
    assert all(differing)
    assert first.base_sales != other.base_sales


def test_customize_preset_with_nested_and_indexed_keys() -> None:
    config = customize_preset("basic", seed=9, n_periods=30, **{
        "regions.n_regions": 3, "channels.0.transform.adstock_params": {"alpha": 0.3},
        "channels.1.name": "paid"})
    assert (config.seed, config.n_periods, config.regions.n_regions) == (9, 30, 3)
    assert dict(config.channels[0].transform.adstock_params) == {"alpha": 0.3}
    result = generate_mmm_dataset(config)
    assert list(result["data"].columns[2:4]) == ["x1_tv", "x2_paid"]
    assert result["data"].shape[0] == 90
    params = result["ground_truth"]["transform_parameters"]["x1_tv"]["adstock"]["params"]
    assert params == {"alpha": 0.3}
    assert get_preset_config("basic").n_periods == 104  # the preset itself is unchanged


def test_customize_seed_picks_the_presets_draws() -> None:
    assert customize_preset("large_business", seed=11) == get_preset_config("large_business", 11)


@pytest.mark.parametrize("overrides, expected", [
    ({"regions.n_region": 3}, ["regions.n_region", "'n_region'", "n_regions"]),
    ({"channels.9.name": "x"}, ["channels.9.name", "'9'", "0..1"]),
    ({"colour": "red"}, ["colour", "'colour'", "n_periods"]),
    ({"n_periods.days": 3}, ["n_periods.days", "'days'", "allowed"]),
    ({"channels.0.name": "tv_2"}, ["name", "'tv_2'", "letters and digits"]),
])
def test_customize_preset_rejects_bad_overrides(overrides: dict, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        customize_preset("basic", **overrides)
    assert all(part in str(error.value) for part in expected), str(error.value)


# --- bad input --------------------------------------------------------------------------

def negative_pattern(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.full(len(t), -1.0)


BAD_INPUTS = {  # id -> (builder, [field, value, allowed] substrings of the message)
    "negative spend": (lambda: ChannelConfig("tv", base_spend=-100.0),
                       ["base_spend", "-100.0", "> 0"]),
    "decay is 1": (lambda: TransformConfig(adstock_params={"alpha": 1.0}),
                   ["adstock_params.alpha", "1.0", "0 <= alpha < 1"]),
    "negative decay": (lambda: TransformConfig(adstock_params={"alpha": -0.1}),
                       ["adstock_params.alpha", "-0.1", "0 <= alpha < 1"]),
    "non-numeric spend": (lambda: ChannelConfig("tv", base_spend="lots"),
                          ["base_spend", "'lots'", "a number"]),
    "unknown pattern": (lambda: ChannelConfig("tv", pattern="zigzag"),
                        ["pattern", "'zigzag'", "linear_trend"]),
    "unknown adstock": (lambda: TransformConfig(adstock_fun="gamma"),
                        ["adstock_fun", "'gamma'", "geometric"]),
    "unknown saturation": (lambda: TransformConfig(saturation_fun="tanh"),
                           ["saturation_fun", "'tanh'", "hill"]),
    "duplicate channels": (lambda: MMMDataConfig(channels=(ChannelConfig("tv"),
                                                           ChannelConfig("tv"))),
                           ["channels", "['tv', 'tv']", "distinct"]),
    "underscore in name": (lambda: ChannelConfig("paid_search"),
                           ["name", "'paid_search'", "letters and digits"]),
    "negative population variation": (lambda: RegionConfig(population_variation=-0.1),
                                      ["regions.population_variation", "-0.1", ">= 0"]),
    "periods < adstock window": (lambda: MMMDataConfig(n_periods=6),
                                 ["n_periods", "6", "adstock_lmax=8"]),
    "unknown preset": (lambda: get_preset_config("huge_business"),
                       ["preset", "'huge_business'", "small_business"]),
    "negative custom pattern": (
        lambda: generate_mmm_dataset(single_channel_config(pattern="custom",
                                                           custom_fn=negative_pattern)),
        ["channels[0].custom_fn", "-1.0", ">= 0"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_config_error_naming_field_value_and_allowed(case: str) -> None:
    build, expected = BAD_INPUTS[case]
    with pytest.raises(ConfigError) as error:
        build()
    assert all(part in str(error.value) for part in expected), str(error.value)


def test_failed_generation_writes_nothing(tmp_path: Path) -> None:
    config = single_channel_config(pattern="custom", custom_fn=negative_pattern)
    with pytest.raises(ConfigError):
        save_dataset(generate_mmm_dataset(config), tmp_path / "dataset")
    assert list(tmp_path.iterdir()) == []


# --- plots ------------------------------------------------------------------------------

@functools.cache
def small_multi_geo() -> dict[str, Any]:
    config = customize_preset("multi_region", n_periods=40, **{
        "channels.1.transform.adstock_normalize": False})
    return generate_mmm_dataset(config)


PLOTS = {plot_spend: 3, plot_contributions: 1, plot_decomposition: 5, plot_saturation_curves: 3}


@pytest.mark.parametrize("plot", PLOTS, ids=lambda p: p.__name__)
def test_plots_return_a_figure_and_write_a_png(plot, tmp_path: Path) -> None:
    path = tmp_path / "nested" / f"{plot.__name__}.png"
    figure = plot(small_multi_geo(), path=path)
    assert isinstance(figure, Figure)
    assert len([ax for ax in figure.axes if ax.get_visible()]) == PLOTS[plot]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert plot(small_multi_geo()) is not None and not (tmp_path / f"{plot.__name__}.png").exists()


def test_observed_weeks_lie_on_the_steady_state_curves() -> None:
    figure = plot_saturation_curves(small_multi_geo(), max_geos=2)
    for ax in figure.axes:
        curves = [line for line in ax.get_lines()]
        points = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(curves) == len(points) == 2, ax.get_title()
        for curve, scatter in zip(curves, points, strict=True):
            x, y = scatter.get_offsets().T
            grid, response = curve.get_data()
            np.testing.assert_allclose(y, np.interp(x, grid, response), rtol=5e-3,
                                       atol=1e-6 * response.max())


def test_curve_at_a_constant_spend_is_the_steady_state_contribution() -> None:
    """Non-normalised adstock: at steady state the adstocked spend is spend * weight sum."""
    transform = TransformConfig(adstock_params={"alpha": 0.6}, adstock_lmax=5,
                                adstock_normalize=False)
    config = single_channel_config(30, base_spend=1000.0, pattern_params={"growth": 0.0},
                                   spend_noise=0.0, transform=transform)
    result = generate_mmm_dataset(config)
    steady = result["ground_truth"]["contributions"]["contribution_x1_tv"].to_numpy()[4:]
    assert np.ptp(steady) < 1e-9 * steady[0]
    grid, response = plot_saturation_curves(result).axes[0].get_lines()[0].get_data()
    assert np.interp(1000.0, grid, response) == pytest.approx(steady[0], rel=2e-3)


def test_contribution_stack_tops_out_at_y_minus_noise() -> None:
    result = small_multi_geo()
    figure = plot_contributions(result, geo="geo_b")
    top = figure.axes[0].collections[-1]
    assert isinstance(top, PolyCollection)
    vertices = pd.DataFrame(top.get_paths()[0].vertices, columns=["x", "y"])
    stack_top = vertices.groupby("x")["y"].max().to_numpy()
    rows = result["data"]["geo"] == "geo_b"
    expected = result["data"].loc[rows, "y"] - result["ground_truth"]["noise"].loc[rows, "noise"]
    np.testing.assert_allclose(stack_top, expected.to_numpy(), rtol=1e-9)


def test_many_geos_and_channels_are_summarised_as_the_titles_say() -> None:
    result = generated("large_business")
    spend = plot_spend(result)
    assert "the 6 of 50 geos with the largest total spend" in spend.texts[0].get_text()
    totals = result["data"].groupby("geo")[channel_column_names(result["config"])].sum()
    top = totals.sum(axis=1).nlargest(6).index.tolist()
    assert [line.get_label() for line in spend.axes[0].get_lines()] == top
    labels = [t.get_text() for t in plot_contributions(result).axes[0].get_legend().get_texts()]
    assert len(labels) == 12 and "other (21 channels)" in labels


@pytest.mark.parametrize("call, expected", [
    (lambda r: plot_contributions(r, geo="geo_z"), ["geo", "'geo_z'", "geo_a"]),
    (lambda r: plot_decomposition(r, geo="mars"), ["geo", "'mars'", "geo_a"]),
], ids=["contributions", "decomposition"])
def test_plots_reject_an_unknown_geo(call, expected: list[str]) -> None:
    with pytest.raises(DatasetFormatError) as error:
        call(small_multi_geo())
    assert all(part in str(error.value) for part in expected)


def test_saturation_plot_of_a_dataset_without_parameters_says_what_is_missing(
        tmp_path: Path) -> None:
    result = small_multi_geo()
    result["data"].to_csv(tmp_path / "data.csv", index=False)
    result["ground_truth"]["contributions"].to_csv(tmp_path / "truth.csv", index=False)
    users = load_dataset_files(tmp_path / "data.csv", tmp_path / "truth.csv")
    with pytest.raises(DatasetFormatError, match="transform_parameters"):
        plot_saturation_curves(users)
    with pytest.raises(DatasetFormatError, match="baseline"):
        plot_decomposition(users)
    assert plot_spend(users) is not None
