"""Time every metric stage on a medium_business-sized synthetic canonical posterior.

Usage: ``python benchmarks/bench_metrics.py [--repeat 3] [--draws 1000]``

The posterior is random but plausible (8 geos x 8 channels x 156 weeks x 2 chains x
1000 draws; contributions scattered around a known truth; AR(1) free parameters with
``*_log__`` copies). Prints the median and min seconds per stage over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.diagnostics import compute_diagnostics
from mmm_param_recovery.benchmarking.metrics.predictive import compute_fit_metrics
from mmm_param_recovery.benchmarking.metrics.recovery import (
    compute_recovery_metrics,
    response_curve_error,
)

WEEKS, GEOS, CHANNELS, CONTROLS, CHAINS, GRID = 156, 8, 8, 4, 2, 50


def make_truth(rng: np.random.Generator) -> xr.Dataset:
    coords = {
        "date": pd.date_range("2021-01-04", periods=WEEKS, freq="W-MON"),
        "geo": [f"geo_{chr(97 + g)}" for g in range(GEOS)],
        "channel": [f"x{c + 1}_channel{c + 1}" for c in range(CHANNELS)],
    }
    spend = rng.gamma(2.0, 500.0, (WEEKS, GEOS, CHANNELS))
    contribution = spend * rng.uniform(0.5, 4.0, CHANNELS) * rng.uniform(0.8, 1.2, (GEOS, 1))
    mu = 50_000.0 + contribution.sum(-1)
    truth = xr.Dataset(
        {
            "channel_contribution": (("date", "geo", "channel"), contribution),
            "spend": (("date", "geo", "channel"), spend),
            "mu": (("date", "geo"), mu),
            "y": (("date", "geo"), mu + rng.normal(0.0, 1_000.0, mu.shape)),
            "adstock_alpha": (("channel",), rng.uniform(0.1, 0.8, CHANNELS)),
        },
        coords=coords,
    )
    totals = truth["channel_contribution"].sum("date")
    truth["roas_by_geo"] = totals / truth["spend"].sum("date")
    truth["roas"] = totals.sum("geo") / truth["spend"].sum(("date", "geo"))
    truth["attribution_share"] = totals.sum("geo") / totals.sum()
    truth["adstock_alpha"].attrs["adstock_normalized"] = 1
    return truth


def make_idata(rng: np.random.Generator, truth: xr.Dataset, draws: int) -> az.InferenceData:
    sample = (CHAINS, draws)
    scale = np.exp(rng.normal(0.0, 0.1, (*sample, 1, GEOS, CHANNELS)))
    weekly = 1.0 + rng.normal(0.0, 0.05, (*sample, WEEKS, GEOS, CHANNELS))
    contribution = truth["channel_contribution"].values * scale * weekly
    mu = truth["mu"].values - truth["channel_contribution"].values.sum(-1) + contribution.sum(-1)
    dims4 = ("chain", "draw", "date", "geo")
    posterior = xr.Dataset(
        {
            "channel_contribution": ((*dims4, "channel"), contribution),
            "mu": (dims4, mu),
            "y_ppc": (dims4, mu + rng.normal(0.0, 1_000.0, mu.shape)),
        },
        coords=truth.coords,
    )
    spend = truth["spend"]
    posterior["roas"] = posterior["channel_contribution"].sum(("date", "geo")) / spend.sum(
        ("date", "geo")
    )
    posterior["roas_by_geo"] = posterior["channel_contribution"].sum("date") / spend.sum("date")
    alpha = truth["adstock_alpha"].values + 0.05 * ar1(rng, (*sample, CHANNELS))
    posterior["adstock_alpha"] = (("chain", "draw", "channel"), alpha)
    posterior["adstock_alpha"].attrs["adstock_normalized"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.InferenceData(
            posterior=posterior,
            free_parameters=free_parameters(rng, sample),
            sample_stats=xr.Dataset(
                {
                    "diverging": (("chain", "draw"), rng.random(sample) < 0.002),
                    "energy": (("chain", "draw"), ar1(rng, sample)),
                }
            ),
        )


def free_parameters(rng: np.random.Generator, sample: tuple[int, int]) -> xr.Dataset:
    """About 250 scalars of a PyMC-Marketing geo model, plus unconstrained copies."""
    shapes = {
        "adstock_alpha": ("channel",),
        "saturation_lam": ("channel",),
        "saturation_beta": ("geo", "channel"),
        "saturation_sigma": ("geo", "channel"),
        "intercept_contribution": ("geo",),
        "gamma_control": ("geo", "control"),
        "gamma_fourier": ("geo", "fourier_mode"),
        "y_sigma": ("geo",),
        "y_sigma_log__": ("geo",),
    }
    sizes = {"channel": CHANNELS, "geo": GEOS, "control": CONTROLS, "fourier_mode": 4}
    return xr.Dataset(
        {
            name: (("chain", "draw", *dims), ar1(rng, (*sample, *(sizes[d] for d in dims))))
            for name, dims in shapes.items()
        }
    )


def ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float = 0.3) -> np.ndarray:
    """AR(1) draws along axis 1 (draw) of shape (chain, draw, ...)."""
    noise = rng.normal(size=shape)
    for t in range(1, shape[1]):
        noise[:, t] += phi * noise[:, t - 1]
    return noise


def response_curves(rng: np.random.Generator, draws: int):
    grid = np.linspace(0.0, 1.0, GRID) * rng.uniform(1e4, 1e5, (CHANNELS, 1))
    half = grid.max(axis=1, keepdims=True) / 2
    true = 1e5 * grid / (half + grid)
    post = true * np.exp(rng.normal(0.0, 0.1, (CHAINS, draws, CHANNELS, 1)))
    dims = ("channel", "grid")
    return (
        xr.DataArray(grid, dims=dims),
        xr.DataArray(true, dims=dims),
        xr.DataArray(post, dims=("chain", "draw", *dims)),
    )


def time_stage(func: Callable[[], object], repeat: int) -> tuple[float, float, int]:
    seconds, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        seconds.append(time.perf_counter() - start)
        size = len(result) if isinstance(result, list) else int(np.size(result))
    return statistics.median(seconds), min(seconds), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(20240601)
    truth = make_truth(rng)
    idata = make_idata(rng, truth, args.draws)
    curves = response_curves(rng, args.draws)
    stages = {
        "diagnostics": lambda: compute_diagnostics(idata, 120.0, 150.0),
        "fit": lambda: compute_fit_metrics(idata, truth["y"]),
        "recovery": lambda: compute_recovery_metrics(idata, truth),
        "response_curve": lambda: response_curve_error(*curves),
    }
    print(
        f"posterior: {GEOS} geos x {CHANNELS} channels x {WEEKS} weeks x {CHAINS} chains x "
        f"{args.draws} draws ({idata.posterior.nbytes / 2**20:.0f} MiB); repeat={args.repeat}"
    )
    print(f"{'stage':<16}{'median s':>10}{'min s':>10}{'rows':>8}")
    total = 0.0
    for name, func in stages.items():
        median, fastest, size = time_stage(func, args.repeat)
        total += median
        print(f"{name:<16}{median:>10.3f}{fastest:>10.3f}{size:>8}")
    print(f"{'total':<16}{total:>10.3f}")


if __name__ == "__main__":
    main()
