"""Run folders: round trip, hash verification, completeness, lookup by fitter."""

from __future__ import annotations

import json
import shutil

import arviz as az
import numpy as np
import pytest
import xarray as xr

from mmm_param_recovery.benchmarking import storage as seed_storage
from mmm_param_recovery.benchmarking.run.specs import DatasetRef, make_fit_spec, run_key
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.errors import StorageError

VERSIONS = {"pymc-marketing": "0.19.2", "pymc": "5.28.5"}
TIMINGS = {"build_seconds": 1.5, "sampling_seconds": 2.5, "postprocess_seconds": 0.5,
           "total_seconds": 5.0, "peak_rss_bytes": 10**9}


def _spec(fitter="pymc:pymc", draws=30):
    dataset = DatasetRef(name="small_business", seed=1, config_hash="ab12", path="/data/x",
                         n_dates=5, n_geos=2, n_channels=3)
    return make_fit_spec(fitter, dataset, chains=2, draws=draws, tune=10, seed=7,
                         model={"profile": "seed", "note": "a model built elsewhere"})


def _posterior(draws=30) -> az.InferenceData:
    rng = np.random.default_rng(0)
    dates = np.array("2024-01-01", dtype="datetime64[ns]") + np.arange(5) * np.timedelta64(7, "D")
    coords = {"date": dates, "geo": ["geo_a", "geo_b"], "channel": ["x1_tv", "x2_a", "x3_b"]}
    contribution = xr.DataArray(
        rng.gamma(2.0, size=(2, draws, 5, 2, 3)),
        dims=("chain", "draw", "date", "geo", "channel"), coords=coords,
    )
    posterior = xr.Dataset({"channel_contribution": contribution,
                            "mu": contribution.sum("channel") + 10.0})
    posterior["channel_contribution"].attrs["adstock_normalized"] = np.True_
    posterior.attrs["run_key"] = "abc"
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, draws), bool))})
    return az.InferenceData(posterior=posterior, sample_stats=stats)


@pytest.fixture
def stored(tmp_path):
    spec, idata = _spec(), _posterior()
    path = storage.save_run(tmp_path, spec, VERSIONS, idata, TIMINGS)
    return tmp_path, spec, idata, path


def test_round_trip_restores_the_posterior_spec_and_timings(stored):
    output_dir, spec, idata, path = stored
    key = run_key(spec, VERSIONS)
    assert path == output_dir / "small_business" / f"pymc_pymc__{key[:8]}"
    assert sorted(p.name for p in path.iterdir()) == sorted(storage.RUN_FILES)
    run = storage.load_run(path, expected_key=key)
    assert run.run_key == key and run.versions == VERSIONS and run.timings == TIMINGS
    assert run.spec["settings"]["draws"] == 30
    loaded = run.posterior()
    xr.testing.assert_identical(loaded.posterior.load(), idata.posterior)
    assert loaded.posterior["channel_contribution"].attrs["adstock_normalized"] == 1
    assert loaded.sample_stats["diverging"].dtype == bool


def test_find_completed_run_only_for_the_same_spec_and_versions(stored):
    output_dir, spec, _, path = stored
    assert storage.find_completed_run(output_dir, spec, VERSIONS).path == path
    assert storage.find_completed_run(output_dir, _spec(draws=31), VERSIONS) is None
    assert storage.find_completed_run(output_dir, spec, {**VERSIONS, "pymc": "6"}) is None


def test_model_exists_by_library_and_sampler(stored):
    output_dir = stored[0]
    assert storage.model_exists("small_business", "pymc", "pymc", output_dir=output_dir)
    assert storage.model_exists("small_business", "pymc", output_dir=output_dir)
    assert not storage.model_exists("small_business", "pymc", "nutpie", output_dir=output_dir)
    assert not storage.model_exists("small_business", "meridian", output_dir=output_dir)
    assert not storage.model_exists("medium_business", "pymc", output_dir=output_dir)


def test_a_tampered_spec_is_rejected(stored):
    output_dir, spec, _, path = stored
    record = json.loads((path / storage.RUN_SPEC).read_text())
    record["spec"]["settings"]["draws"] = 1000
    (path / storage.RUN_SPEC).write_text(json.dumps(record))
    with pytest.raises(StorageError, match="does not match the hash"):
        storage.load_run(path)
    assert storage.find_completed_run(output_dir, spec, VERSIONS) is None
    assert not storage.model_exists("small_business", "pymc", output_dir=output_dir)


def test_a_key_other_than_the_expected_one_is_rejected(stored):
    path = stored[3]
    with pytest.raises(StorageError, match="differs from the expected"):
        storage.load_run(path, expected_key="0" * 64)


@pytest.mark.parametrize("missing", storage.RUN_FILES)
def test_a_half_written_folder_is_not_complete(stored, missing):
    output_dir, spec, _, path = stored
    (path / missing).unlink()
    with pytest.raises(StorageError, match=f"incomplete run, missing \\['{missing}'\\]"):
        storage.load_run(path)
    assert storage.find_completed_run(output_dir, spec, VERSIONS) is None
    assert not storage.model_exists("small_business", "pymc", output_dir=output_dir)


def test_a_staging_folder_is_never_a_run(stored):
    output_dir, _, _, path = stored
    staging = path.with_name(path.name + ".tmp-999")
    shutil.copytree(path, staging)
    shutil.rmtree(path)
    assert not storage.model_exists("small_business", "pymc", output_dir=output_dir)
    assert storage.completed_runs(output_dir, "small_business", ()) == []


def test_commit_refuses_an_incomplete_staging_folder(tmp_path):
    staging = tmp_path / "run.tmp-1"
    staging.mkdir()
    (staging / storage.RUN_SPEC).write_text("{}")
    with pytest.raises(StorageError, match="cannot commit"):
        storage.commit_run(staging, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_saving_again_replaces_the_run_and_leaves_no_temporary_files(stored):
    output_dir, spec, _, path = stored
    storage.save_run(output_dir, spec, VERSIONS, _posterior(), {**TIMINGS, "total_seconds": 9})
    assert storage.load_run(path).timings["total_seconds"] == 9
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert not [p for p in path.iterdir() if p.name.startswith(".")]


def test_corrupt_json_is_a_storage_error(stored):
    path = stored[3]
    (path / storage.TIMINGS).write_text("{not json")
    with pytest.raises(StorageError, match="cannot be read as JSON"):
        storage.load_run(path)


def test_loading_a_model_without_a_completed_run_names_what_exists(stored):
    output_dir = stored[0]
    with pytest.raises(StorageError, match="no completed run of meridian"):
        seed_storage.load_meridian_model("small_business", output_dir=output_dir)
    with pytest.raises(StorageError, match="allowed: \\[.{10}\\]"):
        seed_storage.load_pymc_model("small_business", "pymc", output_dir, run_key="ffffffff")
