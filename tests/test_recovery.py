"""Known-answer, cross-check and bad-input tests of benchmarking.recovery."""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.recovery import (
    compute_recovery_metrics,
    response_curve_error,
    scalar_recovery_stats,
)
from mmm_param_recovery.benchmarking.metrics.rows import stat_label
from mmm_param_recovery.benchmarking.metrics.sample_stats import crps_sorted, hdi_sorted
from mmm_param_recovery.errors import CoordinateMismatchError, DatasetFormatError

DATES = pd.date_range("2024-01-01", periods=6, freq="W-MON")
GEOS = ["geo_a", "geo_b"]
CHANNELS = ["x1_tv", "x2_radio", "x3_search"]
CHAINS, DRAWS = 2, 5


def make_truth() -> xr.Dataset:
    rng = np.random.default_rng(1)
    contribution = rng.uniform(10.0, 50.0, (6, 2, 3))
    spend = rng.uniform(5.0, 20.0, (6, 2, 3))
    truth = xr.Dataset(
        {
            "channel_contribution": (("date", "geo", "channel"), contribution),
            "spend": (("date", "geo", "channel"), spend),
            "adstock_alpha": (("channel",), np.array([0.3, 0.5, 0.7])),
        },
        coords={"date": DATES, "geo": GEOS, "channel": CHANNELS},
    )
    _add_roas(truth, truth["channel_contribution"], truth["spend"])
    total = truth["channel_contribution"].sum(("date", "geo"))
    truth["attribution_share"] = total / total.sum()
    truth["adstock_alpha"].attrs["adstock_normalized"] = 1
    return truth


def _add_roas(ds: xr.Dataset, contribution: xr.DataArray, spend: xr.DataArray) -> None:
    total = contribution.sum(("date", "geo"), skipna=False)
    ds["roas"] = total / spend.sum(("date", "geo"))
    ds["roas_by_geo"] = contribution.sum("date", skipna=False) / spend.sum("date")


def make_posterior(truth: xr.Dataset, contribution: np.ndarray, alpha=None) -> xr.Dataset:
    """Posterior with ``contribution`` (chain, draw, date, geo, channel); ROAS derived."""
    sample_coords = {
        "chain": np.arange(contribution.shape[0]),
        "draw": np.arange(contribution.shape[1]),
    }
    cc = xr.DataArray(
        contribution,
        dims=("chain", "draw", "date", "geo", "channel"),
        coords={**sample_coords, "date": DATES, "geo": GEOS, "channel": CHANNELS},
    )
    post = xr.Dataset({"channel_contribution": cc})
    _add_roas(post, cc, truth["spend"])
    if alpha is None:
        alpha = np.broadcast_to(truth["adstock_alpha"].values, contribution.shape[:2] + (3,))
    post["adstock_alpha"] = (("chain", "draw", "channel"), alpha)
    post["adstock_alpha"].attrs["adstock_normalized"] = True
    return post


def exact_posterior(truth: xr.Dataset, shift: float = 0.0, alpha=None) -> xr.Dataset:
    """Every draw equals the true contribution plus ``shift``."""
    values = truth["channel_contribution"].values + shift
    draws = np.broadcast_to(values, (CHAINS, DRAWS, *values.shape)).copy()
    return make_posterior(truth, draws, alpha)


def label(row):
    return stat_label(row["quantity"], row["stat"], row["level"])


def value(rows, metric, channel="all", geo="all"):
    """The value of the row whose ``stat_label`` is ``metric`` at (channel, geo)."""
    found = [
        r for r in rows if label(r) == metric and r["channel"] == channel and r["geo"] == geo
    ]
    assert len(found) == 1, (metric, channel, geo, len(found))
    return found[0]["value"]


def metric_values(rows, metric):
    return np.array([r["value"] for r in rows if label(r) == metric])


# ---------------------------------------------------------------- known answers


