"""Known-answer, cross-check and bad-input tests of benchmarking.evaluation."""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pandas as pd
import properscoring
import pytest
import xarray as xr
from scipy import stats
from statsmodels.stats.stattools import durbin_watson

from mmm_param_recovery.benchmarking.metrics.predictive import (
    compute_fit_metrics,
    observed_y_from_frame,
)
from mmm_param_recovery.benchmarking.metrics.rows import stat_label
from mmm_param_recovery.benchmarking.metrics.sample_stats import crps_sorted
from mmm_param_recovery.errors import CoordinateMismatchError, DatasetFormatError


def observed(values: np.ndarray) -> xr.DataArray:
    """Observed y (date, geo) from an array (date, geo)."""
    dates = pd.date_range("2023-01-02", periods=values.shape[0], freq="W-MON")
    geos = [f"geo_{i}" for i in range(values.shape[1])]
    return xr.DataArray(values, dims=("date", "geo"), coords={"date": dates, "geo": geos})


def posterior(y: xr.DataArray, mu: np.ndarray, y_ppc: np.ndarray | None = None) -> xr.Dataset:
    """Posterior with ``mu`` and ``y_ppc`` (chain, draw, date, geo) on y's coords."""
    dims = ("chain", "draw", "date", "geo")
    y_ppc = mu if y_ppc is None else y_ppc
    return xr.Dataset({"mu": (dims, mu), "y_ppc": (dims, y_ppc)}, coords=y.coords)


def constant_draws(values: np.ndarray, chains: int = 2, draws: int = 3) -> np.ndarray:
    return np.broadcast_to(values, (chains, draws, *values.shape)).copy()


def value(rows, label, geo="all"):
    """The value of the row whose ``stat_label`` is ``label`` at ``geo``."""
    found = [r for r in rows if stat_label(r["quantity"], r["stat"], r["level"]) == label
             and r["geo"] == geo]
    assert len(found) == 1, (label, geo, len(found))
    return found[0]["value"]


# ---------------------------------------------------------------- known answers


def test_point_metrics_by_hand_on_one_geo():
    y = observed(np.array([[1.0], [2.0], [3.0], [4.0]]))
    mu = constant_draws(np.array([[1.0], [2.0], [3.0], [5.0]]))
    rows = compute_fit_metrics(posterior(y, mu), y)
    # residuals (0, 0, 0, -1): SS_res 1, SS_tot 5; |e|/y = 1/4 on one of 4 weeks; DW 1/1
    assert value(rows, "mu_r2", "geo_0") == pytest.approx(0.8)
    assert value(rows, "mu_mape", "geo_0") == pytest.approx(6.25)
    assert value(rows, "mu_durbin_watson", "geo_0") == pytest.approx(1.0)
    assert value(rows, "mu_r2_per_draw_mean") == pytest.approx(0.8)
    assert value(rows, "mu_r2_per_draw_hdi_low_94") == pytest.approx(0.8)
    assert {r["channel"] for r in rows} == {None}


def test_pooled_metrics_by_hand_on_two_geos():
    y = observed(np.array([[1.0, 10.0], [3.0, 10.0]]))
    mu = constant_draws(np.array([[2.0, 10.0], [3.0, 12.0]]))
    rows = compute_fit_metrics(posterior(y, mu), y)
    # pooled residuals (-1, 0, 0, -2): SS_res 5; y mean 6, SS_tot 25 + 9 + 16 + 16 = 66
    assert value(rows, "mu_r2") == pytest.approx(1 - 5 / 66)
    assert value(rows, "mu_mape") == pytest.approx(100 * (1 + 0 + 0 + 0.2) / 4)
    # DW pooled: within-geo differences (1, -2): 5 / SS_res 5
    assert value(rows, "mu_durbin_watson") == pytest.approx(1.0)
    assert value(rows, "mu_r2", "geo_1") == -math.inf  # constant y in geo_1: SS_tot 0


def test_per_draw_metrics_average_each_draw():
    y = observed(np.array([[1.0], [2.0], [3.0], [4.0]]))
    draws = [np.array([[1.0], [2.0], [3.0], [5.0]]), np.array([[1.0], [2.0], [3.0], [4.0]])]
    mu = np.stack(draws)[None]  # one chain, two draws: R^2 0.8 and 1; MAPE 6.25 and 0
    rows = compute_fit_metrics(posterior(y, mu), y)
    assert value(rows, "mu_r2_per_draw_mean", "geo_0") == pytest.approx(0.9)
    assert value(rows, "mu_mape_per_draw_mean") == pytest.approx(3.125)
    assert value(rows, "mu_r2", "geo_0") == pytest.approx(1 - 0.25 / 5)  # of the mean mu


def test_exact_predictive_has_zero_crps_and_full_coverage():
    y = observed(np.arange(1.0, 13.0).reshape(6, 2))
    rows = compute_fit_metrics(posterior(y, constant_draws(y.values)), y)
    assert value(rows, "y_ppc_crps") == 0.0
    assert value(rows, "y_ppc_coverage_50") == 1.0
    assert value(rows, "y_ppc_coverage_94", "geo_1") == 1.0


