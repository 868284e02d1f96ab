"""Scenario presets that a model represents exactly: with the true parameters mapped into
the model's own parametrisation, the library's own graph (no sampling) gives the
noise-free truth ``y - noise`` to 1e-6 relative.

``shared_dgp`` is represented by PyMC-Marketing with ``saturation="hill"`` and by
Meridian; ``pymc_native`` by PyMC-Marketing's default structure (Hill sigmoid, yearly
Fourier seasonality); ``meridian_native`` by Meridian. Each test also perturbs one
parameter by 1 % and checks that the match breaks, so that the check can fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmm_param_recovery.benchmarking.fitters import meridian_model, pymc_model
from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset
from mmm_param_recovery.data_generator.ground_truth import reference_spend
from mmm_param_recovery.data_generator.io import channel_columns, control_columns

SEED = 3
RTOL = 1e-6


def _dataset(preset: str = "shared_dgp", **switches):
    result = generate_mmm_dataset(customize_preset(preset, seed=SEED, **switches))
    data = result["data"]
    return result, data, channel_columns(data), control_columns(data)


def _noise_free(result) -> np.ndarray:
    """y - noise, (date, geo), y units."""
    frame = result["data"].sort_values(["date", "geo"], kind="stable")
    noise = result["ground_truth"]["noise"].sort_values(["date", "geo"], kind="stable")
    n_dates, n_geos = frame["date"].nunique(), frame["geo"].nunique()
    return (frame["y"].to_numpy() - noise["noise"].to_numpy()).reshape(n_dates, n_geos)


def _media(result, channels, geos):
    """Per channel: (adstock alpha, saturation type, its params, reference spend,
    full-saturation effect per geo (y units per week))."""
    params = result["ground_truth"]["transform_parameters"]
    out = {}
    for c in channels:
        p = params[c]
        saturation = p["saturation"]
        out[c] = (p["adstock"]["params"]["alpha"], saturation["type"], saturation["params"],
                  saturation["reference_spend"], np.array([p["effect_by_geo"][g] for g in geos]))
    return out


def _true_media(result, channels, geos):
    """Per channel of a slope-1 Hill dataset: (alpha, kappa in spend units per geo,
    effect per geo)."""
    truth = result["ground_truth"]["transform_parameters"]
    out = {}
    for c, (alpha, kind, params, _, effect) in _media(result, channels, geos).items():
        assert kind == "hill" and params["slope"] == 1.0
        kappa = np.array([params["kappa"] * reference_spend(truth[c], g) for g in geos])
        out[c] = (alpha, kappa, effect)
    return out


def _baseline(result) -> np.ndarray:
    """The baseline (date, geo), y units: intercept + trend + seasonality."""
    frame = result["ground_truth"]["baseline"].sort_values(["date", "geo"], kind="stable")
    return frame["baseline"].to_numpy().reshape(frame["date"].nunique(), -1)


def _pymc_saturation(media, channels, unit, target, shape_factor):
    """PyMC-Marketing's saturation parameters of the true curves on spend / channel
    scale (``unit``: the reference spend in channel-scale units, (channel,)), times the
    target scale: Hill ``beta`` (geo, channel), ``slope``, ``kappa`` (channel); or Hill
    sigmoid ``sigma`` (geo, channel), ``beta``, ``lam`` (channel)."""
    kinds = {media[c][1] for c in channels}
    assert len(kinds) == 1
    _, _, params, _, effect = zip(*(media[c] for c in channels), strict=True)
    params = {key: np.array([p[key] for p in params]) for key in params[0]}
    effect = np.stack(effect, axis=1) / target[:, None]  # (geo, channel)
    if kinds == {"hill"}:
        return {"saturation_slope": params["slope"],
                "saturation_kappa": params["kappa"] * unit * shape_factor,
                "saturation_beta": effect}
    assert kinds == {"hill_sigmoid"}
    at_zero = 1.0 / (1.0 + np.exp(params["beta"] * params["lam"]))
    return {"saturation_beta": params["beta"] / unit,
            "saturation_lam": params["lam"] * unit * shape_factor,
            "saturation_sigma": effect / (1.0 - at_zero)}


def _pymc_fourier(result, mmm, intercept, target) -> np.ndarray:
    """gamma_fourier (geo, mode): the baseline's season (each geo's level ``intercept``
    times the amplitude) is PyMC-Marketing's sin_1 mode."""
    modes = list(mmm.model.coords["fourier_mode"])
    gamma = np.zeros((len(target), len(modes)))
    config = result["config"]
    if config.seasonality_amplitude:
        assert config.seasonality_clock == "day_of_year"
        gamma[:, modes.index("sin_1")] = intercept * config.seasonality_amplitude / target
    return gamma


