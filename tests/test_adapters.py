"""The library adapters, through real tiny fits: canonical names, dims, coords, units,
ROAS = contribution / spend and the identity mu = non_media + sum(channel_contribution).

Every fit runs in a fresh process through ``isolation.run_fit`` (JAX/XLA flags must be set
before import; PyMC and Meridian leak process state). Settings are tiny (2 chains x
200 tune x 50 draws): enough for Meridian's windowed adaptation to leave the prior's
tails (with 50 tune steps every Meridian draw diverged), too few for recovery claims.
nutpie runs its numba backend on the two-geo data and its jax backend on the national
data; Meridian's national fit is the seasonal knots test, and numpyro's and Meridian's
two-geo fits are the response-curve test's (constant spend from a few weeks on).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mmm_param_recovery.benchmarking.fitters.canonical import MU_IDENTITY_RTOL, frame_to_array
from mmm_param_recovery.benchmarking.run.isolation import run_fit
from mmm_param_recovery.benchmarking.run.specs import dataset_ref, make_fit_spec
from mmm_param_recovery.benchmarking.store.runs import load_run
from mmm_param_recovery.data_generator import (
    customize_preset,
    generate_mmm_dataset,
    save_dataset,
)
from mmm_param_recovery.data_generator.io import channel_columns

pytestmark = pytest.mark.slow

SAMPLE = ("chain", "draw")
CANONICAL_DIMS = {
    "channel_contribution": (*SAMPLE, "date", "geo", "channel"),
    "non_media": (*SAMPLE, "date", "geo"),
    "mu": (*SAMPLE, "date", "geo"),
    "y_ppc": (*SAMPLE, "date", "geo"),
    "roas": (*SAMPLE, "channel"),
    "roas_by_geo": (*SAMPLE, "geo", "channel"),
    "adstock_alpha": (*SAMPLE, "channel"),
    "response_curve": (*SAMPLE, "channel", "spend_point"),
    "marginal_roas": (*SAMPLE, "channel"),
    "marginal_roas_by_geo": (*SAMPLE, "geo", "channel"),
}
SPEND_STARTS = (3, 5, 7)
"""Week from which each channel's spend is constant in the response test (0 before, at
different weeks: Meridian rejects media constant over time or collinear)."""
SETTLED_FROM = max(SPEND_STARTS) + 8
"""First week whose adstock window (8 weights, lags 0..7, in both libraries) lies inside
the constant spend."""
CHAINS, TUNE, DRAWS = 2, 200, 50
SEASONAL_R2_MARGIN = 0.05


def _save(tmp_path_factory, name: str, config) -> tuple:
    result = generate_mmm_dataset(config)
    folder = save_dataset(result, tmp_path_factory.mktemp(name) / name)
    return dataset_ref(name, folder), result


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """multi_region cut to 52 weeks: one geo (national) and two geos; 3 channels."""
    return {
        geos: _save(tmp_path_factory, f"geos{geos}", customize_preset(
            "multi_region", seed=1, n_periods=52, **{"regions.n_regions": geos}))
        for geos in (1, 2)
    }


def _fit(fitter: str, ref, output_dir, tune: int = TUNE, draws: int = DRAWS, **options):
    spec = make_fit_spec(fitter, ref, chains=CHAINS, tune=tune, draws=draws,
                         target_accept=0.8, seed=3, options=options, cores=2)
    result = run_fit(spec, output_dir, force=True)
    assert result.status == "ok", f"{result.reason}\n{result.stderr_tail}"
    return load_run(result.run_dir).posterior()


def check_canonical(idata, data) -> None:
    """Every contract of docs/architecture.md the canonical posterior must meet."""
    post = idata.posterior
    assert {name: post[name].dims for name in CANONICAL_DIMS} == CANONICAL_DIMS
    np.testing.assert_array_equal(post["date"].values, np.unique(data["date"].values))
    assert list(post["geo"].values) == sorted(data["geo"].unique())
    assert list(post["channel"].values) == channel_columns(data)
    spend = frame_to_array(data, channel_columns(data), "spend")
    contribution = post["channel_contribution"]
    np.testing.assert_allclose(post["roas"], contribution.sum(("date", "geo"))
                               / spend.sum(("date", "geo")), rtol=1e-9)
    np.testing.assert_allclose(post["roas_by_geo"], (contribution.sum("date")
                               / spend.sum("date")).transpose(*SAMPLE, "geo", "channel"),
                               rtol=1e-9)
    np.testing.assert_allclose(post["mu"], post["non_media"] + contribution.sum("channel"),
                               rtol=1e-9)
    assert post.attrs["mu_identity_max_rel_error"] <= MU_IDENTITY_RTOL
    _check_units(idata, data)
    _check_response(post)
    assert post["adstock_alpha"].attrs["adstock_normalized"] in (True, 1)
    assert float(post["adstock_alpha"].min()) > 0 and float(post["adstock_alpha"].max()) < 1
    assert idata.sample_stats["diverging"].dims == SAMPLE
    assert len(idata.free_parameters.data_vars) > 0
    assert all(v.dims[:2] == SAMPLE for v in idata.free_parameters.data_vars.values())
    nonfinite = [n for n, v in idata.free_parameters.data_vars.items()
                 if not np.isfinite(v.values).all()]
    assert nonfinite == [], f"free parameters with NaN/inf: {nonfinite}"


def _check_response(post) -> None:
    """Steady-state curves start at 0, never fall, and give finite marginal ROAS > 0."""
    curve = post["response_curve"]
    assert float(abs(curve.isel(spend_point=0)).max()) <= 1e-9 * float(curve.max())
    assert bool((curve.diff("spend_point") >= 0).all())
    assert bool((post["marginal_roas"] > 0).all())
    assert np.isfinite(post["marginal_roas_by_geo"].values).all()


def _check_units(idata, data) -> None:
    """y units: mu averages to the data's y, media is a plausible share of it, y_ppc
    adds noise to mu, observed_data holds y."""
    post = idata.posterior
    y = data.set_index(["date", "geo"])["y"].to_xarray()
    xr.testing.assert_allclose(idata.observed_data["y"], y.astype(float), rtol=0)
    assert abs(float(post["mu"].mean()) / float(y.mean()) - 1) < 0.1
    media_share = float(post["channel_contribution"].sum(("date", "geo", "channel")).mean()
                        / y.sum())
    assert 0.02 < media_share < 1.0
    noise = (post["y_ppc"] - post["mu"]).std()
    assert 0 < float(noise) < float(y.std())


FITS = [
    ("pymc:pymc", 2, {}), ("pymc:pymc", 1, {}),
    ("pymc:nutpie", 2, {"nutpie_backend": "numba"}), ("pymc:nutpie", 1, {"nutpie_backend": "jax"}),
    ("pymc:numpyro", 1, {}),
    ("pymc:blackjax", 2, {}), ("pymc:blackjax", 1, {}),
]
"""numpyro's and Meridian's two-geo canonical fits are the response-curve test's fits."""