def test_calibrated_predictive_covers_at_nominal_rate():
    rng = np.random.default_rng(5)
    n_weeks, n_draws = 3000, 400
    mu = rng.normal(100.0, 10.0, (n_weeks, 1))
    y = observed(mu + rng.normal(0.0, 2.0, mu.shape))
    y_ppc = mu[None, None] + rng.normal(0.0, 2.0, (1, n_draws, n_weeks, 1))
    rows = compute_fit_metrics(posterior(y, constant_draws(mu, 1, n_draws), y_ppc), y)
    for prob in (0.5, 0.94):
        rate = value(rows, f"y_ppc_coverage_{round(prob * 100)}")
        assert abs(rate - prob) < 4 * math.sqrt(prob * (1 - prob) / n_weeks), (prob, rate)
    z = (y.values[:, 0] - mu[:, 0]) / 2.0
    closed_form = 2.0 * (
        z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi)
    )
    assert value(rows, "y_ppc_crps") == pytest.approx(closed_form.mean(), rel=0.01)


# ---------------------------------------------------------------- cross-checks


def test_durbin_watson_matches_statsmodels():
    rng = np.random.default_rng(2)
    y = observed(rng.normal(50.0, 5.0, (40, 3)))
    mu = constant_draws(y.values + rng.normal(0.0, 1.0, (40, 3)).cumsum(axis=0))
    rows = compute_fit_metrics(posterior(y, mu), y)
    resid = y.values - mu[0, 0]
    for g in range(3):
        assert value(rows, "mu_durbin_watson",
                     f"geo_{g}") == pytest.approx(durbin_watson(resid[:, g]))


def test_per_draw_hdi_matches_arviz():
    rng = np.random.default_rng(4)
    y = observed(rng.normal(50.0, 5.0, (30, 2)))
    mu = y.values + rng.normal(0.0, 2.0, (2, 200, 30, 2))
    rows = compute_fit_metrics(posterior(y, mu), y)
    resid = y.values[:, 0] - mu[..., 0]
    r2 = 1 - (resid**2).sum(-1) / ((y.values[:, 0] - y.values[:, 0].mean()) ** 2).sum()
    low, high = az.hdi(r2.ravel(), hdi_prob=0.94)
    assert value(rows, "mu_r2_per_draw_hdi_low_94", "geo_0") == pytest.approx(low)
    assert value(rows, "mu_r2_per_draw_hdi_high_94", "geo_0") == pytest.approx(high)
    assert value(rows, "mu_r2_per_draw_mean", "geo_0") == pytest.approx(r2.mean())


def test_crps_matches_properscoring_and_brute_force():
    rng = np.random.default_rng(8)
    samples, obs = rng.gamma(2.0, 3.0, (5, 50)), rng.gamma(2.0, 3.0, 5)
    sorted_samples = np.sort(samples, axis=-1)
    ensemble = crps_sorted(sorted_samples, obs, fair=False)
    np.testing.assert_allclose(ensemble, properscoring.crps_ensemble(obs, samples), rtol=1e-10)
    pairs = np.abs(samples[:, :, None] - samples[:, None, :]).sum(axis=(1, 2))
    fair = np.abs(samples - obs[:, None]).mean(-1) - pairs / (2 * 50 * 49)
    np.testing.assert_allclose(crps_sorted(sorted_samples, obs), fair, rtol=1e-10)


def test_fit_crps_row_is_mean_of_per_observation_crps():
    rng = np.random.default_rng(9)
    y = observed(rng.normal(10.0, 1.0, (8, 2)))
    y_ppc = rng.normal(10.0, 1.0, (2, 50, 8, 2))
    rows = compute_fit_metrics(posterior(y, y_ppc, y_ppc), y)
    samples = y_ppc.reshape(100, 8, 2)
    pairs = np.abs(samples[:, None] - samples[None, :]).sum(axis=(0, 1)) / (2 * 100 * 99)
    fair = np.abs(samples - y.values).mean(0) - pairs
    assert value(rows, "y_ppc_crps", "geo_1") == pytest.approx(fair[:, 1].mean())
    assert value(rows, "y_ppc_crps") == pytest.approx(fair.mean())


# ---------------------------------------------------------------- bad input


def test_mismatched_geo_raises_naming_it():
    y = observed(np.ones((4, 2)))
    post = posterior(y, constant_draws(y.values)).assign_coords(geo=["geo_0", "geo_9"])
    with pytest.raises(CoordinateMismatchError, match=r"mu\.geo.*geo_1"):
        compute_fit_metrics(post, y)


def test_missing_variable_raises():
    y = observed(np.ones((4, 1)))
    with pytest.raises(DatasetFormatError, match="y_ppc"):
        compute_fit_metrics(posterior(y, constant_draws(y.values)).drop_vars("y_ppc"), y)


def test_nonfinite_mu_is_counted_and_its_metrics_are_nan():
    y = observed(np.arange(1.0, 9.0).reshape(4, 2))
    mu = constant_draws(y.values)
    mu[1, 2, 3, 0] = np.nan
    rows = compute_fit_metrics(posterior(y, mu, constant_draws(y.values)), y)
    counts = {r["quantity"]: r["value"] for r in rows if r["stat"] == "nonfinite_count"}
    assert counts == {"mu": 1.0, "y_ppc": 0.0}
    masked = [r for r in rows if (r["quantity"], r["stat"]) == ("mu", "r2")]
    assert all(math.isnan(r["value"]) for r in masked)
    assert masked[0]["note"] == "mu has 1 non-finite values"
    assert value(rows, "y_ppc_crps") == 0.0


def test_observed_y_from_frame_keeps_data_order_and_rejects_gaps():
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-08"]),
            "geo": ["geo_b", "geo_a", "geo_b", "geo_a"],
            "y": [1.0, 2.0, 3.0, 4.0],
        }
    )
    y = observed_y_from_frame(frame)
    assert list(y["geo"].values) == ["geo_b", "geo_a"]
    np.testing.assert_array_equal(y.values, [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(DatasetFormatError, match="one row per"):
        observed_y_from_frame(frame.iloc[:3])
