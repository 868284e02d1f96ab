"""Model specs and prior profiles: library defaults as installed, the seed priors, the
matched ROAS calibration, and a model built from each profile holding the spec's priors."""

from __future__ import annotations

import numpy as np
import pytest

from mmm_param_recovery.benchmarking.fitters import meridian_model, pymc_model
from mmm_param_recovery.benchmarking.fitters import roas_calibration as calibration
from mmm_param_recovery.benchmarking.fitters.model_spec import (
    MATCHED_ROAS_PRIOR,
    PROFILES,
    Dist,
    dist,
    spec_to_dict,
)
from mmm_param_recovery.benchmarking.fitters.priors import spend_share_prior_sigma
from mmm_param_recovery.data_generator import (
    customize_preset,
    generate_mmm_dataset,
    get_preset_config,
)
from mmm_param_recovery.data_generator.io import channel_columns, control_columns
from mmm_param_recovery.errors import FitSpecError

Z95 = 1.6448536269514722


@pytest.fixture(scope="module")
def small():
    data = generate_mmm_dataset(get_preset_config("small_business", seed=42))["data"]
    return data, channel_columns(data), control_columns(data)


def _as_dist(prior) -> Dist:
    """A pymc_extras Prior as a Dist (per-channel DataArrays as tuples)."""
    params = {}
    for key, value in prior.parameters.items():
        if hasattr(value, "parameters"):
            params[key] = _as_dist(value)
        elif hasattr(value, "dims") and getattr(value, "ndim", 0):
            params[key] = tuple(float(v) for v in np.asarray(value))
        else:
            params[key] = float(value)
    return dist(prior.distribution, tuple(prior.dims or ()), **params)


def test_pymc_library_defaults_are_the_installed_ones():
    from pymc_marketing.mmm import GeometricAdstock, HillSaturation, HillSaturationSigmoid
    from pymc_marketing.mmm.linear_trend import LinearTrend
    from pymc_marketing.mmm.multidimensional import MMM

    defaults = {}
    for saturation in (HillSaturationSigmoid(), HillSaturation()):
        mmm = MMM(date_column="date", target_column="y", channel_columns=["a", "b"],
                  dims=("geo",), adstock=GeometricAdstock(l_max=8), saturation=saturation)
        defaults.update({key: _as_dist(prior) for key, prior in mmm.model_config.items()})
    defaults["trend_delta"] = _as_dist(LinearTrend().priors["delta"])
    assert defaults == pymc_model.LIBRARY_DEFAULTS
    assert LinearTrend().n_changepoints == pymc_model.TREND_CHANGEPOINTS


def test_meridian_library_defaults_are_the_installed_ones():
    from meridian.model import prior_distribution

    installed = prior_distribution.PriorDistribution()
    for name, prior in meridian_model.LIBRARY_DEFAULTS.items():
        distribution = getattr(installed, name)
        assert type(distribution).__name__ == prior.name, name
        for key, value in prior.params:
            assert float(distribution.parameters[key]) == value, (name, key)


def test_seed_profile_keeps_the_original_spend_share_priors(small):
    data, channels, controls = small
    sigma = tuple(spend_share_prior_sigma(data, channels).loc[channels])
    pymc = dict(pymc_model.pymc_model_spec(data, channels, controls, "seed").priors)
    assert pymc["saturation_sigma"].param("mu").param("sigma") == pytest.approx(sigma)
    assert pymc["adstock_alpha"] == dist("Beta", ("channel",), alpha=1.0, beta=3.0)
    spec = meridian_model.meridian_model_spec(data, channels, controls, "seed")
    assert spec.media_prior_type == "coefficient" and spec.knots == 13
    assert dict(spec.priors)["beta_m"].param("scale") == pytest.approx(sigma)


def test_profiles_differ_where_documented(small):
    data, channels, controls = small
    pymc = {p: pymc_model.pymc_model_spec(data, channels, controls, p) for p in PROFILES}
    assert (pymc["seed"].trend_changepoints, pymc["library"].trend_changepoints) == (0, 10)
    assert dict(pymc["library"].priors)["saturation_sigma"] == pymc_model.LIBRARY_DEFAULTS[
        "saturation_sigma"]
    assert dict(pymc["matched"].priors)["saturation_sigma"].name == "LogNormal"
    meridian = {p: meridian_model.meridian_model_spec(data, channels, controls, p)
                for p in PROFILES}
    assert dict(meridian["library"].priors) == meridian_model.LIBRARY_DEFAULTS
    assert dict(meridian["matched"].priors)["roi_m"].param("scale") == (1.2,) * 4
    assert len({str(spec_to_dict(s)) for s in (*pymc.values(), *meridian.values())}) == 6
    with pytest.raises(FitSpecError, match="priors: 'fancy' is invalid; allowed: seed"):
        pymc_model.pymc_model_spec(data, channels, controls, "fancy")


