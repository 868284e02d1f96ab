"""Plots of stored results: each writes a plausible PNG; mismatched coordinates raise."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.metrics.recovery import compute_recovery_metrics
from mmm_param_recovery.benchmarking.metrics.truth import canonical_truth
from mmm_param_recovery.benchmarking.report import plots as viz
from mmm_param_recovery.benchmarking.report.figures import save_figure
from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset
from mmm_param_recovery.errors import CoordinateMismatchError, DatasetFormatError

CHAINS, DRAWS = 2, 20
IDENTITY = {"dataset": "basic", "seed": 1, "priors": "seed", "run_key": "k"}


@pytest.fixture(scope="module")
def truth() -> xr.Dataset:
    config = customize_preset("basic", n_periods=30, **{"regions.n_regions": 2})
    return canonical_truth(generate_mmm_dataset(config))


def make_posterior(truth: xr.Dataset, seed: int = 0, scale: float = 1.0) -> az.InferenceData:
    """A canonical posterior near ``truth``: contributions times ``scale`` with noise."""
    rng = np.random.default_rng(seed)
    contribution = truth["channel_contribution"]
    sample = {"chain": np.arange(CHAINS), "draw": np.arange(DRAWS)}
    noise = rng.lognormal(0.0, 0.1, (CHAINS, DRAWS, *contribution.shape))
    draws = xr.DataArray(noise, dims=("chain", "draw", *contribution.dims),
                         coords=sample) * contribution * scale
    non_media = (truth["mu"] - contribution.sum("channel")).expand_dims(sample)
    mu = non_media + draws.sum("channel")
    sigma = float(np.std(truth["y"] - truth["mu"]))
    y_ppc = mu + rng.normal(0.0, sigma, mu.shape)
    posterior = xr.Dataset({
        "channel_contribution": draws, "non_media": non_media, "mu": mu, "y_ppc": y_ppc,
        "roas": draws.sum(("date", "geo")) / truth["spend"].sum(("date", "geo")),
        "roas_by_geo": draws.sum("date") / truth["spend"].sum("date"),
    }).transpose("chain", "draw", ...)
    return az.InferenceData(posterior=posterior)


def runtime_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """runtime_comparison and ess_comparison rows: two ok fits, one failed, one skipped."""
    fitters = ["pymc:pymc", "pymc:nutpie", "pymc:blackjax", "meridian"]
    status = ["ok", "ok", "failed", "skipped"]
    reason = [None, None, "RuntimeError: sampler diverged badly", "needs 40 GB, limit 8 GB"]
    ident = pd.DataFrame({**IDENTITY, "fitter": fitters, "library": "pymc", "sampler": "",
                          "status": status, "reason": reason})
    runtime = ident.assign(build_seconds=[4.0, 9.0, np.nan, np.nan],
                           sampling_seconds=[30.0, 6.0, np.nan, np.nan],
                           postprocess_seconds=[2.0, 2.5, np.nan, np.nan],
                           total_seconds=[36.5, 18.0, np.nan, np.nan],
                           peak_rss_gb=[1.2, 0.8, np.nan, np.nan])
    ess = ident.iloc[::-1].assign(ess_per_second=[np.nan, np.nan, 150.0, 12.0])
    return runtime, ess


def assert_png(path: Path, fig: Figure, min_width: int = 400) -> None:
    assert isinstance(fig, Figure)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= min_width and height >= 200
    assert not list(path.parent.glob(".*.tmp"))


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_posterior_predictive_writes_png(truth, tmp_path):
    path = tmp_path / "plots" / "ppc.png"
    fig = viz.plot_posterior_predictive(make_posterior(truth), truth["y"], "pymc:pymc")
    assert_png(save_figure(fig, path), fig)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3  # sum + 2 geos


def test_posterior_predictive_caps_geo_panels(truth, tmp_path):
    geos = [f"g{i}" for i in range(8)]
    observed = xr.concat([truth["y"].isel(geo=0, drop=True)] * 8, dim="geo")
    observed = observed.assign_coords(geo=geos).transpose("date", "geo")
    ds = make_posterior(truth).posterior[["mu", "y_ppc"]].isel(geo=0, drop=True)
    ds = xr.concat([ds] * 8, dim="geo").assign_coords(geo=geos)
    fig = viz.plot_posterior_predictive(ds, observed, "many geos")
    assert "first 6 of 8 geos" in fig.get_suptitle()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 7


@pytest.mark.parametrize("change", ["dates", "geo_order", "dtype"])
def test_posterior_predictive_rejects_other_coords(truth, tmp_path, change):
    observed = truth["y"]
    if change == "dates":
        observed = observed.assign_coords(date=observed["date"].values + np.timedelta64(7, "D"))
    elif change == "geo_order":
        observed = observed.isel(geo=[1, 0])
    else:
        observed = observed.assign_coords(date=observed["date"].dt.strftime("%Y-%m-%d").values)
    with pytest.raises(CoordinateMismatchError):
        viz.plot_posterior_predictive(make_posterior(truth), observed, "t")


def test_model_comparison(truth, tmp_path):
    posteriors = {"pymc:pymc": make_posterior(truth), "meridian": make_posterior(truth, 1, 1.2)}
    path = tmp_path / "cmp.png"
    fig = viz.plot_model_comparison(posteriors, truth["y"])
    assert_png(save_figure(fig, path), fig)
    posteriors["short"] = make_posterior(truth).isel(date=slice(0, 29))
    with pytest.raises(CoordinateMismatchError):
        viz.plot_model_comparison(posteriors, truth["y"])
    with pytest.raises(DatasetFormatError):
        viz.plot_model_comparison({}, truth["y"])


def test_contribution_recovery(truth, tmp_path):
    path = tmp_path / "contrib.png"
    fig = viz.plot_contribution_recovery(make_posterior(truth), truth, "pymc:nutpie")
    assert_png(save_figure(fig, path), fig)
    swapped = truth.isel(channel=[1, 0])
    with pytest.raises(CoordinateMismatchError):
        viz.plot_contribution_recovery(make_posterior(truth), swapped, "f")


def recovery_rows(truth: xr.Dataset, posteriors: dict[str, az.InferenceData]) -> pd.DataFrame:
    """recovery_metrics rows (identity columns + tidy metric rows) of several fitters."""
    frames = [
        pd.DataFrame(compute_recovery_metrics(posterior, truth)).assign(
            **IDENTITY, fitter=fitter, status="ok", reason=None)
        for fitter, posterior in posteriors.items()
    ]
    return pd.concat(frames, ignore_index=True)


def test_roas_interval_table_picks_stored_rows(truth):
    posteriors = {"a": make_posterior(truth), "b": make_posterior(truth, 2, 0.8)}
    table = viz.roas_interval_table(recovery_rows(truth, posteriors))
    assert list(table.columns) == list(viz.ROAS_COLUMNS)
    assert table[["fitter", "channel"]].values.tolist() == [
        ["a", "x1_tv"], ["a", "x2_search"], ["b", "x1_tv"], ["b", "x2_search"]]
    roas = posteriors["b"].posterior["roas"].sel(channel="x2_search")
    row = table.iloc[3]
    np.testing.assert_allclose([row.lo94, row.hi94], az.hdi(roas.values.ravel(), hdi_prob=0.94))
    np.testing.assert_allclose(row["mean"], roas.mean())
    assert row.truth == pytest.approx(float(truth["roas"].sel(channel="x2_search")))
    assert (table.lo94 <= table.lo50).all() and (table.hi50 <= table.hi94).all()


def test_roas_interval_table_rejects_several_runs(truth):
    rows = recovery_rows(truth, {"a": make_posterior(truth)})
    with pytest.raises(DatasetFormatError, match="one"):
        viz.roas_interval_table(pd.concat([rows, rows.assign(seed=2)]))


def test_roas_forest(truth, tmp_path):
    posteriors = {"pymc:pymc": make_posterior(truth), "meridian": make_posterior(truth, 3, 1.3)}
    path = tmp_path / "roas.png"
    table = viz.roas_interval_table(recovery_rows(truth, posteriors))
    fig = viz.plot_roas_forest(table)
    assert_png(save_figure(fig, path), fig)
    table.loc[0, "truth"] += 1.0
    with pytest.raises(DatasetFormatError, match="truth"):
        viz.plot_roas_forest(table)


def test_runtime_ess_keeps_failed_and_skipped_as_labelled_gaps(tmp_path):
    runtime, ess = runtime_frames()
    path = tmp_path / "runtime_ess.png"
    fig = viz.plot_runtime_ess(runtime, ess)
    assert_png(save_figure(fig, path), fig)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == runtime["fitter"].tolist()
    shown = texts(fig)
    assert "failed: RuntimeError: sampler diverged badly" in shown
    assert "skipped: needs 40 GB, limit 8 GB" in shown
    assert "total 36.5 s" in shown


def test_runtime_ess_rejects_different_fits(tmp_path):
    runtime, ess = runtime_frames()
    with pytest.raises(CoordinateMismatchError):
        viz.plot_runtime_ess(runtime, ess.iloc[1:])
    with pytest.raises(DatasetFormatError, match="ess_per_second"):
        viz.plot_runtime_ess(runtime, ess.drop(columns="ess_per_second"))


def test_memory_labels_rows_by_dataset_and_seed_when_fitter_repeats(tmp_path):
    runtime, _ = runtime_frames()
    twice = pd.concat([runtime, runtime.assign(seed=2)], ignore_index=True)
    path = tmp_path / "memory.png"
    fig = viz.plot_memory(twice)
    assert_png(save_figure(fig, path), fig)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[5] == "pymc:nutpie · basic · seed 2"
    assert sum(t.startswith("skipped") for t in texts(fig)) == 2
    with pytest.raises(DatasetFormatError, match="several rows"):
        viz.plot_memory(pd.concat([runtime, runtime]))


def test_rank_histograms_count_every_channel_and_seed(tmp_path):
    rng = np.random.default_rng(3)
    rows = pd.DataFrame([
        {"fitter": f, "priors": "seed", "quantity": "roas", "stat": "rank_normalized",
         "channel": c, "geo": "all", "value": rng.uniform()}
        for f in ("pymc:nutpie", "meridian") for c in ("x1_tv", "x2_radio") for _ in range(5)])
    pooled = rows.iloc[:1].assign(channel="all", value=0.99)  # pooled rows are not ranks
    fig = viz.plot_rank_histograms(pd.concat([rows, pooled], ignore_index=True))
    assert_png(save_figure(fig, tmp_path / "ranks.png"), fig)
    counts = [sum(bar.get_height() for bar in ax.containers[0]) for ax in fig.axes]
    assert counts == [10, 10]
    with pytest.raises(DatasetFormatError, match="no ROAS rank rows"):
        viz.plot_rank_histograms(rows.assign(stat="rel_error"))


def test_coverage_calibration(tmp_path):
    rows = [
        {"fitter": f, "metric": m, "nominal": n, "empirical": min(1.0, n + d), "binomial_se": 0.05}
        for f, d in (("pymc:pymc", 0.02), ("meridian", -0.1))
        for m in ("contribution_coverage", "roas_coverage")
        for n in (0.5, 0.8, 0.94)
    ]
    path = tmp_path / "coverage.png"
    fig = viz.plot_coverage_calibration(pd.DataFrame(rows))
    assert_png(save_figure(fig, path), fig)
    with pytest.raises(DatasetFormatError, match="binomial_se"):
        viz.plot_coverage_calibration(pd.DataFrame(rows).drop(columns="binomial_se"))
    profiles = pd.concat([pd.DataFrame(rows).assign(priors=p) for p in ("seed", "matched")])
    fig = viz.plot_coverage_calibration(profiles)
    assert [ax.get_title() for ax in fig.axes] == ["priors: seed", "priors: matched"]
    assert all(len(ax.containers) == 4 for ax in fig.axes)  # 2 fitters x 2 metrics each


def test_fitter_colors_are_fixed():
    assert viz.fitter_color("pymc:nutpie") == get_fitter("pymc:nutpie").color == "#ff7f0e"
    assert viz.fitter_color("new:lib") == viz.fitter_color("new:lib")


def test_all_failed_fits_draw_only_gaps(tmp_path):
    runtime, ess = runtime_frames()
    runtime = runtime.assign(status="timeout", reason=np.nan)
    ess = ess.assign(status="timeout", reason=np.nan, ess_per_second=np.nan)
    fig = viz.plot_runtime_ess(runtime, ess)
    assert texts(fig) == ["timeout"] * 8
    assert all(ax.get_xlim()[0] == 0 and not len(ax.get_xticks()) for ax in fig.axes)


def prior_check_frame() -> pd.DataFrame:
    rows = []
    for fitter, priors, excludes in (("meridian", "seed", 1.0), ("meridian", "matched", 0.0),
                                      ("pymc:nutpie", "seed", 0.0)):
        for channel, truth in (("x1_tv", 1.2), ("x2_radio", 0.7)):
            rows.append({"fitter": fitter, "priors": priors, "channel": channel,
                         "prior_q05": 1.0 if excludes else 0.1, "prior_q95": 4.0,
                         "true_roas": truth, "prior_excludes_truth": excludes,
                         "posterior_mean": truth * 1.1, "posterior_hdi94_low": truth * 0.7,
                         "posterior_hdi94_high": truth * 1.6})
    rows.append({**rows[-1], "fitter": "toy", "prior_q05": np.nan, "prior_q95": np.nan})
    return pd.DataFrame(rows)


def test_prior_checks_mark_a_prior_that_excludes_the_truth(tmp_path):
    fig = viz.plot_prior_checks(prior_check_frame())
    assert_png(save_figure(fig, tmp_path / "prior.png"), fig)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "meridian [seed] (prior excludes truth)" in legend
    assert "meridian [matched]" in legend and not any(t.startswith("toy") for t in legend)
    with pytest.raises(DatasetFormatError, match="no fit with a prior check"):
        viz.plot_prior_checks(prior_check_frame().assign(prior_q05=np.nan))
    with pytest.raises(DatasetFormatError, match="true_roas"):
        viz.plot_prior_checks(prior_check_frame().assign(
            true_roas=np.arange(len(prior_check_frame()), dtype=float)))


def with_curves(idata: az.InferenceData, truth: xr.Dataset, scale: float) -> az.InferenceData:
    """``idata`` plus response curves: the truth's times ``scale`` with a +-10 % spread."""
    spread = xr.DataArray(np.linspace(0.9, 1.1, CHAINS * DRAWS).reshape(CHAINS, DRAWS),
                          dims=("chain", "draw"))
    posterior = idata.posterior.assign(response_curve=truth["response_curve"] * scale * spread)
    return az.InferenceData(posterior=posterior)


def test_response_recovery(truth, tmp_path):
    posteriors = {"pymc:pymc": with_curves(make_posterior(truth), truth, 1.0),
                  "meridian": with_curves(make_posterior(truth, 1), truth, 1.3)}
    fig = viz.plot_response_recovery(posteriors, truth)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == truth.sizes["channel"]
    assert_png(save_figure(fig, tmp_path / "curves.png"), fig)
    with pytest.raises(DatasetFormatError, match="no response_curve"):
        viz.plot_response_recovery({"old": make_posterior(truth)}, truth)
    other_grid = {"x": with_curves(make_posterior(truth), truth, 1.0).posterior.isel(
        spend_point=slice(0, 10))}
    with pytest.raises(CoordinateMismatchError):
        viz.plot_response_recovery(other_grid, truth)
