"""The generator's numpy transforms: same numbers as PyMC-Marketing, and their properties.

The cross-checks compile PyMC-Marketing's own functions (pytensor, xtensor dims) once per
definition and evaluate them on random inputs drawn by hypothesis.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytensor
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymc_marketing.mmm import transformers as pmt
from pytensor.xtensor.type import xtensor

from mmm_param_recovery.data_generator import transforms

L_MAX = 6
N_DATES, N_GEOS = 15, 3
PARAM_RANGES = {  # parameter -> (low, high) of the random draws, per geo
    "alpha": (0.01, 0.95), "theta": (0.0, L_MAX - 1.0), "lam": (0.5, 8.0), "k": (0.5, 4.0),
    "slope": (0.3, 4.0), "kappa": (0.2, 3.0),
}
ADSTOCK_PARAMS = {"geometric": ("alpha",), "delayed": ("alpha", "theta"),
                  "weibull": ("lam", "k")}
CROSS_CHECK = settings(max_examples=25, deadline=None)
RTOL, ATOL = 1e-10, 1e-12


@functools.cache
def pymc_marketing_function(name: str, normalize: bool = False):
    """PyMC-Marketing's transform ``name`` compiled to f(x (date, geo), *params (geo,))
    -> (date, geo); adstocks with l_max=L_MAX and the given ``normalize``."""
    x = xtensor("x", dims=("date", "geo"), shape=(None, None))
    names = ADSTOCK_PARAMS.get(name) or {"hill": ("slope", "kappa"), "logistic": ("lam",)}[name]
    params = {p: xtensor(p, dims=("geo",), shape=(None,)) for p in names}
    if name in ADSTOCK_PARAMS:
        fun = getattr(pmt, f"{name}_adstock")
        out = fun(x, **params, l_max=L_MAX, normalize=normalize, dim="date")
    else:
        fun = pmt.hill_function if name == "hill" else pmt.logistic_saturation
        out = fun(x, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytensor.function([x, *params.values()], out.transpose("date", "geo"),
                                 mode="FAST_COMPILE")


def random_inputs(seed: int, names: tuple[str, ...], x_high: float = 3.0):
    """x (date, geo) uniform in [0, x_high) and each named parameter per geo."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, x_high, (N_DATES, N_GEOS))
    return x, {p: rng.uniform(*PARAM_RANGES[p], N_GEOS) for p in names}


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("fun", list(ADSTOCK_PARAMS))
@CROSS_CHECK
@given(seed=st.integers(0, 2**32 - 1))
def test_adstock_matches_pymc_marketing(fun: str, normalize: bool, seed: int) -> None:
    x, params = random_inputs(seed, ADSTOCK_PARAMS[fun])
    expected = pymc_marketing_function(fun, normalize)(x, *params.values())
    ours = transforms.apply_adstock(x, fun, params, L_MAX, normalize)
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("fun, names", [("hill", ("slope", "kappa")), ("logistic", ("lam",))])
@CROSS_CHECK
@given(seed=st.integers(0, 2**32 - 1))
def test_saturation_matches_pymc_marketing(fun: str, names: tuple[str, ...], seed: int) -> None:
    x, params = random_inputs(seed, names, x_high=6.0)
    x[0, 0] = 0.0  # the x = 0 edge, where ours avoids 0 ** slope
    expected = pymc_marketing_function(fun)(x, *params.values())
    np.testing.assert_allclose(transforms.apply_saturation(x, fun, params), expected,
                               rtol=RTOL, atol=ATOL)


adstock_cases = st.sampled_from(list(ADSTOCK_PARAMS)).flatmap(
    lambda fun: st.tuples(
        st.just(fun),
        st.fixed_dictionaries({p: st.floats(*PARAM_RANGES[p]) for p in ADSTOCK_PARAMS[fun]}),
        st.integers(1, 12),
        st.booleans(),
    )
)


@given(case=adstock_cases, n_extra=st.integers(0, 10))
def test_adstock_of_an_impulse_is_its_weights(case, n_extra: int) -> None:
    fun, params, l_max, normalize = case
    impulse = np.zeros(l_max + n_extra)
    impulse[0] = 1.0
    weights = transforms.adstock_weights(fun, params, l_max, normalize)
    expected = np.concatenate([weights, np.zeros(n_extra)])
    np.testing.assert_allclose(transforms.apply_adstock(impulse, fun, params, l_max, normalize),
                               expected, rtol=1e-12, atol=1e-15)
    if normalize:
        assert weights.sum() == pytest.approx(1.0, rel=1e-12)


@given(case=adstock_cases, seed=st.integers(0, 2**32 - 1), n_spend=st.integers(1, 40))
def test_normalised_adstock_keeps_the_total(case, seed: int, n_spend: int) -> None:
    """Spend followed by l_max - 1 quiet weeks: all its carry-over lands inside the series."""
    fun, params, l_max, _ = case
    spend = np.zeros(n_spend + l_max - 1)
    spend[:n_spend] = np.random.default_rng(seed).uniform(0.0, 100.0, n_spend)
    carried = transforms.apply_adstock(spend, fun, params, l_max, normalize=True)
    assert carried.sum() == pytest.approx(spend.sum(), rel=1e-10, abs=1e-10)
    assert np.all(carried >= 0)


@given(case=adstock_cases, seed=st.integers(0, 2**32 - 1))
def test_adstock_is_vectorised_over_trailing_axes(case, seed: int) -> None:
    fun, params, l_max, normalize = case
    x = np.random.default_rng(seed).uniform(0.0, 1.0, (20, 2, 3))
    whole = transforms.apply_adstock(x, fun, params, l_max, normalize)
    for g in range(2):
        for c in range(3):
            column = transforms.apply_adstock(x[:, g, c], fun, params, l_max, normalize)
            np.testing.assert_allclose(whole[:, g, c], column, rtol=1e-12, atol=1e-15)


saturation_cases = st.one_of(
    st.tuples(st.just("hill"), st.fixed_dictionaries(
        {"slope": st.floats(*PARAM_RANGES["slope"]), "kappa": st.floats(*PARAM_RANGES["kappa"])})),
    st.tuples(st.just("logistic"), st.fixed_dictionaries({"lam": st.floats(0.05, 1.5)})),
)
spends = st.lists(st.floats(0.0, 20.0), min_size=1, max_size=50)


@given(case=saturation_cases, xs=spends)
def test_saturation_is_monotone_in_unit_interval_and_zero_at_zero(case, xs) -> None:
    """In the drawn ranges (x <= 20, lam * x <= 30) the response stays below 1 in floats;
    far beyond, it rounds to exactly 1."""
    fun, params = case
    x = np.sort(np.asarray([0.0, *xs]))
    response = transforms.apply_saturation(x, fun, params)
    assert response[0] == 0.0
    assert np.all(np.diff(response) >= 0)
    assert np.all((response >= 0) & (response < 1))


@given(slope=st.floats(*PARAM_RANGES["slope"]), kappa=st.floats(1e-3, 1e6))
def test_hill_is_one_half_at_kappa(slope: float, kappa: float) -> None:
    assert transforms.hill_saturation(kappa, slope, kappa) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("call, name", [
    (lambda: transforms.apply_adstock(np.ones(3), "gamma", {}, 2, True), "gamma"),
    (lambda: transforms.apply_saturation(np.ones(3), "tanh", {}), "tanh"),
], ids=["adstock", "saturation"])
def test_unknown_transform_names_raise(call, name: str) -> None:
    with pytest.raises(ValueError, match=f"'{name}'.*allowed"):
        call()
