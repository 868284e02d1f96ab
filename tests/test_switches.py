"""Factorial switches of customize_preset (data_generator/switches.py): each changes what
it names in the generated data, and a bad value raises ConfigError naming the switch."""

from __future__ import annotations

import numpy as np
import pytest

from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset
from mmm_param_recovery.data_generator.switches import FLIGHT_OFF, FLIGHT_ON, apply_switches
from mmm_param_recovery.errors import ConfigError

CHANNELS = ["x1_tv", "x2_search", "x3_social", "x4_radio"]


def generated(**switches):
    return generate_mmm_dataset(customize_preset("small_business", seed=7, **switches))


def test_trend_off_removes_the_baseline_trend_and_on_restores_one():
    off = generated(trend=False)["ground_truth"]["baseline"]["trend"]
    assert np.all(off == 0)
    on = generated(trend=True)["ground_truth"]["baseline"]["trend"].to_numpy()
    assert on[-1] > on[0] > -1e-9


def test_flighted_spend_has_zero_weeks_in_every_channel_at_staggered_times():
    data = generated(spend="flighted")["data"]
    zero = data[CHANNELS].to_numpy() == 0
    np.testing.assert_allclose(zero.mean(axis=0), FLIGHT_OFF / (FLIGHT_ON + FLIGHT_OFF),
                               atol=0.05)
    assert len({tuple(column) for column in zero.T}) == len(CHANNELS)


def test_always_on_spend_never_stops_and_has_no_drift():
    spend = generated(spend="always_on")["data"][CHANNELS].to_numpy()
    assert (spend > 0).all()
    halves = np.array_split(spend, 2)
    np.testing.assert_allclose(halves[0].mean(axis=0), halves[1].mean(axis=0), rtol=0.15)


def test_hill_slope_makes_every_channel_a_hill_curve_with_that_slope():
    truth = generated(hill_slope=1.7)["ground_truth"]["transform_parameters"]
    saturations = [truth[c]["saturation"] for c in CHANNELS]
    assert {s["type"] for s in saturations} == {"hill"}
    assert {s["params"]["slope"] for s in saturations} == {1.7}
    # social was logistic: its half-saturation point becomes the reference spend
    assert truth["x3_social"]["saturation"]["params"]["kappa"] == 1.0
    assert truth["x1_tv"]["saturation"]["params"]["kappa"] == 1.2  # kept


@pytest.mark.parametrize(("phase", "sign"), [(0.0, 1), (np.pi, -1)])
def test_spend_phase_sets_the_seasonal_channel_against_the_baseline(phase, sign):
    result = generated(spend_phase=phase)
    tv = result["data"]["x1_tv"].to_numpy()
    season = result["ground_truth"]["baseline"]["seasonality"].to_numpy()
    assert sign * np.corrcoef(tv, season)[0, 1] > 0.5


@pytest.mark.parametrize(("switches", "field"), [
    ({"trend": 1}, "trend"),
    ({"spend": "sometimes"}, "spend"),
    ({"hill_slope": 0}, "hill_slope"),
    ({"hill_slope": "steep"}, "hill_slope"),
    ({"spend_phase": 7.0}, "spend_phase"),
    ({"spend_phase": True}, "spend_phase"),
    ({"spend": "flighted", "spend_phase": 1.0}, "spend_phase"),
])
def test_bad_switch_raises_config_error_naming_it(switches, field):
    with pytest.raises(ConfigError, match=rf"^{field}: "):
        customize_preset("small_business", **switches)


def test_spend_phase_needs_a_seasonal_channel_and_a_seasonal_baseline():
    no_seasonal_channel = customize_preset("small_business",
                                           **{"channels.0.pattern": "linear_trend"})
    with pytest.raises(ConfigError, match="spend_phase: .*seasonal channel"):
        apply_switches(no_seasonal_channel, {"spend_phase": 1.0})
    flat_baseline = customize_preset("small_business", seasonality_amplitude=0.0)
    with pytest.raises(ConfigError, match="spend_phase: .*baseline is seasonal"):
        apply_switches(flat_baseline, {"spend_phase": 1.0})
