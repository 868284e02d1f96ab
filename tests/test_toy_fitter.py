"""A fitter registered inside this test, with no file edits, is found everywhere.

``ToyAdapter`` (defined here; the isolated child imports it from this module through
PYTHONPATH) fits y on spend by least squares and draws from the Gaussian approximation of
the estimate: a real, if crude, posterior on the canonical coordinates. Registered as
library ``toy``, it goes through the CLI's argument layer, the plan, an isolated fit,
the metrics, every summary table, the plots and the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mmm_param_recovery.benchmarking.fitters import registry
from mmm_param_recovery.benchmarking.fitters.canonical import (
    LibraryParts,
    assemble_canonical,
    frame_to_array,
)
from mmm_param_recovery.benchmarking.fitters.registry import FitterEntry, MemoryModel
from mmm_param_recovery.benchmarking.run.plan import build_plan
from mmm_param_recovery.benchmarking.run.runner import run
from mmm_param_recovery.cli.arguments import request_from_args
from mmm_param_recovery.cli.main import build_parser

TABLES = ("run_status", "runtime_comparison", "ess_comparison", "performance_metrics",
          "diagnostics_summary", "recovery_metrics")


class ToyAdapter:
    """Least squares of y on (1, spend) pooled over geos; draws ~ N(estimate, covariance)."""

    library = "toy"

    def environment(self, settings, cores):
        return {"OMP_NUM_THREADS": "1"}

    def versions(self):
        return {"toy": "0.1", "numpy": np.__version__}

    def build(self, prepared, settings, model=None):
        return prepared

    def sample(self, model, prepared, settings):
        data = prepared.data
        design = np.column_stack([np.ones(len(data)), data[list(prepared.channel_columns)]])
        y = data["y"].to_numpy(dtype=float)
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - design @ beta
        sigma = float(np.sqrt(residual @ residual / (len(y) - design.shape[1])))
        cov = sigma**2 * np.linalg.inv(design.T @ design)
        rng = np.random.default_rng(settings.seed)
        draws = rng.multivariate_normal(beta, cov, size=(settings.chains, settings.draws))
        return draws, sigma

    def postprocess(self, fitted, prepared, settings):
        draws, sigma = fitted
        channels = list(prepared.channel_columns)
        spend = frame_to_array(prepared.data, channels, "spend")
        slope = xr.DataArray(draws[..., 1:], dims=("chain", "draw", "channel"),
                             coords={"channel": channels})
        contribution = slope * spend
        intercept = xr.DataArray(draws[..., 0], dims=("chain", "draw"))
        non_media = intercept + xr.zeros_like(spend.isel(channel=0, drop=True))
        mu = non_media + contribution.sum("channel")
        noise = np.random.default_rng(settings.seed + 1).normal(0.0, sigma, mu.shape)
        alpha = xr.DataArray(np.zeros(draws.shape[:2] + (len(channels),)),
                             dims=("chain", "draw", "channel"), coords={"channel": channels})
        parts = LibraryParts(
            channel_contribution=contribution, non_media=non_media, library_mu=mu,
            y_ppc=mu + noise, adstock_alpha=alpha, adstock_normalized=True,
            free_parameters=xr.Dataset({"beta": (("chain", "draw", "term"), draws)}),
            sample_stats=xr.Dataset({"diverging": (("chain", "draw"),
                                                   np.zeros(draws.shape[:2], bool))}),
        )
        return assemble_canonical(parts, prepared.data, channels, {"library": "toy"})


@pytest.fixture
def toy(monkeypatch):
    entry = FitterEntry("toy", "toy", None, f"{__name__}:ToyAdapter", MemoryModel(0.2, 1.0))
    registry.register_fitter(entry)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    yield entry
    registry.unregister_fitter("toy")


def test_registering_a_fitter_reaches_every_stage(toy, tmp_path):
    assert "toy" in registry.list_libraries() and "toy" in registry.list_fitters()
    args = build_parser().parse_args([
        "--datasets", "basic", "--libraries", "toy", "--chains", "2", "--draws", "50",
        "--tune", "1", "--seed", "7", "--output-dir", str(tmp_path)])
    request = request_from_args(args, default_jobs=1)
    assert request.fitters == ("toy",)
    outcome = run(build_plan(request))

    [record] = outcome.records
    assert record.status == "ok", record.reason
    assert record.run_dir.name.startswith("toy__") and record.run_dir.parent.name == "basic"
    summary = tmp_path / "summary"
    for name in TABLES:
        table = pd.read_csv(summary / f"{name}.csv")
        assert list(table["fitter"].unique()) == ["toy"], name
    assert pd.read_csv(summary / "ess_comparison.csv")["ess_per_second"].gt(0).all()
    performance = pd.read_csv(summary / "performance_metrics.csv").query("geo == 'all'")
    assert performance["mu_r2"].gt(0).all()
    recovery = pd.read_csv(summary / "recovery_metrics.csv")
    assert recovery.query("quantity == 'roas' and stat == 'in_hdi'")["value"].notna().all()
    versus = pd.read_csv(summary / "recovery_vs_oracle.csv")
    assert versus["fitter"].tolist() == ["toy"] and versus["roas_error_all"].notna().all()
    oracle = pd.read_csv(summary / "oracle.csv")
    assert set(oracle["channel"]) == set(recovery["channel"].dropna()) - {"all"}
    flagged = recovery.dropna(subset=["identified"])
    assert len(flagged) and set(flagged["channel"]) <= set(oracle["channel"])
    assert outcome.headline["fitter"].tolist() == ["toy"]
    assert outcome.headline["ROAS mean |rel. error|"].notna().all()
    plots = {p.name for p in (tmp_path / "basic" / "plots").iterdir()}
    assert {"posterior_predictive_toy_seed7.png", "contributions_toy_seed7.png"} <= plots
    assert (summary / "combined_plots" / "roas_forest_basic_seed7.png").is_file()
    verdict = pd.read_csv(summary / "verdict.csv")
    assert verdict["fitter"].tolist() == ["toy"] and verdict["n_ok"].tolist() == [1]
    assert verdict["convergence"].notna().all() and verdict["roas_error_all"].notna().all()
    channels = pd.read_csv(summary / "channel_recovery.csv")
    assert set(channels["channel"]) == set(oracle["channel"])
    assert channels[["true_roas", "posterior_mean", "oracle_roas"]].notna().all().all()
    page = outcome.report.read_text()
    assert page.count("toy") >= 5
    assert 'id="verdict"' in page and "rankings need several seeds" in page


def test_an_unregistered_library_is_refused_by_name(tmp_path):
    args = build_parser().parse_args(["--libraries", "toy", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--libraries: 'toy' is invalid; allowed: pymc"):
        request_from_args(args, default_jobs=1)


class ToyProfilesAdapter(ToyAdapter):
    """The toy under two prior profiles (it ignores priors, so both give one posterior)."""

    profiles = ("seed", "library")


def test_replicates_and_verdict_are_per_prior_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    entry = FitterEntry("toyp", "toyp", None, f"{__name__}:ToyProfilesAdapter",
                        MemoryModel(0.2, 1.0))
    registry.register_fitter(entry)
    try:
        args = build_parser().parse_args([
            "--datasets", "basic", "--libraries", "toyp", "--priors", "seed", "library",
            "--chains", "2", "--draws", "50", "--tune", "1", "--seeds", "1", "2",
            "--output-dir", str(tmp_path)])
        outcome = run(build_plan(request_from_args(args, default_jobs=1)))
    finally:
        registry.unregister_fitter("toyp")
    assert [r.status for r in outcome.records] == ["ok"] * 4
    summary = tmp_path / "summary"
    replicates = pd.read_csv(summary / "replicate_summary.csv")
    means = replicates[(replicates["kind"] == "mean") & (replicates["quantity"] == "roas")
                       & (replicates["stat"] == "rel_error")]
    assert set(means["priors"]) == {"seed", "library"} and means["n_seeds"].eq(2).all()
    verdict = pd.read_csv(summary / "verdict.csv")
    assert sorted(verdict["priors"]) == ["library", "seed"] and verdict["n_ok"].eq(2).all()
    page = outcome.report.read_text()
    assert "rankings need several seeds" not in page
    assert "lowest mean ROAS |relative error|" in page
    assert (summary / "combined_plots" / "rank_histograms.png").stat().st_size > 0
    assert page.index('<section id="calibration"') < page.index("rank_histograms.png")


def test_compare_to_an_earlier_run_adds_its_section(toy, tmp_path):
    def run_into(folder, *extra):
        args = build_parser().parse_args([
            "--datasets", "basic", "--libraries", "toy", "--chains", "2", "--tune", "1",
            "--seeds", "1", "2", "--output-dir", str(folder), *extra])
        return run(build_plan(request_from_args(args, default_jobs=1)))

    run_into(tmp_path / "before", "--draws", "40")
    outcome = run_into(tmp_path / "after", "--draws", "80", "--compare-to",
                       str(tmp_path / "before"))
    comparison = pd.read_csv(tmp_path / "after" / "summary" / "comparison.csv")
    errors = comparison.set_index("metric").loc["roas_error_all"]
    assert errors["n_seeds"] == 2 and errors["fitter"] == "toy"
    assert errors["beyond_noise"] in ("yes", "no") and errors["change_se"] >= 0
    page = outcome.report.read_text()
    assert page.index('<section id="verdict"') < page.index('<section id="comparison"')
    assert str(tmp_path / "before") in page
