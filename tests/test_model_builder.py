"""Model builders: spend-share prior scales, Meridian knots, input checks, and the priors
each library ends up with, read off the built models by benchmarks/dump_priors.py (run in
a fresh process: importing Meridian changes JAX's process-wide state)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_param_recovery.benchmarking.fitters.priors import (
    MAX_KNOT_SPACING_WEEKS,
    WEEKS_PER_YEAR,
    meridian_knots,
)
from mmm_param_recovery.benchmarking.model_builder import (
    build_meridian_model,
    build_pymc_model,
    spend_share_prior_sigma,
)
from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset
from mmm_param_recovery.data_generator.io import channel_columns
from mmm_param_recovery.errors import FitSpecError

DUMP_PRIORS = Path(__file__).resolve().parents[1] / "benchmarks" / "dump_priors.py"
BUILDERS = [build_pymc_model, build_meridian_model]


def _frame(spend_a=(3.0, 1.0), spend_b=(1.0, 1.0), weeks=4) -> pd.DataFrame:
    """Two geos x ``weeks``; constant weekly spend per (geo, channel); varying controls."""
    dates = pd.date_range("2024-01-01", periods=weeks, freq="W-MON")
    rows = []
    for t, date in enumerate(dates):
        for geo, spend in (("geo_a", spend_a), ("geo_b", spend_b)):
            rows.append({"date": date, "geo": geo, "x1_tv": spend[0], "x2_search": spend[1],
                         "c1": float(t), "y": 100.0 + t})
    return pd.DataFrame(rows)


def test_spend_share_prior_sigma_known_answer():
    # geo_a shares 0.75/0.25 -> 1.5/0.5; geo_b 0.5/0.5 -> 1/1; mean over geos.
    sigma = spend_share_prior_sigma(_frame(), ["x1_tv", "x2_search"])
    assert list(sigma.index) == ["x1_tv", "x2_search"]
    np.testing.assert_allclose(sigma.to_numpy(), [1.25, 0.75])


def test_spend_share_prior_sigma_rejects_a_geo_without_spend():
    with pytest.raises(FitSpecError, match="geo_b"):
        spend_share_prior_sigma(_frame(spend_b=(0.0, 0.0)), ["x1_tv", "x2_search"])


@pytest.mark.parametrize(("weeks", "knots"), [(2, 2), (52, 7), (104, 13), (105, 13),
                                              (131, 16), (208, 25)])
def test_meridian_knots_known_answers(weeks, knots):
    assert meridian_knots(weeks) == knots


def test_meridian_knots_interpolate_a_yearly_sine_of_any_phase():
    """Meridian places ``k`` knots at ``linspace(0, n - 1, k, dtype=int)`` and interpolates
    linearly between them; a yearly sine must survive that within 15 % of its amplitude
    (the bound for a spacing of 9 weeks: 1 - cos(pi * 9 / 52.18) = 0.143)."""
    for n_times in range(2, 261):
        locations = np.linspace(0, n_times - 1, meridian_knots(n_times), dtype=int)
        assert np.diff(locations).max() <= np.ceil(MAX_KNOT_SPACING_WEEKS)
        t = np.arange(n_times)
        for phase in np.linspace(0, 2 * np.pi, 24, endpoint=False):
            sine = np.sin(2 * np.pi * t / WEEKS_PER_YEAR + phase)
            assert np.abs(np.interp(t, locations, sine[locations]) - sine).max() < 0.15


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.assign(x2_search=0.0), "never spend"),
        (lambda df: df.assign(c1=1.0), "constant over time"),
        (lambda df: df.drop(columns="c1"), "missing column"),
        (lambda df: df.assign(x1_tv=-df["x1_tv"]), "negative spend"),
        (lambda df: df.assign(y=np.nan), "NaN"),
    ],
)
def test_builders_reject_data_they_cannot_fit(build, change, message):
    with pytest.raises(FitSpecError, match=message):
        build(change(_frame()), ["x1_tv", "x2_search"], ["c1"])


def _dump_priors(geos: int) -> dict:
    command = [sys.executable, str(DUMP_PRIORS), "--preset", "multi_region", "--geos",
               str(geos), "--weeks", "52", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module", params=[1, 2], ids=["national", "two_geos"])
def priors(request):
    data = generate_mmm_dataset(customize_preset(
        "multi_region", seed=1, n_periods=52, **{"regions.n_regions": request.param}))["data"]
    expected_sigma = spend_share_prior_sigma(data, channel_columns(data))
    return request.param, _dump_priors(request.param), expected_sigma.to_numpy()


def test_pymc_priors_as_specified(priors):
    _, dumped, sigma = priors
    pymc = dumped["pymc"]
    assert pymc["adstock_alpha"] == {"prior": "Beta(alpha=1.0, beta=3.0)", "dims": ["channel"]}
    for shape in ("saturation_beta", "saturation_lam"):
        assert pymc[shape] == {"prior": "HalfNormal(sigma=1.5)", "dims": ["channel"]}
    assert pymc["saturation_sigma"]["dims"] == ["geo", "channel"]
    assert pymc["saturation_sigma"]["prior"].startswith("InverseGamma(mu=HalfNormal(sigma=[")
    assert pymc["saturation_sigma"]["prior"].endswith("sigma=HalfNormal(sigma=1.5))")
    dumped_sigma = pymc["saturation_sigma"]["prior"].split("[")[1].split("]")[0]
    np.testing.assert_allclose(np.array(dumped_sigma.split(", "), float), sigma, atol=1e-4)
    free = dumped["pymc_free_rvs"]
    assert free["saturation_sigma"] == ["geo", "channel"]
    assert free["saturation_sigma_mu"] == free["adstock_alpha"] == ["channel"]


def test_meridian_priors_as_specified(priors):
    geos, dumped, sigma = priors
    meridian = dumped["meridian"]
    assert meridian["beta_m"]["dist"] == "LogNormal"
    np.testing.assert_allclose(meridian["beta_m"]["params"]["loc"], 0.0)
    np.testing.assert_allclose(meridian["beta_m"]["params"]["scale"], sigma, atol=1e-4)
    assert meridian["alpha_m"] == {
        "dist": "Beta", "params": {"concentration1": 1.0, "concentration0": 3.0},
        "point_mass": False}
    assert dumped["meridian_knots"] == list(np.linspace(0, 51, meridian_knots(52), dtype=int))
    assert dumped["meridian_national"] is (geos == 1)
    # Meridian fixes the geo hierarchy of a national model at zero.
    for name in ("tau_g_excl_baseline", "eta_m", "xi_c"):
        assert meridian[name]["point_mass"] is (geos == 1)
