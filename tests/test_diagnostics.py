"""Known-answer, cross-check and bad-input tests of benchmarking.diagnostics."""

from __future__ import annotations

import math
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.diagnostics import (
    FitOutcome,
    canonical_convergence_quantities,
    compute_diagnostics,
    compute_ess,
    count_free_parameters,
    diagnostics_summary,
    free_parameter_names,
)
from mmm_param_recovery.benchmarking.metrics.rows import stat_label
from mmm_param_recovery.errors import DatasetFormatError

CHAINS, DRAWS = 2, 300
COORDS = {
    "date": pd.date_range("2024-01-01", periods=4, freq="W-MON"),
    "geo": ["geo_a", "geo_b"],
    "channel": ["x1_tv", "x2_radio", "x3_search"],
}


def ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float) -> np.ndarray:
    """AR(1) chains along the draw axis (axis 1): shape (chain, draw, ...)."""
    noise = rng.normal(size=shape)
    out = np.empty(shape)
    out[:, 0] = noise[:, 0]
    for t in range(1, shape[1]):
        out[:, t] = phi * out[:, t - 1] + noise[:, t]
    return out


def make_idata(seed: int = 0, with_energy: bool = True, with_free: bool = True):
    rng = np.random.default_rng(seed)
    sample = (CHAINS, DRAWS)
    contribution = 10.0 + ar1(rng, (*sample, 4, 2, 3), 0.5)
    posterior = xr.Dataset(
        {
            "channel_contribution": (("chain", "draw", "date", "geo", "channel"), contribution),
            "roas": (("chain", "draw", "channel"), 2.0 + ar1(rng, (*sample, 3), 0.3)),
            "mu": (("chain", "draw", "date", "geo"), 50.0 + ar1(rng, (*sample, 4, 2), 0.2)),
        },
        coords=COORDS,
    )
    beta = ar1(rng, (*sample, 2, 3), 0.6)
    beta[1, :, 0, 0] += 3.0  # one scalar whose chains disagree: R-hat far above 1.1
    free = xr.Dataset(
        {
            "beta": (("chain", "draw", "geo", "channel"), beta),
            "sigma": (("chain", "draw"), ar1(rng, sample, 0.1)),
            "sigma_log__": (("chain", "draw"), ar1(rng, sample, 0.999)),
        },
        coords={"geo": COORDS["geo"], "channel": COORDS["channel"]},
    )
    diverging = np.zeros(sample, dtype=bool)
    diverging[0, [3, 7, 11]] = True
    stats = {"diverging": (("chain", "draw"), diverging)}
    if with_energy:
        stats["energy"] = (("chain", "draw"), ar1(rng, sample, 0.4))
    groups = {"posterior": posterior, "sample_stats": xr.Dataset(stats)}
    if with_free:
        groups["free_parameters"] = free
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "free_parameters ... not in the scheme"
        return az.InferenceData(**groups)


def summary_of(values: np.ndarray) -> dict[str, float]:
    q10, q50, q90 = np.quantile(values, [0.1, 0.5, 0.9])
    return {"min": values.min(), "q10": q10, "q50": q50, "q90": q90}


def flat(ds: xr.Dataset) -> np.ndarray:
    return np.concatenate([ds[name].values.ravel() for name in ds.data_vars])


def rows_by_metric(rows):
    return {stat_label(r["quantity"], r["stat"], r["level"]): r for r in rows}


# ---------------------------------------------------------------- compute_ess


@pytest.mark.parametrize("method", ["bulk", "tail"])
def test_compute_ess_matches_arviz_over_every_scalar(method):
    idata = make_idata()
    expected = summary_of(flat(az.ess(idata.posterior, method=method)))
    assert compute_ess(idata, method=method) == pytest.approx(expected)
    assert compute_ess(idata.posterior, method=method) == pytest.approx(expected)


def test_compute_ess_on_named_variables_of_a_chosen_group():
    idata = make_idata()
    expected = summary_of(az.ess(idata["free_parameters"], var_names=["beta"])["beta"].values)
    result = compute_ess(idata, var_names=["beta"], group="free_parameters")
    assert result == pytest.approx(expected)
    with pytest.raises(DatasetFormatError, match="group: 'prior'"):
        compute_ess(idata, group="prior")


# ---------------------------------------------------------------- parameter sets


def test_free_parameters_exclude_unconstrained_copies():
    idata = make_idata()
    assert free_parameter_names(idata) == ["beta", "sigma"]
    assert count_free_parameters(idata) == 6 + 1
    assert count_free_parameters(make_idata(with_free=False)) == 0


def test_canonical_quantities_are_the_documented_sums():
    idata = make_idata()
    quantities = canonical_convergence_quantities(idata)
    contribution = idata.posterior["channel_contribution"].values
    np.testing.assert_allclose(quantities["contribution_total"].values, contribution.sum((2, 3)))
    np.testing.assert_allclose(
        quantities["mu_total"].values, idata.posterior["mu"].values.sum(axis=2)
    )
    assert quantities["roas"].identical(idata.posterior["roas"])