def test_exact_posterior_has_zero_error_and_full_coverage():
    truth = make_truth()
    rows = compute_recovery_metrics(exact_posterior(truth), truth)
    for quantity in ("contribution_total", "roas", "attribution_share", "adstock_alpha"):
        for stat in ("bias", "abs_error", "rel_error", "crps"):
            np.testing.assert_allclose(metric_values(rows, f"{quantity}_{stat}"), 0.0, atol=1e-12)
        for prob in (50, 80, 94):
            assert metric_values(rows, f"{quantity}_in_hdi_{prob}").min() == 1.0
        np.testing.assert_array_equal(metric_values(rows, f"{quantity}_rank_normalized"), 0.5)
    np.testing.assert_allclose(metric_values(rows, "contribution_weekly_srmse"), 0.0, atol=1e-12)
    np.testing.assert_allclose(metric_values(rows, "contribution_weekly_r2"), 1.0)
    assert value(rows, "posterior_n_draws", None, None) == CHAINS * DRAWS


def test_rows_cover_every_level_with_documented_labels():
    truth = make_truth()
    rows = compute_recovery_metrics(exact_posterior(truth), truth)
    labels = {(r["channel"], r["geo"]) for r in rows if label(r) == "contribution_total_bias"}
    expected = {(c, g) for c in CHANNELS for g in GEOS} | {(c, "all") for c in CHANNELS}
    assert labels == expected | {("all", "all")}
    assert set(rows[0]) == {"quantity", "stat", "level", "channel", "geo", "value", "note"}
    assert {(r["stat"], r["level"]) for r in rows if r["quantity"] == "roas"} >= {
        ("in_hdi", 0.5), ("in_hdi", 0.8), ("in_hdi", 0.94), ("bias", None)}


def test_shifted_posterior_has_known_bias():
    truth = make_truth()
    rows = compute_recovery_metrics(exact_posterior(truth, shift=2.0), truth)
    true_total = truth["channel_contribution"].sum("date")
    assert value(rows, "contribution_total_bias", "x1_tv", "geo_a") == pytest.approx(12.0)
    assert value(rows, "contribution_total_bias", "x1_tv") == pytest.approx(24.0)
    assert value(rows, "contribution_total_bias") == pytest.approx(72.0)
    rel = 12.0 / float(true_total.sel(channel="x2_radio", geo="geo_b"))
    assert value(rows, "contribution_total_rel_error", "x2_radio", "geo_b") == pytest.approx(rel)
    assert value(rows, "contribution_total_crps", "x1_tv", "geo_a") == pytest.approx(12.0)
    assert value(rows, "contribution_total_in_hdi_94", "x1_tv", "geo_a") == 0.0
    assert value(rows, "contribution_total_rank", "x1_tv", "geo_a") == 0.0
    spend = float(truth["spend"].sel(channel="x3_search", geo="geo_a").sum())
    assert value(rows, "roas_bias", "x3_search", "geo_a") == pytest.approx(12.0 / spend)
    assert value(rows, "roas_bias") == pytest.approx(72.0 / float(truth["spend"].sum()))


def test_weekly_contribution_metrics_by_hand():
    truth = make_truth()
    rows = compute_recovery_metrics(exact_posterior(truth, shift=2.0), truth)
    true = truth["channel_contribution"].sel(channel="x1_tv", geo="geo_a").values
    assert value(rows, "contribution_weekly_bias", "x1_tv", "geo_a") == pytest.approx(2.0)
    assert value(rows, "contribution_weekly_srmse", "x1_tv", "geo_a") == pytest.approx(
        2.0 / true.mean()
    )
    r2 = 1.0 - 6 * 4.0 / np.sum((true - true.mean()) ** 2)
    assert value(rows, "contribution_weekly_r2", "x1_tv", "geo_a") == pytest.approx(r2)
    pooled = truth["channel_contribution"].values
    assert value(rows, "contribution_weekly_srmse") == pytest.approx(2.0 / pooled.mean())