def check_fit(idata, data, fitter: str, options: dict) -> None:
    """``check_canonical`` plus what the fitter's name and options promise."""
    check_canonical(idata, data)
    post = idata.posterior
    assert post.attrs["library"] == fitter.split(":")[0]
    if options:
        assert post.attrs["nutpie_backend"] == options["nutpie_backend"]
    if fitter.startswith("pymc"):
        assert "saturation_sigma" in idata.free_parameters
        assert "energy" in idata.sample_stats


@pytest.mark.parametrize(("fitter", "geos", "options"), FITS,
                         ids=[f"{f}-{g}geo-{'-'.join(o.values())}" for f, g, o in FITS])
def test_fit_gives_canonical_posterior(fitter, geos, options, datasets, tmp_path):
    ref, result = datasets[geos]
    check_fit(_fit(fitter, ref, tmp_path, **options), result["data"], fitter, options)


def test_meridian_knots_follow_yearly_seasonality(tmp_path_factory, tmp_path):
    """Meridian's only seasonality is its knots. On one geo x 105 weeks whose baseline
    seasonality (a yearly sine with zeros at weeks 0, 26, 52, 78, 104) carries about all
    of y's variance and nothing else is seasonal, the posterior-mean mu must explain y
    within ``SEASONAL_R2_MARGIN`` of what the true noise-free y explains. Measured
    (2 chains x 300 tune x 100 draws): R^2 0.949 against 0.942 for the truth, while 5
    knots on those zeros give 0.454."""
    config = customize_preset(
        "basic", seed=1, n_periods=105, seasonality_amplitude=0.3,
        **{"channels.0.pattern": "linear_trend", "channels.0.pattern_params": {"growth": 0.2}})
    ref, result = _save(tmp_path_factory, "seasonal", config)
    idata = _fit("meridian", ref, tmp_path, tune=300, draws=100)
    data = result["data"]
    check_canonical(idata, data)
    y = data["y"].to_numpy()
    mu = idata.posterior["mu"].mean(SAMPLE).values[:, 0]
    noise = result["ground_truth"]["noise"]["noise"].to_numpy()
    total = ((y - y.mean()) ** 2).sum()
    r2, r2_truth = 1 - ((y - mu) ** 2).sum() / total, 1 - (noise**2).sum() / total
    assert r2 > r2_truth - SEASONAL_R2_MARGIN, (r2, r2_truth)


@pytest.mark.parametrize("fitter", ["pymc:numpyro", "meridian"])
def test_response_curve_is_the_library_own_settled_contribution(fitter, tmp_path_factory,
                                                                tmp_path):
    """With spend constant from weeks SPEND_STARTS on, once the adstock has settled, the
    library's own weekly contribution (from its graph, per draw) is the steady-state
    response at the observed spend: the curve's point at the largest observed weekly
    spend (fraction 1) must equal it, draw by draw, to 1e-6 relative. This ties our reading of each
    library's saturation, scalings and geo effects to the library itself. The fits are
    also these fitters' two-geo canonical checks."""
    flat = {f"channels.{c}.{key}": value for c, start in enumerate(SPEND_STARTS)
            for key, value in (("spend_noise", 0.0), ("pattern", "delayed_start"),
                               ("pattern_params", {"start_period": start, "ramp_periods": 1}))}
    config = customize_preset("multi_region", seed=4, n_periods=40,
                              **{"regions.n_regions": 2}, **flat)
    ref, result = _save(tmp_path_factory, "constant_spend", config)
    idata = _fit(fitter, ref, tmp_path)
    check_fit(idata, result["data"], fitter, {})
    post = idata.posterior
    point = int(np.argmin(np.abs(post["spend_fraction"].values - 1.0)))
    assert post["spend_fraction"].values[point] == pytest.approx(1.0)
    settled = post["channel_contribution"].isel(date=slice(SETTLED_FROM, None)).sum("geo")
    curve = post["response_curve"].isel(spend_point=point)
    np.testing.assert_allclose(settled, curve.broadcast_like(settled), rtol=1e-6)