def _pymc_mean(result, data, channels, controls, shape_factor: float = 1.0) -> np.ndarray:
    """PyMC-Marketing's likelihood mean (date, geo), y units, at the true parameters
    (``shape_factor`` scales the half-saturation point: a deliberate error)."""
    import pymc as pm

    from mmm_param_recovery.benchmarking.fitters.pymc_canonical import LIBRARY_MU, add_library_mu

    geos = sorted(data["geo"].unique())
    media = _media(result, channels, geos)
    saturation_name = media[channels[0]][1]  # the generator's names are PyMC's SATURATIONS
    spec = pymc_model.pymc_model_spec(data, channels, controls, "seed", saturation_name)
    mmm = pymc_model.build_pymc_model_from_spec(data, spec)
    add_library_mu(mmm)
    scales = mmm.get_scales_as_xarray()
    target = scales["target_scale"].values  # (geo,)
    channel_scale = scales["channel_scale"].values  # (geo, channel), max over dates
    truth = result["ground_truth"]["transform_parameters"]
    reference = np.array([[reference_spend(truth[c], g) for c in channels] for g in geos])
    unit = reference / channel_scale  # each geo's reference spend in its own max units
    np.testing.assert_allclose(unit, np.broadcast_to(unit[0], unit.shape), rtol=1e-12)
    saturation = _pymc_saturation(media, channels, unit[0], target, shape_factor)
    coefficients = result["ground_truth"]["control_coefficients"]
    baseline = result["ground_truth"]["baseline"]
    intercept = baseline.groupby("geo", sort=True)["intercept"].first().to_numpy()
    values = {
        "adstock_alpha": np.array([media[c][0] for c in channels]),
        **saturation,
        "intercept_contribution": intercept / target,
        "gamma_control": np.array([[coefficients[k][g] for k in controls] for g in geos])
        / target[:, None],
        "gamma_fourier": _pymc_fourier(result, mmm, intercept, target),
    }
    fixed = pm.do(mmm.model, values)
    return np.asarray(fixed[LIBRARY_MU].eval())


def _relative_gap(mean: np.ndarray, truth: np.ndarray) -> float:
    assert mean.shape == truth.shape  # no broadcasting of (date,) against (date, geo)
    return float(np.max(np.abs(mean - truth) / np.abs(truth)))


@pytest.mark.parametrize("preset", ["shared_dgp", "pymc_native"])
def test_pymc_represents(preset):
    """shared_dgp with saturation="hill", pymc_native with the default Hill sigmoid."""
    result, data, channels, controls = _dataset(preset)
    truth = _noise_free(result)
    assert _relative_gap(_pymc_mean(result, data, channels, controls), truth) < RTOL
    # the check can fail: a 1 % error in one shape parameter shows
    assert _relative_gap(_pymc_mean(result, data, channels, controls, 1.01), truth) > 1e-4


