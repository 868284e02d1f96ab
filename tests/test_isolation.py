"""Isolated fits: phases, timings, peak RSS, crashes, timeouts, caching, a real fit.

The mechanics are tested fast with ``FakeAdapter`` (defined here; the child process
imports it from this module through PYTHONPATH), registered as fitter ``fake`` for the
test only. The ``slow`` tests run the real ``pymc:pymc`` adapter.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest

from mmm_param_recovery.benchmarking import storage as seed_storage
from mmm_param_recovery.benchmarking.fitters import registry
from mmm_param_recovery.benchmarking.fitters.registry import FitterEntry, MemoryModel
from mmm_param_recovery.benchmarking.run import memory
from mmm_param_recovery.benchmarking.run.cores import CoreLease, CorePool
from mmm_param_recovery.benchmarking.run.executors import LocalExecutor
from mmm_param_recovery.benchmarking.run.fit_child import WARNINGS
from mmm_param_recovery.benchmarking.run.isolation import FIT_LOG, run_fit
from mmm_param_recovery.benchmarking.run.specs import dataset_ref, make_fit_spec
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset, save_dataset

PHASES = ["loading", "building", "sampling", "postprocessing", "writing"]
MODES = ("ok", "raise", "sigkill", "hang")
ALLOCATED_BYTES = 300 * 2**20
MIB = 2**20


class FakeAdapter:
    """A LibraryAdapter whose behaviour is picked by the option ``mode``: ``ok`` holds
    ALLOCATED_BYTES while sampling; ``raise`` raises in sample; ``sigkill`` kills its own
    process in sample; ``hang`` starts a sleeping grandchild and sleeps in sample."""

    library = "fake"

    def environment(self, settings, cores):
        return {"FAKE_ENV_CORES": str(cores)}

    def versions(self):
        return {"fake": "1.0"}

    def build(self, prepared, settings, model=None):
        return prepared

    def sample(self, model, prepared, settings):
        mode = settings.option_dict["mode"]
        if mode == "raise":
            raise RuntimeError("sampler exploded")
        if mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "hang":
            grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
            Path(os.environ["FAKE_PID_FILE"]).write_text(str(grandchild.pid))
            time.sleep(300)
        block = np.ones(ALLOCATED_BYTES // 8)
        time.sleep(1.0)  # long enough for the parent to sample the RSS
        return float(block.sum())

    def postprocess(self, fitted, prepared, settings):
        import arviz as az

        draws = np.full((settings.chains, settings.draws), fitted)
        idata = az.from_dict(posterior={"total": draws})
        idata.posterior.attrs["env_cores"] = os.environ["FAKE_ENV_CORES"]
        return idata


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = customize_preset("basic", n_periods=52, seed=3)
    folder = save_dataset(generate_mmm_dataset(config), tmp_path_factory.mktemp("d") / "basic")
    return dataset_ref("basic", folder)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    entry = FitterEntry("fake", "fake", None, f"{__name__}:FakeAdapter", MemoryModel(0.0, 1.0),
                        options={"mode": MODES})
    monkeypatch.setitem(registry._FITTERS, "fake", entry)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    monkeypatch.setenv("FAKE_PID_FILE", str(tmp_path / "grandchild.pid"))
    return entry


def _fake_spec(dataset, mode="ok", timeout=None):
    return make_fit_spec("fake", dataset, chains=2, draws=5, tune=5, cores=1,
                         options={"mode": mode}, timeout_seconds=timeout)


def _leftovers(output_dir: Path) -> list[str]:
    return sorted(p.name for p in output_dir.glob("*/*"))


def test_a_fit_reports_phases_timings_and_peak_rss(fake, dataset, tmp_path):
    phases = []
    result = run_fit(_fake_spec(dataset), tmp_path, on_phase=phases.append)
    assert result.status == "ok", result.reason
    assert phases == PHASES
    expected = sorted((*storage.RUN_FILES, FIT_LOG, WARNINGS))
    assert sorted(p.name for p in result.run_dir.iterdir()) == expected
    phase_sum = result.build_seconds + result.sampling_seconds + result.postprocess_seconds
    assert result.sampling_seconds >= 1.0 and result.total_seconds > phase_sum
    assert ALLOCATED_BYTES < result.peak_rss_bytes < 4 * 2**30
    run = storage.load_run(result.run_dir, expected_key=result.run_key)
    assert run.timings["peak_rss_bytes"] == result.peak_rss_bytes
    attrs = run.posterior().posterior.attrs
    assert attrs["run_key"] == result.run_key and attrs["fitter"] == "fake"
    assert attrs["env_cores"] == "1"  # the adapter's environment reached the child


@pytest.mark.parametrize("state", ["off", "cold", "warm"])
def test_the_jax_cache_state_at_launch_is_recorded_with_the_timings(fake, dataset, tmp_path,
                                                                    monkeypatch, state):
    cache = tmp_path / "jax_cache"
    if state == "off":
        monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))
        if state == "warm":
            cache.mkdir()
            (cache / "entry").write_bytes(b"x")
    result = run_fit(_fake_spec(dataset), tmp_path / "out")
    assert result.status == "ok", result.reason
    assert result.jax_cache == state
    assert storage.load_run(result.run_dir).timings["jax_cache"] == state
    assert run_fit(_fake_spec(dataset), tmp_path / "out").jax_cache == state  # reused


def test_a_fit_sharing_cores_waits_for_them_before_sampling_and_the_wait_is_recorded(
        fake, dataset, tmp_path):
    pool, hold_seconds = CorePool(2), 1.5
    other = CoreLease(pool, 1)  # another fit, sampling on one of the two cores
    assert other.open(lambda: False) and other.grant_sampling(lambda: False)
    lease = CoreLease(pool, 2)
    assert lease.open(lambda: False)
    phases = []

    def on_phase(phase):
        phases.append(phase)
        if phase == "waiting_for_cores":  # the other fit finishes a while later
            threading.Timer(hold_seconds, other.close).start()

    spec = dataclasses.replace(_fake_spec(dataset), cores=2)
    start = time.perf_counter()
    result = run_fit(spec, tmp_path, on_phase=on_phase, lease=lease)
    elapsed = time.perf_counter() - start
    lease.close()
    assert result.status == "ok", result.reason
    assert phases == [*PHASES[:2], "waiting_for_cores", *PHASES[2:]]
    assert hold_seconds - 0.2 < result.waiting_seconds < hold_seconds + 2.0
    assert pool.peak_in_use == 2 and pool._in_use == 0
    timings = storage.load_run(result.run_dir).timings
    assert timings["waiting_seconds"] == result.waiting_seconds
    phase_sum = sum(timings[name] for name in ("build_seconds", "sampling_seconds",
                                               "postprocess_seconds"))
    assert phase_sum < result.total_seconds  # the fit's own phases are in its time ...
    fit_wall = elapsed - result.waiting_seconds  # ... and the wait is not
    assert fit_wall - 1.0 < result.total_seconds < fit_wall
    assert "cores.granted" not in {p.name for p in result.run_dir.iterdir()}


def test_the_overlapping_local_executor_runs_one_fit_more_within_its_cores(fake, dataset,
                                                                           tmp_path):
    executor = LocalExecutor(jobs=1, overlap=True, capacity=2)
    assert executor.parallel == 2
    specs = [dataclasses.replace(_fake_spec(dataset, timeout=float(60 + i)), cores=2)
             for i in range(3)]  # the timeout is run control: three fits of one spec
    with ThreadPoolExecutor(executor.parallel) as threads:
        results = list(threads.map(
            lambda i: executor.run_fit(specs[i], tmp_path / str(i), False, lambda _: None),
            range(3)))
    assert [r.status for r in results] == ["ok"] * 3, [r.reason for r in results]
    assert executor.pool.peak_in_use == 2 and executor.pool._in_use == 0
    # two fits at a time, one sampler at a time: a fit waited at least one sampling (1 s)
    assert max(r.waiting_seconds for r in results) > 0.9


@pytest.mark.parametrize("fits_together", [1, 2])
def test_the_local_executor_starts_only_the_fits_its_memory_budget_holds(
        fake, dataset, tmp_path, fits_together):
    specs = [_fake_spec(dataset, timeout=float(60 + i)) for i in range(2)]
    needed = memory.estimated_peak_bytes(specs[0])
    budget = memory.MemoryBudget(int(needed * (fits_together + 0.5)))
    executor = LocalExecutor(jobs=2, memory_budget=budget)
    phases: list[list[str]] = [[], []]
    with ThreadPoolExecutor(executor.parallel) as threads:
        results = list(threads.map(
            lambda i: executor.run_fit(specs[i], tmp_path / str(i), False, phases[i].append),
            range(2)))
    assert [r.status for r in results] == ["ok"] * 2, [r.reason for r in results]
    assert budget.peak_reserved == needed * fits_together
    waits = sum("waiting for memory" in fit_phases for fit_phases in phases)
    assert waits == (1 if fits_together == 1 else 0)


def test_a_completed_run_is_reused_unless_forced(fake, dataset, tmp_path):
    first = run_fit(_fake_spec(dataset), tmp_path)
    start = time.perf_counter()
    again = run_fit(_fake_spec(dataset), tmp_path)
    assert again.cached and again.run_dir == first.run_dir and again.status == "ok"
    assert time.perf_counter() - start < 2.0  # no process started
    assert again.peak_rss_bytes == first.peak_rss_bytes
    assert not run_fit(_fake_spec(dataset), tmp_path, force=True).cached


def test_an_exception_in_the_child_is_a_failed_fit_with_its_message(fake, dataset, tmp_path):
    result = run_fit(_fake_spec(dataset, "raise"), tmp_path)
    assert result.status == "failed" and result.exit_code == 1
    assert result.reason == "RuntimeError: sampler exploded (during phase 'sampling')"
    assert math.isfinite(result.build_seconds) and math.isnan(result.sampling_seconds)
    assert "Traceback" in result.stderr_tail and result.run_dir is None
    assert _leftovers(tmp_path) == []


def test_a_killed_child_is_a_failed_fit(fake, dataset, tmp_path):
    result = run_fit(_fake_spec(dataset, "sigkill"), tmp_path)
    assert result.status == "failed" and result.exit_code == -signal.SIGKILL
    assert "killed by SIGKILL" in result.reason and "'sampling'" in result.reason
    assert _leftovers(tmp_path) == []


def test_a_timeout_kills_the_process_tree_and_the_next_fit_runs(fake, dataset, tmp_path):
    result = run_fit(_fake_spec(dataset, "hang", timeout=10), tmp_path)
    assert result.status == "timeout"
    assert result.reason == "exceeded the timeout of 10 s during phase 'sampling'"
    assert 10 <= result.total_seconds < 20
    grandchild = int(Path(os.environ["FAKE_PID_FILE"]).read_text())
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == "zombie"
    assert _leftovers(tmp_path) == []
    assert run_fit(_fake_spec(dataset), tmp_path).status == "ok"


def test_an_ineligible_fit_is_skipped_without_a_process(fake, dataset, tmp_path, monkeypatch):
    huge = FitterEntry("fake", "fake", None, fake.adapter, MemoryModel(10_000.0, 1.0),
                       options=fake.options)
    monkeypatch.setitem(registry._FITTERS, "fake", huge)
    result = run_fit(_fake_spec(dataset), tmp_path)
    assert result.status == "skipped" and "estimated peak memory" in result.reason
    assert result.exit_code is None and _leftovers(tmp_path) == []


def test_a_failure_in_the_parent_is_returned_not_raised(fake, dataset, tmp_path, monkeypatch):
    spec = _fake_spec(dataset)
    broken = FitterEntry("fake", "fake", None, "no_such_module:Adapter", MemoryModel(0.0, 1.0),
                         options=fake.options)
    monkeypatch.setitem(registry._FITTERS, "fake", broken)
    result = run_fit(spec, tmp_path)
    assert result.status == "failed" and "ModuleNotFoundError" in result.reason


def test_a_missing_dataset_folder_fails_with_the_childs_message(dataset, tmp_path):
    spec = make_fit_spec("pymc:pymc", dataset, chains=1, draws=5, tune=5)
    spec = dataclasses.replace(spec, dataset=dataclasses.replace(dataset, path=tmp_path / "gone"))
    result = run_fit(spec, tmp_path / "out")
    assert result.status == "failed" and result.exit_code == 1
    assert result.reason.startswith("DatasetFormatError: ")
    assert str(tmp_path / "gone") in result.reason and "'loading'" in result.reason


@pytest.mark.slow
def test_a_real_fit_past_its_timeout_then_within_it(dataset, tmp_path):
    spec = make_fit_spec("pymc:pymc", dataset, chains=2, draws=30, tune=30, cores=2,
                         timeout_seconds=3)
    stopped = run_fit(spec, tmp_path)
    assert stopped.status == "timeout" and "exceeded the timeout of 3 s" in stopped.reason
    assert stopped.peak_rss_bytes > 0 and _leftovers(tmp_path) == []

    phases = []
    spec = make_fit_spec("pymc:pymc", dataset, chains=2, draws=30, tune=30, cores=2,
                         timeout_seconds=600)
    result = run_fit(spec, tmp_path, on_phase=phases.append)
    assert result.status == "ok", result.reason + result.stderr_tail
    real_phases = [*PHASES[:2], "prior_check", *PHASES[2:]]  # real adapters check priors
    assert phases == real_phases and result.run_key == stopped.run_key  # timeout: not identity
    assert 200 * MIB < result.peak_rss_bytes < 8 * 2**30
    assert all(s > 0 for s in (result.build_seconds, result.sampling_seconds,
                                result.postprocess_seconds))
    posterior = storage.load_run(result.run_dir, result.run_key).posterior()
    assert {"channel_contribution", "mu", "y_ppc", "roas"} <= set(posterior.posterior)
    assert posterior.posterior.sizes["draw"] == 30 and posterior.posterior.sizes["chain"] == 2

    assert storage.model_exists("basic", "pymc", "pymc", output_dir=tmp_path)
    mmm = seed_storage.load_pymc_model("basic", "pymc", output_dir=tmp_path)
    assert set(mmm.idata.posterior.data_vars) == set(posterior.free_parameters.data_vars)
    assert mmm.idata.posterior.sizes["draw"] == 30