def test_attribution_share_and_overall_roas_of_scaled_posterior():
    truth = make_truth()
    factors = np.array([2.0, 1.0, 1.0])
    values = truth["channel_contribution"].values * factors
    post = make_posterior(truth, np.broadcast_to(values, (CHAINS, DRAWS, *values.shape)).copy())
    rows = compute_recovery_metrics(post, truth)
    totals = truth["channel_contribution"].sum(("date", "geo")).values
    share = 2 * totals[0] / (2 * totals[0] + totals[1] + totals[2])
    assert value(rows, "attribution_share_posterior_mean", "x1_tv") == pytest.approx(share)
    assert value(rows, "attribution_share_abs_error", "x1_tv") == pytest.approx(
        share - totals[0] / totals.sum()
    )
    overall = totals.sum() / float(truth["spend"].sum())
    assert value(rows, "roas_true") == pytest.approx(overall)
    assert value(rows, "roas_posterior_mean") == pytest.approx(
        (2 * totals[0] + totals[1] + totals[2]) / float(truth["spend"].sum())
    )


# ---------------------------------------------------------------- cross-checks


def test_roas_intervals_crps_and_rank_match_independent_implementations():
    truth = make_truth()
    rng = np.random.default_rng(7)
    scale = np.exp(rng.normal(0.05, 0.2, (2, 400, 1, 1, 3)))
    post = make_posterior(truth, truth["channel_contribution"].values * scale)
    rows = compute_recovery_metrics(post, truth)
    for channel in CHANNELS:
        draws = post["roas"].sel(channel=channel).values.ravel()
        true = float(truth["roas"].sel(channel=channel))
        for prob in (0.5, 0.8, 0.94):
            low, high = az.hdi(draws, hdi_prob=prob)
            percent = round(prob * 100)
            assert value(rows, f"roas_hdi_low_{percent}", channel) == low
            assert value(rows, f"roas_hdi_high_{percent}", channel) == high
            assert value(rows, f"roas_in_hdi_{percent}", channel) == float(low <= true <= high)
        flat = draws
        pairs = np.abs(flat[:, None] - flat[None, :]).sum() / (2 * flat.size * (flat.size - 1))
        crps = np.abs(flat - true).mean() - pairs
        assert value(rows, "roas_crps", channel) == pytest.approx(crps, rel=1e-9)
        assert value(rows, "roas_rank", channel) == np.sum(flat < true)
        assert value(rows, "roas_rank_normalized", channel) == np.sum(flat < true) / flat.size


def test_vectorised_hdi_matches_arviz_cell_by_cell():
    rng = np.random.default_rng(3)
    samples = rng.gamma(2.0, 1.0, (12, 997))
    for prob in (0.5, 0.8, 0.94):
        low, high = hdi_sorted(np.sort(samples, axis=-1), prob)
        expected = np.array([az.hdi(cell, hdi_prob=prob) for cell in samples])
        np.testing.assert_array_equal(np.stack([low, high], axis=-1), expected)


def test_calibrated_normal_posterior_covers_at_nominal_rate():
    rng = np.random.default_rng(11)
    n_cells, n_draws = 4000, 400
    theta = rng.normal(0.0, 1.0, n_cells)  # prior N(0, 1), one observation y ~ N(theta, 1)
    y = theta + rng.normal(0.0, 1.0, n_cells)
    draws = y[:, None] / 2 + math.sqrt(0.5) * rng.normal(size=(n_cells, n_draws))
    stats = scalar_recovery_stats(draws, theta)
    for prob in (0.5, 0.8, 0.94):
        rate = stats[("in_hdi", prob)].mean()
        assert abs(rate - prob) < 4 * math.sqrt(prob * (1 - prob) / n_cells), (prob, rate)
    assert abs(stats[("rank_normalized", None)].mean() - 0.5) < 4 * math.sqrt(1 / 12 / n_cells)


def test_crps_of_constant_ensemble_is_absolute_error():
    samples = np.full((2, 10), 3.0)
    np.testing.assert_allclose(crps_sorted(samples, np.array([1.0, 4.5])), [2.0, 1.5])


# ---------------------------------------------------------------- adstock