def _meridian_mean(result, data, channels, controls, alpha_shift: float = 0.0) -> np.ndarray:
    """Meridian's expected outcome (geo, time) -> (date, geo), y units, at the true
    parameters mapped onto its scales: KPI per capita centred and scaled, media per
    capita over the channel median, controls standardised."""
    import arviz as az
    import xarray as xr
    from meridian.analysis.analyzer import Analyzer

    spec = meridian_model.meridian_model_spec(data, channels, controls, "seed")
    model = meridian_model.build_meridian_model_from_spec(data, spec)
    geos = sorted(data["geo"].unique())  # Meridian renames a national geo
    times = model.input_data.time.values
    kpi = model.kpi_transformer
    mean, std = float(kpi.population_scaled_mean), float(kpi.population_scaled_stdev)
    population = np.asarray(model.population, dtype=float)  # (geo,)
    media = _true_media(result, channels, geos)
    raw = np.asarray(model.media_tensors.media, dtype=float)  # (geo, time, channel)
    scaled = np.asarray(model.media_tensors.media_scaled, dtype=float)
    ratio = np.where(raw > 0, scaled / np.where(raw > 0, raw, 1), np.nan)
    per_unit = np.nanmax(ratio, 1)  # (geo, channel): 1 / (population x channel median)
    np.testing.assert_allclose(np.nanmin(ratio, 1), per_unit)  # one scale per geo
    kappa = np.stack([media[c][1] for c in channels], axis=1)  # (geo, channel), spend units
    ec = kappa * per_unit  # Meridian's ec: one per channel when the truth is per capita
    np.testing.assert_allclose(ec, np.broadcast_to(ec[0], ec.shape), rtol=1e-12)
    beta = np.stack([media[c][2] for c in channels], axis=1) / (std * population[:, None])
    controls_raw = np.asarray(model.controls, dtype=float)  # (geo, time, control)
    controls_scaled = np.asarray(model.controls_scaled, dtype=float)
    slope_c = (np.ptp(controls_scaled, axis=(0, 1)) / np.ptp(controls_raw, axis=(0, 1)))
    shift_c = (controls_scaled - slope_c * controls_raw).mean(axis=(0, 1))
    coefficients = result["ground_truth"]["control_coefficients"]
    coef = np.array([[coefficients[k][g] for k in controls] for g in geos])
    gamma = coef / slope_c / (std * population[:, None])
    baseline = (_baseline(result) / population - mean) / std - (gamma * shift_c).sum(axis=1)
    base_geo = int(model.baseline_geo_idx)
    weights = np.asarray(model.knot_info.weights, dtype=float)  # (knot, time)
    knot_values = np.linalg.lstsq(weights.T, baseline[:, base_geo], rcond=None)[0]
    posterior = xr.Dataset({
        "mu_t": (("time",), knot_values @ weights),
        "tau_g": (("geo",), baseline[0] - baseline[0, base_geo]),
        "gamma_gc": (("geo", "control_variable"), gamma),
        "beta_gm": (("geo", "media_channel"), beta),
        "alpha_m": (("media_channel",), np.array([media[c][0] for c in channels])
                    + alpha_shift),
        "ec_m": (("media_channel",), ec[0]),
        "slope_m": (("media_channel",), np.ones(len(channels))),
    }, coords={"time": times, "geo": model.input_data.geo.values}).expand_dims(chain=1, draw=1)
    analyzer = Analyzer(model_context=model.model_context,
                        inference_data=az.InferenceData(posterior=posterior))
    outcome = analyzer.expected_outcome(aggregate_geos=False, aggregate_times=False)
    return np.asarray(outcome)[0, 0].T


@pytest.mark.parametrize("preset", ["shared_dgp", "meridian_native"])
def test_meridian_represents(preset):
    result, data, channels, controls = _dataset(preset)
    truth = _noise_free(result)
    assert _relative_gap(_meridian_mean(result, data, channels, controls), truth) < RTOL
    assert _relative_gap(_meridian_mean(result, data, channels, controls, 0.01), truth) > 1e-4
