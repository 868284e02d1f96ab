"""The seed API of the original design, called with exactly its documented signatures on
tiny real fits (docs: ../shared/000_*.txt, DESIGN.md section 1).

One PyMC-Marketing fit (sampler ``pymc``) and one Meridian fit of the ``basic`` preset,
in this process, then evaluation, diagnostics and persistence by dataset name.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mmm_param_recovery.benchmarking.data_loader import load_multiple_datasets
from mmm_param_recovery.benchmarking.diagnostics import compute_ess, create_diagnostics_summary
from mmm_param_recovery.benchmarking.evaluation import evaluate_meridian_fit, evaluate_pymc_fit
from mmm_param_recovery.benchmarking.model_builder import build_meridian_model, build_pymc_model
from mmm_param_recovery.benchmarking.model_fitter import fit_meridian, fit_pymc
from mmm_param_recovery.benchmarking.storage import (
    load_meridian_model,
    load_pymc_model,
    model_exists,
    save_meridian_model,
    save_pymc_model,
)
from mmm_param_recovery.errors import MMMBenchmarkError

pytestmark = pytest.mark.slow
SEED = 5
ESS_KEYS = {"min", "q10", "q50", "q90"}


@pytest.fixture(scope="module")
def dataset():
    [(data_df, channels, controls, truth_df)] = load_multiple_datasets(["basic"], SEED)
    return data_df, channels, controls, truth_df


@pytest.fixture(scope="module")
def pymc_fit(dataset):
    data_df, channels, controls, _ = dataset
    model = build_pymc_model(data_df, channels, controls)
    return fit_pymc(model, data_df, "pymc", 2, 30, 60, 0.8, SEED)


@pytest.fixture(scope="module")
def meridian_fit(dataset):
    data_df, channels, controls, _ = dataset
    model = build_meridian_model(data_df, channels, controls)
    return fit_meridian(model, 2, 50, 200, 0.8, SEED)  # fewer tune steps: every draw diverges


def test_load_multiple_datasets_returns_the_documented_tuples(dataset):
    data_df, channels, controls, truth_df = dataset
    assert channels == ["x1_tv", "x2_search"] and controls == []
    assert list(data_df.columns[:2]) == ["date", "geo"] and "y" in data_df
    assert [f"contribution_{c}" for c in channels] == list(truth_df.columns[2:])


@pytest.mark.parametrize("fit", ["pymc_fit", "meridian_fit"])
def test_fit_returns_model_runtime_and_ess(fit, request):
    fitted, runtime, ess = request.getfixturevalue(fit)
    assert runtime > 0
    assert set(ess) == ESS_KEYS and 0 < ess["min"] <= ess["q50"] <= ess["q90"]


def test_compute_ess_of_the_library_idata(pymc_fit):
    ess = compute_ess(pymc_fit[0].idata)
    assert set(ess) == ESS_KEYS and ess["min"] > 0


def test_evaluate_returns_fit_statistics(dataset, pymc_fit, meridian_fit):
    data_df = dataset[0]
    for rows in (evaluate_pymc_fit(pymc_fit[0], data_df, "pymc"),
                 evaluate_meridian_fit(meridian_fit[0], data_df)):
        pooled = {(r["quantity"], r["stat"]): r["value"] for r in rows if r["geo"] == "all"}
        assert 0.3 < pooled[("mu", "r2")] <= 1.0
        assert pooled[("mu", "mape")] > 0 and 0 < pooled[("mu", "durbin_watson")] < 4
    with pytest.raises(MMMBenchmarkError, match="sampler: 'nutpie' is invalid"):
        evaluate_pymc_fit(pymc_fit[0], data_df, "nutpie")


def test_create_diagnostics_summary_takes_fit_results(pymc_fit, meridian_fit):
    table = create_diagnostics_summary({"pymc": pymc_fit, "meridian": meridian_fit}, "basic")
    assert list(table["run_key"]) == ["pymc", "meridian"]
    assert list(table["fitter"]) == ["pymc:pymc", "meridian"]
    assert (table["dataset"] == "basic").all() and (table["status"] == "ok").all()
    assert (table["canonical_rhat_max"] > 0.9).all()
    expected = table["canonical_ess_bulk_min"] / pd.Series([pymc_fit[1], meridian_fit[1]])
    assert table["canonical_ess_bulk_min_per_sampling_second"].tolist() == pytest.approx(
        expected.tolist())


def test_save_exists_and_load_by_dataset_name(pymc_fit, meridian_fit, tmp_path):
    assert not model_exists("basic", "pymc", output_dir=tmp_path)
    pymc_dir = save_pymc_model(pymc_fit[0], "basic", "pymc", output_dir=tmp_path)
    meridian_dir = save_meridian_model(meridian_fit[0], "basic", output_dir=tmp_path)
    assert pymc_dir.parent == meridian_dir.parent == tmp_path / "basic"
    assert model_exists("basic", "pymc", "pymc", output_dir=tmp_path)
    assert model_exists("basic", "meridian", output_dir=tmp_path)
    assert not model_exists("basic", "pymc", "nutpie", output_dir=tmp_path)
    mmm = load_pymc_model("basic", "pymc", output_dir=tmp_path)
    assert mmm.idata.posterior.sizes["draw"] == 30
    posterior = load_meridian_model("basic", output_dir=tmp_path)
    assert posterior.posterior.sizes["chain"] == 2
    assert math.isfinite(float(posterior.posterior["roas"].mean()))


def test_saving_under_another_dataset_is_refused(pymc_fit, tmp_path):
    with pytest.raises(MMMBenchmarkError, match="not preset 'seasonal'"):
        save_pymc_model(pymc_fit[0], "seasonal", "pymc", output_dir=tmp_path)