def test_adstock_not_compared_when_normalisation_differs():
    truth = make_truth()
    post = exact_posterior(truth)
    post["adstock_alpha"].attrs["adstock_normalized"] = False
    rows = compute_recovery_metrics(post, truth)
    comparable = [r for r in rows if label(r) == "adstock_alpha_comparable"]
    assert [r["value"] for r in comparable] == [0.0, 0.0, 0.0]
    assert "adstock_normalized" in comparable[0]["note"]
    assert not [r for r in rows if label(r) == "adstock_alpha_bias"]


def test_adstock_skips_non_geometric_truth_channel():
    truth = make_truth()
    truth["adstock_alpha"].values[1] = np.nan
    alpha = np.broadcast_to([0.35, 0.5, 0.6], (CHAINS, DRAWS, 3))
    rows = compute_recovery_metrics(exact_posterior(truth, alpha=alpha), truth)
    assert metric_values(rows, "adstock_alpha_comparable").tolist() == [1.0, 0.0, 1.0]
    biases = {r["channel"]: r["value"] for r in rows if label(r) == "adstock_alpha_bias"}
    assert biases == pytest.approx({"x1_tv": 0.05, "x3_search": -0.1})


def test_adstock_truth_by_geo_compared_per_geo():
    truth = make_truth()
    post = exact_posterior(truth)  # alpha (channel,) = [0.3, 0.5, 0.7], shared by geos
    by_geo = xr.DataArray([[0.3, 0.5, 0.7], [0.4, 0.5, 0.6]], dims=("geo", "channel"))
    truth["adstock_alpha"] = by_geo.assign_attrs(adstock_normalized=1)
    rows = compute_recovery_metrics(post, truth)
    assert value(rows, "adstock_alpha_bias", "x1_tv", "geo_a") == pytest.approx(0.0)
    assert value(rows, "adstock_alpha_bias", "x1_tv", "geo_b") == pytest.approx(-0.1)


def test_adstock_posterior_by_geo_compared_with_shared_truth():
    truth = make_truth()  # alpha (channel,) = [0.3, 0.5, 0.7]
    post = exact_posterior(truth)
    by_geo = np.broadcast_to([[0.3, 0.5, 0.7], [0.2, 0.5, 0.7]], (CHAINS, DRAWS, 2, 3))
    post["adstock_alpha"] = xr.DataArray(
        by_geo, dims=("chain", "draw", "geo", "channel"), attrs={"adstock_normalized": "True"}
    )
    rows = compute_recovery_metrics(post, truth)
    assert value(rows, "adstock_alpha_bias", "x1_tv", "geo_b") == pytest.approx(-0.1)
    assert value(rows, "adstock_alpha_in_hdi_94", "x2_radio", "geo_a") == 1.0


def test_adstock_missing_from_posterior_is_reported_not_raised():
    truth = make_truth()
    rows = compute_recovery_metrics(exact_posterior(truth).drop_vars("adstock_alpha"), truth)
    comparable = [r for r in rows if label(r) == "adstock_alpha_comparable"]
    assert [r["note"] for r in comparable] == ["posterior has no adstock_alpha"] * 3


# ---------------------------------------------------------------- bad input


def test_missing_channel_raises_naming_it():
    truth = make_truth()
    post = exact_posterior(truth).isel(channel=slice(0, 2))
    with pytest.raises(CoordinateMismatchError, match=r"channel.*x3_search"):
        compute_recovery_metrics(post, truth)


def test_different_dates_raise():
    truth = make_truth()
    post = exact_posterior(truth).assign_coords(date=DATES + pd.Timedelta(days=7))
    with pytest.raises(CoordinateMismatchError, match=r"\.date: .*missing in posterior"):
        compute_recovery_metrics(post, truth)


def test_reordered_geos_raise_instead_of_aligning():
    truth = make_truth()
    post = exact_posterior(truth).isel(geo=[1, 0])
    with pytest.raises(CoordinateMismatchError, match="geo.*different order"):
        compute_recovery_metrics(post, truth)


def test_string_dates_raise_dtype_mismatch():
    truth = make_truth()
    post = exact_posterior(truth).assign_coords(date=DATES.strftime("%Y-%m-%d"))
    with pytest.raises(CoordinateMismatchError, match="date: coordinate dtypes differ"):
        compute_recovery_metrics(post, truth)