def test_hill_saturation_moves_the_seed_asymptote_prior_to_beta(small):
    data, channels, controls = small
    sigmoid = dict(pymc_model.pymc_model_spec(data, channels, controls, "seed").priors)
    hill = dict(pymc_model.pymc_model_spec(data, channels, controls, "seed", "hill").priors)
    assert hill["saturation_beta"] == sigmoid["saturation_sigma"]
    assert hill["saturation_slope"] == hill["saturation_kappa"] == sigmoid["saturation_lam"]
    assert "saturation_sigma" not in hill
    with pytest.raises(FitSpecError, match="settings.options.saturation: 'tanh' is invalid"):
        pymc_model.pymc_model_spec(data, channels, controls, "seed", "tanh")


@pytest.mark.parametrize("saturation", pymc_model.SATURATIONS)
def test_matched_calibration_hits_the_target_interval_in_fresh_draws(small, saturation):
    data, channels, _ = small
    defaults = pymc_model.LIBRARY_DEFAULTS
    prior = calibration.matched_asymptote_prior(data, channels, defaults, saturation)
    parts = calibration.unit_asymptote_roas_by_geo(data, channels, defaults, saturation,
                                                   n=4000, seed=11)
    z = np.random.default_rng(12).normal(size=parts.shape[:2])
    _, mu, sigma = MATCHED_ROAS_PRIOR
    target = np.exp(mu + np.array([-Z95, Z95]) * sigma)
    for c, (m, s) in enumerate(zip(prior.param("mu"), prior.param("sigma"), strict=True)):
        roas = (np.exp(m + s * z) * parts[:, :, c]).sum(axis=1)
        achieved = np.quantile(roas, [0.05, 0.95])
        if s > calibration._S_RANGE[0]:
            np.testing.assert_allclose(achieved, target, rtol=0.3)
        else:  # the shape priors alone are wider than the target: s at its floor
            assert achieved[1] / achieved[0] >= 0.7 * target[1] / target[0]


@pytest.mark.parametrize("saturation", pymc_model.SATURATIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_built_pymc_model_holds_the_spec_priors(small, profile, saturation):
    data, channels, controls = small
    spec = pymc_model.pymc_model_spec(data, channels, controls, profile, saturation)
    mmm = pymc_model.build_pymc_model_from_spec(data, spec)
    priors = dict(spec.priors)
    assert type(mmm.saturation).__name__ == {"hill_sigmoid": "HillSaturationSigmoid",
                                             "hill": "HillSaturation"}[saturation]
    for name in pymc_model.SATURATIONS[saturation]:
        assert _as_dist(mmm.saturation.priors[name]) == priors[f"saturation_{name}"]
    assert _as_dist(mmm.adstock.priors["alpha"]) == priors["adstock_alpha"]
    names = {v.name for v in mmm.model.free_RVs}
    assert ("delta" in names) == (profile != "seed")  # LinearTrend's changepoint slopes


@pytest.mark.parametrize("profile", PROFILES)
def test_built_meridian_model_holds_the_spec_priors(small, profile):
    data, channels, controls = small
    spec = meridian_model.meridian_model_spec(data, channels, controls, profile)
    model = meridian_model.build_meridian_model_from_spec(data, spec)
    assert model.model_spec.media_prior_type == spec.media_prior_type
    name = "beta_m" if spec.media_prior_type == "coefficient" else "roi_m"
    built = getattr(model.model_spec.prior, name)
    expected = dict(spec.priors)[name]
    assert type(built).__name__ == expected.name
    for key, value in expected.params:
        np.testing.assert_allclose(np.asarray(built.parameters[key]), value)


def test_both_models_use_the_data_adstock_window(small):
    """PyMC-Marketing's l_max counts weights, Meridian's max_lag lags after the current
    week: both must hold lags 0..7, the generator presets' l_max = 8."""
    data, channels, controls = small
    preset = customize_preset("small_business").channels[0].transform.adstock_lmax
    mmm = pymc_model.build_pymc_model_from_spec(
        data, pymc_model.pymc_model_spec(data, channels, controls, "library"))
    meridian = meridian_model.build_meridian_model_from_spec(
        data, meridian_model.meridian_model_spec(data, channels, controls, "library"))
    assert mmm.adstock.l_max == preset == meridian.model_spec.max_lag + 1