# ---------------------------------------------------------------- compute_diagnostics


def test_diagnostics_rows_cross_checked_against_arviz():
    idata = make_idata()
    rows = rows_by_metric(compute_diagnostics(idata, 20.0, 50.0))
    canonical = canonical_convergence_quantities(idata)
    ess = flat(az.ess(canonical, method="bulk"))
    assert rows["canonical_ess_bulk_min"]["value"] == pytest.approx(ess.min())
    per_sampling = rows["canonical_ess_bulk_min_per_sampling_second"]["value"]
    assert per_sampling == pytest.approx(ess.min() / 20)
    per_total = rows["canonical_ess_bulk_q50_per_total_second"]["value"]
    assert per_total == pytest.approx(np.median(ess) / 50)
    free_tail = flat(az.ess(idata["free_parameters"][["beta", "sigma"]], method="tail"))
    assert rows["free_ess_tail_q10"]["value"] == pytest.approx(np.quantile(free_tail, 0.1))
    rhat = flat(az.rhat(idata["free_parameters"][["beta", "sigma"]]))
    assert rows["free_rhat_max"]["value"] == pytest.approx(rhat.max())
    assert rows["free_rhat_n_above_1.1"]["value"] == np.sum(rhat > 1.1) >= 1
    assert rows["free_rhat_n_above_1.01"]["value"] == np.sum(rhat > 1.01)
    assert rows["free_n_scalars"]["value"] == 7
    assert rows["canonical_n_scalars"]["value"] == 3 + 3 + 2


def test_unconstrained_copy_does_not_lower_free_ess():
    idata = make_idata()
    rows = rows_by_metric(compute_diagnostics(idata))
    without_copy = compute_ess(idata, ["beta", "sigma"], group="free_parameters")["min"]
    with_copy = compute_ess(idata, group="free_parameters")["min"]
    assert rows["free_ess_bulk_min"]["value"] == pytest.approx(without_copy)
    assert with_copy < without_copy


def test_divergences_energy_and_counts():
    idata = make_idata()
    rows = rows_by_metric(compute_diagnostics(idata, 10.0, 12.0))
    assert rows["sampler_n_divergences"]["value"] == 3
    energy = idata.sample_stats["energy"].values
    ebfmi = np.mean(np.diff(energy, axis=1) ** 2, axis=1) / np.var(energy, axis=1, ddof=1)
    assert rows["sampler_ebfmi_min"]["value"] == pytest.approx(ebfmi.min())
    assert rows["sampler_n_chains"]["value"] == CHAINS
    assert rows["sampler_n_draws"]["value"] == DRAWS
    assert rows["time_sampling_seconds"]["value"] == 10.0
    assert all(r["channel"] is None and r["geo"] is None for r in rows.values())


def test_missing_energy_and_free_group_give_nan_with_reason():
    rows = rows_by_metric(compute_diagnostics(make_idata(with_energy=False, with_free=False)))
    assert math.isnan(rows["sampler_ebfmi_min"]["value"])
    assert rows["sampler_ebfmi_min"]["note"] == "sample_stats has no 'energy'"
    assert math.isnan(rows["free_ess_bulk_min"]["value"])
    assert "free_parameters" in rows["free_rhat_max"]["note"]
    assert rows["canonical_ess_bulk_min"]["value"] > 0


def test_zero_or_unknown_seconds_give_nan_rate():
    rows = rows_by_metric(compute_diagnostics(make_idata(), 0.0))
    assert math.isnan(rows["canonical_ess_bulk_min_per_sampling_second"]["value"])
    assert math.isnan(rows["canonical_ess_bulk_min_per_total_second"]["value"])


# ---------------------------------------------------------------- summary table


def test_summary_has_one_row_per_fit_including_failures():
    ok = FitOutcome("key1", "pymc:nutpie", make_idata(1), 10.0, 20.0)
    as_mapping = {"run_key": "key2", "fitter": "meridian", "idata": make_idata(2, False)}
    failed = FitOutcome("key3", "pymc:blackjax", None, status="failed", reason="OOM")
    table = diagnostics_summary([ok, as_mapping, failed], "small_business")
    assert list(table["run_key"]) == ["key1", "key2", "key3"]
    assert set(table["dataset"]) == {"small_business"}
    assert list(table.columns[:5]) == ["dataset", "run_key", "fitter", "status", "reason"]
    assert table.loc[0, "sampler_n_divergences"] == 3
    assert table.loc[0, "canonical_ess_bulk_min_per_sampling_second"] == pytest.approx(
        table.loc[0, "canonical_ess_bulk_min"] / 10.0
    )
    assert "sampler_ebfmi_min: sample_stats has no 'energy'" in table.loc[1, "notes"]
    assert table.loc[2, "reason"] == "OOM" and math.isnan(table.loc[2, "canonical_ess_bulk_min"])


def test_summary_rejects_unknown_keys():
    with pytest.raises(DatasetFormatError, match="unknown key"):
        diagnostics_summary([{"run_key": "k", "fitter": "f", "idata": None, "x": 1}], "d")