def test_missing_truth_variable_raises_naming_it():
    truth = make_truth().drop_vars("attribution_share")
    with pytest.raises(DatasetFormatError, match="attribution_share"):
        compute_recovery_metrics(exact_posterior(make_truth()), truth)


def test_nonfinite_draws_are_counted_and_make_dependent_rows_nan():
    truth = make_truth()
    post = exact_posterior(truth)
    post["channel_contribution"].values[0, 1, 2, 0, 0] = np.nan
    post["channel_contribution"].values[1, 3, 0, 1, 1] = np.inf
    _add_roas(post, post["channel_contribution"], truth["spend"])
    rows = compute_recovery_metrics(post, truth)
    counts = {r["quantity"]: r["value"] for r in rows if r["stat"] == "nonfinite_count"}
    assert counts == {"channel_contribution": 2, "roas": 2, "roas_by_geo": 2, "adstock_alpha": 0}
    assert math.isnan(value(rows, "contribution_total_bias", "x1_tv", "geo_a"))
    assert math.isnan(value(rows, "contribution_total_bias"))
    assert value(rows, "contribution_total_bias", "x3_search", "geo_a") == pytest.approx(
        0, abs=1e-9
    )
    bad = [r for r in rows if label(r) == "contribution_total_bias" and r["channel"] == "x1_tv"]
    assert "1 of 10 draws non-finite" in bad[0]["note"]
    assert np.isnan(metric_values(rows, "contribution_weekly_srmse")).all()
    assert value(rows, "adstock_alpha_bias", "x1_tv") == pytest.approx(0, abs=1e-12)


# ---------------------------------------------------------------- response curves


def _curves(grid_values, true_values, posterior_values):
    spend = xr.DataArray(grid_values, dims=("channel", "grid"), coords={"channel": ["x1_tv"]})
    true = xr.DataArray(true_values, dims=("channel", "grid"), coords={"channel": ["x1_tv"]})
    post = xr.DataArray(
        posterior_values, dims=("chain", "draw", "channel", "grid"), coords={"channel": ["x1_tv"]}
    )
    return spend, true, post


def test_response_curve_error_known_answers():
    grid = np.array([[0.0, 0.25, 0.5, 1.0]])
    true = grid * 2.0
    spend, truth, post = _curves(grid, true, np.broadcast_to(true * 1.1, (2, 3, 1, 4)))
    np.testing.assert_allclose(response_curve_error(spend, truth, post).values, [0.1])
    offset = np.stack([true + 0.5, true - 0.5, true + 1.5])[None, :, :, :]  # mean: true + 0.5
    spend, truth, post = _curves(grid, true, offset)
    np.testing.assert_allclose(response_curve_error(spend, truth, post).values, [0.5])


def test_response_curve_rejects_decreasing_grid_and_other_channels():
    grid = np.array([[0.0, 1.0, 0.5]])
    spend, truth, post = _curves(grid, grid, np.broadcast_to(grid, (1, 2, 1, 3)))
    with pytest.raises(DatasetFormatError, match="strictly increasing"):
        response_curve_error(spend, truth, post)
    spend, truth, post = _curves(np.sort(grid), grid, np.broadcast_to(grid, (1, 2, 1, 3)))
    with pytest.raises(CoordinateMismatchError, match="channel"):
        response_curve_error(spend, truth, post.assign_coords(channel=["x2_radio"]))


def test_roas_mean_abs_rel_error_averages_channel_errors():
    truth = make_truth()
    scaled = truth["channel_contribution"].values * np.array([1.1, 0.8, 1.0])
    draws = np.broadcast_to(scaled, (CHAINS, DRAWS, *scaled.shape)).copy()
    rows = compute_recovery_metrics(make_posterior(truth, draws), truth)
    assert value(rows, "roas_mean_abs_rel_error") == pytest.approx((0.1 + 0.2 + 0.0) / 3)
    exact = compute_recovery_metrics(exact_posterior(truth), truth)
    assert value(exact, "roas_mean_abs_rel_error") == pytest.approx(0.0, abs=1e-12)
