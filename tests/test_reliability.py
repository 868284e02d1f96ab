"""Reliability of the harness (issue 12): outputs whatever the fits did, integrity of
stored results, clean ends (kills, Ctrl-C, temp files), concurrent runs, validation up
front, and other generators' files.

The fits are toy fits: ``RelToy`` (defined here; the isolated child imports it from this
module through PYTHONPATH) draws from the least-squares estimate of y on spend, after
sleeping ``RELTOY_SLEEP`` seconds; ``RELTOY_MODE`` (``ok``, ``raise``, ``hang``) and
``RELTOY_LOG`` (one line per sampling call: how often each spec was fitted) come from the
environment, which the child inherits. ``cli_main`` is the CLI with the toy fitters
registered, for tests that need a real parent process to kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import xarray as xr

from mmm_param_recovery.benchmarking.fitters import registry
from mmm_param_recovery.benchmarking.fitters.registry import FitterEntry, MemoryModel
from mmm_param_recovery.benchmarking.run import isolation, processes
from mmm_param_recovery.benchmarking.run.specs import dataset_ref, make_fit_spec, run_key
from mmm_param_recovery.benchmarking.store import datasets as dataset_store
from mmm_param_recovery.benchmarking.store import runs as storage
from mmm_param_recovery.benchmarking.store.atomic import (
    LockWaitCancelled,
    file_lock,
    remove_stale_temporaries,
)
from mmm_param_recovery.benchmarking.store.staging import remove_stale_staging, run_dir_lock
from mmm_param_recovery.cli.main import main
from mmm_param_recovery.data_generator import (
    customize_preset,
    generate_mmm_dataset,
    load_dataset,
    load_dataset_files,
    save_dataset,
)
from mmm_param_recovery.errors import DatasetFormatError, StorageError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TABLES = ("run_status", "runtime_comparison", "ess_comparison", "performance_metrics",
          "diagnostics_summary", "recovery_metrics")
TINY = ("--chains", "1", "--draws", "20", "--tune", "1", "--jobs", "1")


# --------------------------------------------------------------------------- toy fitters

class RelToy:
    """Least squares of y on (1, spend); draws ~ N(estimate, covariance). See module doc."""

    library = "reltoy"
    mode = None  # None: RELTOY_MODE from the environment

    def environment(self, settings, cores):
        return {"OMP_NUM_THREADS": "1"}

    def versions(self):
        return {"reltoy": "1.0"}

    def build(self, prepared, settings, model=None):
        return prepared

    def sample(self, model, prepared, settings):
        mode = self.mode or os.environ.get("RELTOY_MODE", "ok")
        if os.environ.get("RELTOY_PID_FILE"):
            Path(os.environ["RELTOY_PID_FILE"]).write_text(str(os.getpid()))
        log = os.environ.get("RELTOY_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{self.library} {len(prepared.data)} {settings.seed} {os.getpid()}\n")
        if mode == "raise":
            raise RuntimeError("toy sampler exploded")
        if mode == "hang":
            time.sleep(600)
        time.sleep(float(os.environ.get("RELTOY_SLEEP", "0")))
        data = prepared.data
        design = np.column_stack([np.ones(len(data)), data[list(prepared.channel_columns)]])
        y = data["y"].to_numpy(dtype=float)
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - design @ beta
        sigma = float(np.sqrt(residual @ residual / max(len(y) - design.shape[1], 1)))
        cov = sigma**2 * np.linalg.pinv(design.T @ design)
        rng = np.random.default_rng(settings.seed)
        draws = rng.multivariate_normal(beta, cov, size=(settings.chains, settings.draws))
        return draws, sigma

    def postprocess(self, fitted, prepared, settings):
        from mmm_param_recovery.benchmarking.fitters.canonical import (
            LibraryParts,
            assemble_canonical,
            frame_to_array,
        )

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
        return assemble_canonical(parts, prepared.data, channels, {"library": self.library})


class RelBad(RelToy):
    library = "relbad"
    mode = "raise"


class RelHang(RelToy):
    library = "relhang"
    mode = "hang"


TOYS = {"reltoy": (RelToy, 0.0), "relbad": (RelBad, 0.0), "relhang": (RelHang, 0.0),
        "relhuge": (RelToy, 1e6)}  # relhuge: an estimate no machine has: always skipped


def register_toys() -> None:
    for name, (cls, base_gib) in TOYS.items():
        if name not in registry.list_fitters():
            adapter = f"test_reliability:{cls.__name__}"
            registry.register_fitter(FitterEntry(name, name, None, adapter,
                                                 MemoryModel(base_gib, 1.0)))


def unregister_toys() -> None:
    for name in TOYS:
        if name in registry.list_fitters():
            registry.unregister_fitter(name)


def cli_main() -> None:
    """The CLI with the toy fitters registered (``python -c`` entry of the kill tests)."""
    register_toys()
    sys.exit(main(sys.argv[1:]))


@pytest.fixture
def toys(monkeypatch, tmp_path):
    register_toys()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(ROOT)]))
    monkeypatch.setenv("RELTOY_LOG", str(tmp_path / "fits.log"))
    for name in ("RELTOY_MODE", "RELTOY_SLEEP", "RELTOY_PID_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path / "fits.log"
    unregister_toys()


def fits_logged(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def cli(*args: str) -> int:
    return main([*args])


def spawn_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    code = "import test_reliability; test_reliability.cli_main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def summary_files(output: Path) -> set[str]:
    return {p.name for p in (output / "summary").iterdir() if p.is_file()}


def run_folders(output: Path, dataset: str = "basic") -> list[Path]:
    return sorted(p for p in (output / dataset).glob("*__*") if ".tmp-" not in p.name)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 30-week, 2-geo dataset folder and its reference."""
    config = customize_preset("basic", n_periods=30, seed=5, **{"regions.n_regions": 2})
    folder = save_dataset(generate_mmm_dataset(config), tmp_path_factory.mktemp("d") / "basic")
    return dataset_ref("basic", folder)


def toy_spec(ref, fitter="reltoy", timeout=None, draws=20):
    return make_fit_spec(fitter, ref, chains=1, draws=draws, tune=1, cores=1,
                         timeout_seconds=timeout)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ------------------------------------------------ 1. outputs whatever the fits did

def report_text(output: Path) -> str:
    return (output / "summary" / "report.html").read_text()


def test_all_failed_writes_every_table_and_the_report_and_exits_1(toys, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli("--datasets", "basic", "--libraries", "relbad", *TINY,
               "--output-dir", str(output)) == 1
    assert {f"{t}.csv" for t in TABLES} | {"report.html"} <= summary_files(output)
    status = pd.read_csv(output / "summary" / "run_status.csv")
    assert status["status"].tolist() == ["failed"]
    assert "toy sampler exploded" in status["reason"][0]
    page = report_text(output)
    assert "Not in this report" in page and "runtime_ess.png: not drawn" in page
    assert not (output / "summary" / "combined_plots" / "runtime_ess.png").exists()
    assert "error:" not in capsys.readouterr().err


def test_all_timed_out_writes_the_report_and_exits_1(toys, tmp_path, monkeypatch):
    monkeypatch.setenv("RELTOY_SLEEP", "60")
    output = tmp_path / "out"
    start = time.monotonic()
    assert cli("--datasets", "basic", "--libraries", "reltoy", *TINY, "--timeout", "4",
               "--output-dir", str(output)) == 1
    assert time.monotonic() - start < 40
    status = pd.read_csv(output / "summary" / "run_status.csv")
    assert status["status"].tolist() == ["timeout"]
    assert {f"{t}.csv" for t in TABLES} <= summary_files(output)
    assert "exceeded the timeout of 4 s" in report_text(output)


def test_all_skipped_exits_0_with_the_reason_in_the_report(toys, tmp_path):
    output = tmp_path / "out"
    assert cli("--datasets", "basic", "--libraries", "relhuge", *TINY,
               "--output-dir", str(output)) == 0
    status = pd.read_csv(output / "summary" / "run_status.csv")
    assert status["status"].tolist() == ["skipped"]
    assert "estimated peak memory" in report_text(output)
    assert fits_logged(toys) == []


def test_plots_only_finding_nothing_writes_the_report_and_exits_1(toys, tmp_path):
    output = tmp_path / "out"
    assert cli("--datasets", "basic", "--libraries", "reltoy", *TINY, "--plots-only",
               "--output-dir", str(output)) == 1
    status = pd.read_csv(output / "summary" / "run_status.csv")
    assert status["status"].tolist() == ["missing"]
    assert {f"{t}.csv" for t in TABLES} <= summary_files(output)
    assert "no stored result for this spec" in report_text(output)
    assert fits_logged(toys) == []


def test_one_failed_fit_keeps_the_others_plots_and_exits_1(toys, tmp_path):
    output = tmp_path / "out"
    assert cli("--datasets", "basic", "--libraries", "reltoy", "relbad", *TINY,
               "--output-dir", str(output)) == 1
    status = pd.read_csv(output / "summary" / "run_status.csv").set_index("fitter")["status"]
    assert status.to_dict() == {"reltoy": "ok", "relbad": "failed"}
    plots = {p.name for p in (output / "basic" / "plots").iterdir()}
    assert "posterior_predictive_reltoy_seed42.png" in plots
    assert (output / "summary" / "combined_plots" / "runtime_ess.png").is_file()
    assert cli("--datasets", "basic", "--libraries", "reltoy", *TINY,
               "--output-dir", str(output)) == 0  # all ok (reused): exit 0


# ------------------------------------------------------------------- 2. integrity

def _refit_after(tamper, toys, small, tmp_path) -> isolation.FitResult:
    first = isolation.run_fit(toy_spec(small), tmp_path)
    assert first.status == "ok", first.reason
    assert storage.load_run(first.run_dir, first.run_key).run_key == first.run_key
    tamper(first.run_dir)
    with pytest.raises(StorageError, match=storage.CHECKSUM_FAILED):
        storage.load_run(first.run_dir, first.run_key)
    again = isolation.run_fit(toy_spec(small), tmp_path)
    assert again.status == "ok" and not again.cached
    assert again.reason.startswith(storage.CHECKSUM_FAILED) and "re-fitted" in again.reason
    assert storage.load_run(again.run_dir, again.run_key).run_key == first.run_key
    assert len(fits_logged(toys)) == 2
    return again


def _truncate(folder: Path) -> None:
    path = folder / storage.POSTERIOR
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _scale_posterior(folder: Path) -> None:
    import arviz as az

    path = folder / storage.POSTERIOR
    stored = storage.load_run(folder).posterior()
    idata = az.InferenceData(**{group: stored[group].load() for group in stored.groups()})
    idata.posterior["channel_contribution"] = idata.posterior["channel_contribution"] * 10
    storage.write_posterior(idata, folder / "scaled.nc")
    os.replace(folder / "scaled.nc", path)


def _edit_timings(folder: Path) -> None:
    timings = json.loads((folder / storage.TIMINGS).read_text())
    timings["sampling_seconds"] = 0.001
    (folder / storage.TIMINGS).write_text(json.dumps(timings))


@pytest.mark.parametrize("tamper", [_truncate, _scale_posterior, _edit_timings],
                         ids=["truncated posterior", "posterior x10", "edited timings"])
def test_a_stored_file_that_fails_its_checksum_is_refitted(tamper, toys, small, tmp_path):
    again = _refit_after(tamper, toys, small, tmp_path)
    posterior = storage.load_run(again.run_dir).posterior().posterior
    assert float(posterior["channel_contribution"].mean()) < 1e12


def test_an_edited_metrics_file_is_refitted_and_the_reason_shown(toys, small, tmp_path):
    first = isolation.run_fit(toy_spec(small), tmp_path)
    frame = pd.DataFrame({"value": [1.0, 2.0]})
    with run_dir_lock(first.run_dir, first.run_key):
        storage.write_run_metrics(first.run_dir, frame)
    assert storage.load_run(first.run_dir).path == first.run_dir  # recorded: verifies
    (first.run_dir / storage.METRICS).write_bytes(b"PAR1 edited")
    _, problem = storage.lookup_completed_run(tmp_path, toy_spec(small), {"reltoy": "1.0"})
    assert problem.startswith(storage.CHECKSUM_FAILED) and "metrics.parquet" in problem
    again = isolation.run_fit(toy_spec(small), tmp_path)
    assert again.status == "ok" and "metrics.parquet" in again.reason


def test_a_run_without_manifest_is_not_complete(toys, small, tmp_path):
    first = isolation.run_fit(toy_spec(small), tmp_path)
    assert json.loads((first.run_dir / storage.MANIFEST).read_text())["run_key"] == first.run_key
    (first.run_dir / storage.MANIFEST).unlink()
    assert storage.find_completed_run(tmp_path, toy_spec(small), {"reltoy": "1.0"}) is None
    assert not isolation.run_fit(toy_spec(small), tmp_path).cached


def test_metrics_rewrite_is_crash_safe_at_every_step(toys, small, tmp_path):
    """The states a kill can leave between write_run_metrics' steps all verify."""
    first = isolation.run_fit(toy_spec(small), tmp_path)
    folder = first.run_dir
    storage.write_run_metrics(folder, pd.DataFrame({"value": [1.0]}))
    manifest = json.loads((folder / storage.MANIFEST).read_text())
    old = manifest["files"][storage.METRICS]
    new_frame = pd.DataFrame({"value": [2.0, 3.0]})
    staged = tmp_path / "new.parquet"
    new_frame.to_parquet(staged, index=False)
    import hashlib
    new = {"sha256": hashlib.sha256(staged.read_bytes()).hexdigest(),
           "bytes": staged.stat().st_size}
    manifest["files"][storage.METRICS] = [new, old]  # step 1 done, file still old
    (folder / storage.MANIFEST).write_text(json.dumps(manifest))
    assert storage.load_run(folder).path == folder
    os.replace(staged, folder / storage.METRICS)  # step 2 done, manifest still pending
    assert storage.load_run(folder).path == folder
    manifest["files"][storage.METRICS] = [new]  # a third content is refused
    (folder / storage.METRICS).write_bytes(b"something else")
    (folder / storage.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(StorageError, match="metrics.parquet differs"):
        storage.load_run(folder)


def test_an_edited_dataset_file_is_refused_and_rewritten(tmp_path):
    ref = dataset_store.materialise_dataset(tmp_path, "basic", 3)
    data_path = ref.path / "data.parquet"
    original = pd.read_parquet(data_path)
    edited = original.assign(y=original["y"] * 2)
    edited.to_parquet(data_path, index=False)
    with pytest.raises(DatasetFormatError, match="differs from the sha256 recorded"):
        load_dataset(ref.path)
    again = dataset_store.materialise_dataset(tmp_path, "basic", 3)
    assert again.config_hash == ref.config_hash
    pd.testing.assert_frame_equal(pd.read_parquet(data_path), original)
    assert load_dataset(ref.path)["data"]["y"].equals(original["y"])


def test_the_run_key_is_the_specs_hash_unchanged(toys, small, tmp_path):
    result = isolation.run_fit(toy_spec(small), tmp_path)
    assert result.run_key == run_key(toy_spec(small), {"reltoy": "1.0"})
    assert result.run_dir.name == f"reltoy__{result.run_key[:8]}"


# ------------------------------------------------------------------- 3. clean ends

def test_the_fit_child_dies_with_a_sigkilled_parent(toys, small, tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("RELTOY_PID_FILE", str(pid_file))
    script = (f"import sys; sys.path[:0] = [{str(HERE)!r}, {str(ROOT)!r}]\n"
              "import test_reliability as t; t.register_toys()\n"
              "from mmm_param_recovery.benchmarking.run.isolation import run_fit\n"
              "from mmm_param_recovery.benchmarking.run.specs import dataset_ref\n"
              f"run_fit(t.toy_spec(dataset_ref('basic', {str(small.path)!r}), 'relhang'), "
              f"{str(tmp_path / 'out')!r})\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    child = int(pid_file.read_text())
    assert psutil.pid_exists(child)
    parent.kill()
    parent.wait()
    time.sleep(1.0)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
    staging = list((tmp_path / "out" / "basic").glob("*.tmp-*"))
    assert staging and (staging[0] / storage.FIT_PROCESS).is_file()  # left by the kill
    remove_stale_staging(tmp_path / "out", ["basic"])
    assert list((tmp_path / "out" / "basic").glob("*.tmp-*")) == []


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_stop_the_run_within_seconds_and_keep_completed_fits(
        toys, tmp_path, signum, code):
    output = tmp_path / "out"
    pid_file = tmp_path / "hang.pid"
    process = spawn_cli("--datasets", "basic", "--libraries", "reltoy", "relhang", *TINY,
                        "--output-dir", str(output), env={"RELTOY_PID_FILE": str(pid_file)})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (
            pid_file.exists() and "relhang" in " ".join(fits_logged(toys))):
        time.sleep(0.2)
    hanging = int(pid_file.read_text())
    start = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - start < 10
    assert process.returncode == code
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"run_benchmark.py: interrupted by {signal.Signals(signum).name}")
    assert "Traceback" not in stderr
    time.sleep(0.5)
    assert not psutil.pid_exists(hanging) or psutil.Process(hanging).status() == "zombie"
    [kept] = run_folders(output)
    assert kept.name.startswith("reltoy__") and storage.load_run(kept).run_key
    leftovers = [p for p in output.rglob("*") if ".tmp" in p.name or p.name == ".locks"]
    assert leftovers == []


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    gone, alive = dead_pid(), os.getppid()
    dataset = tmp_path / "basic"
    (tmp_path / "summary" / "combined_plots").mkdir(parents=True)
    (dataset / "plots").mkdir(parents=True)
    (dataset / "reltoy__0123abcd").mkdir()
    stale = [tmp_path / "summary" / f".report.html.{gone}-0a1b2c3d.tmp",
             tmp_path / "summary" / "combined_plots" / f".memory.png.{gone}-0a1b2c3d.tmp",
             dataset / "plots" / f".x.png.{gone}-ffffffff.tmp",
             dataset / "reltoy__0123abcd" / f".metrics.parquet.{gone}-12345678.tmp"]
    live = [tmp_path / "summary" / f".run_status.csv.{alive}-0a1b2c3d.tmp"]
    for path in stale + live:
        path.write_text("partial")
    folders = [dataset / f"reltoy__89abcdef.tmp-{gone}", dataset / f".data_seed1.tmp-{gone}-ab12"]
    for folder in folders:
        folder.mkdir()
        (folder / "posterior.nc").write_text("partial")
    removed = remove_stale_staging(tmp_path, ["basic"])
    assert sorted(removed) == sorted(stale + folders)
    assert all(p.exists() for p in live) and (dataset / "reltoy__0123abcd").is_dir()


def test_a_complete_run_left_under_its_staging_name_is_promoted(toys, small, tmp_path):
    result = isolation.run_fit(toy_spec(small), tmp_path)
    staging = result.run_dir.with_name(f"{result.run_dir.name}.tmp-{dead_pid()}")
    os.replace(result.run_dir, staging)
    remove_stale_staging(tmp_path, ["basic"])
    assert storage.load_run(result.run_dir).run_key == result.run_key
    assert isolation.run_fit(toy_spec(small), tmp_path).cached


def test_an_orphaned_fit_session_is_killed_by_the_next_run(tmp_path):
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                              start_new_session=True)
    staging = tmp_path / "basic" / f"reltoy__00000000.tmp-{dead_pid()}"
    staging.mkdir(parents=True)
    (staging / storage.FIT_PROCESS).write_text(json.dumps(
        {"pid": orphan.pid, "create_time": psutil.Process(orphan.pid).create_time()}))
    remove_stale_staging(tmp_path, ["basic"])
    assert orphan.wait(timeout=10) == -signal.SIGKILL
    assert not staging.exists()


def test_a_kill_is_told_apart_from_the_oom_killer():
    assert "out-of-memory killer (SIGKILL" in processes.killed_by(signal.SIGKILL, (3, 10), (4, 11))
    reason = processes.killed_by(signal.SIGKILL, (3, None), (3, None))
    assert "killed by SIGKILL from another process" in reason and "not the out-of-memory" in reason
    unknown = (None, None)
    assert processes.killed_by(signal.SIGKILL, unknown, unknown) == (
        "fit process killed by SIGKILL (not by this benchmark's timeout; the OOM killer or "
        "another process)")
    assert processes.killed_by(signal.SIGSEGV, unknown, unknown) == "fit process killed by SIGSEGV"
    assert any(count is not None for count in processes.oom_kill_counts())  # Linux says


def test_a_child_killed_from_outside_is_not_called_the_oom_killer(toys, small, tmp_path,
                                                                  monkeypatch):
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("RELTOY_PID_FILE", str(pid_file))
    import threading

    def kill_soon():
        while not pid_file.exists():
            time.sleep(0.1)
        time.sleep(0.3)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    threading.Thread(target=kill_soon, daemon=True).start()
    result = isolation.run_fit(toy_spec(small, "relhang"), tmp_path)
    assert result.status == "failed" and "killed by SIGKILL" in result.reason
    assert "most likely the out-of-memory" not in result.reason
    assert "from another process" in result.reason or "the OOM killer or" in result.reason


def test_request_stop_kills_a_running_fit_within_a_second(toys, small, tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("RELTOY_PID_FILE", str(pid_file))
    import threading

    def stop_soon():
        while not pid_file.exists():
            time.sleep(0.1)
        processes.request_stop()

    threading.Thread(target=stop_soon, daemon=True).start()
    try:
        start = time.monotonic()
        result = isolation.run_fit(toy_spec(small, "relhang"), tmp_path)
        assert time.monotonic() - start < 30
        assert result.status == "failed" and result.reason.startswith("interrupted")
        assert not psutil.pid_exists(int(pid_file.read_text())) or psutil.Process(
            int(pid_file.read_text())).status() == "zombie"
    finally:
        processes.clear_stop()
    assert list((tmp_path / "basic").iterdir()) == []


# ------------------------------------------------------------------- 4. concurrency

def test_a_lock_is_exclusive_and_leaves_nothing(tmp_path):
    path = tmp_path / ".locks" / "k.lock"
    waited = []
    with file_lock(path) as first:
        assert first is None
        with pytest.raises(LockWaitCancelled):
            with file_lock(path, should_stop=lambda: True, on_wait=lambda: waited.append(1)):
                pass
    assert waited == [1] and not (tmp_path / ".locks").exists()


def test_two_identical_runs_on_one_folder_fit_each_spec_once(toys, tmp_path):
    output = tmp_path / "out"
    args = ("--datasets", "basic", "--libraries", "reltoy", "--seeds", "1", "2", *TINY,
            "--output-dir", str(output))
    env = {"RELTOY_SLEEP": "3"}
    first, second = spawn_cli(*args, env=env), spawn_cli(*args, env=env)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    fitted = fits_logged(toys)
    assert len(fitted) == 2 and len({line.split()[2] for line in fitted}) == 2  # seeds 1, 2
    assert len(run_folders(output)) == 2
    stdout = outputs[0][0] + outputs[1][0]
    assert stdout.count("(reused)") == 2  # each spec fitted by one run, reused by the other
    assert [p for p in output.rglob("*") if ".tmp" in p.name or p.name == ".locks"] == []


# --------------------------------------------------------- 5. validation up front

@pytest.fixture(scope="module")
def user_frames():
    config = customize_preset("multi_region", n_periods=20, seed=2, **{"regions.n_regions": 2})
    result = generate_mmm_dataset(config)
    return result["data"], result["ground_truth"]["contributions"]


def _weekly_to(frame: pd.DataFrame, freq: str) -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=frame["date"].nunique(), freq=freq)
    mapping = dict(zip(sorted(frame["date"].unique()), dates, strict=True))
    return frame.assign(date=frame["date"].map(mapping))


def _mixed_dates(frame: pd.DataFrame) -> pd.DataFrame:
    dates = sorted(frame["date"].unique())
    mapping = {d: d for d in dates}
    mapping[dates[-1]] = dates[-2] + pd.Timedelta(days=1)
    return frame.assign(date=frame["date"].map(mapping))


def _geo_dates_differ(frame: pd.DataFrame) -> pd.DataFrame:
    shifted = frame["geo"] == frame["geo"].iloc[1]
    last = frame["date"].max()
    frame = frame.copy()
    frame.loc[shifted & (frame["date"] == last), "date"] = last + pd.Timedelta(weeks=1)
    return frame.sort_values(["date", "geo"]).reset_index(drop=True)


BAD_DATA = {  # id -> (mutate data, mutate truth or None, file suffix, expected in message)
    "channel never spends": (lambda d: d.assign(x2_search=0.0), None, "csv",
                             ["['x2_search'] never spend"]),
    "constant control": (lambda d: d.assign(c1=3.0), None, "csv", ["['c1'] are constant"]),
    "geo with zero spend": (lambda d: d.assign(**{c: d[c].where(d["geo"] != "geo_b", 0.0)
                                                  for c in d if c.startswith("x")}), None,
                            "csv", ["geo(s) ['geo_b'] have zero spend"]),
    "y all zero": (lambda d: d.assign(y=0.0), None, "csv", ["'y': every value is 0"]),
    "1 row": (lambda d: d.iloc[:1], lambda t: t.iloc[:1], "csv", ["1 weekly date(s)"]),
    "2 rows": (lambda d: d.iloc[:2], lambda t: t.iloc[:2], "csv", ["1 weekly date(s)"]),
    "geos on different dates": (_geo_dates_differ, _geo_dates_differ, "csv",
                                ["is not observed on the dates"]),
    "y as strings (parquet)": (lambda d: d.assign(y=d["y"].astype(str)), None, "parquet",
                               ["'y': dtype object", "not text"]),
    "spend as strings (parquet)": (lambda d: d.assign(x1_tv=d["x1_tv"].astype(str)), None,
                                   "parquet", ["'x1_tv': dtype object"]),
    "mixed weekly/daily": (_mixed_dates, _mixed_dates, "csv", ["not one weekly grid"]),
    "monthly dates": (lambda d: _weekly_to(d, "MS"), lambda t: _weekly_to(t, "MS"), "csv",
                      ["not one weekly grid", "aggregate it to weeks"]),
    "y as bool": (lambda d: d.assign(y=d["y"] > d["y"].median()), None, "parquet",
                  ["'y': booleans"]),
    "two channels with one index": (lambda d: d.rename(columns={"x2_search": "x1_search"}),
                                    lambda t: t.rename(columns={
                                        "contribution_x2_search": "contribution_x1_search"}),
                                    "csv", ["share an index"]),
    "y of magnitude 1e300": (lambda d: d.assign(y=d["y"] * 1e295), None, "csv",
                             ["magnitude >= 1e+15"]),
    "spend of magnitude 1e16": (lambda d: d.assign(x1_tv=d["x1_tv"] + 1e16), None, "csv",
                                ["'x1_tv'", "magnitude >= 1e+15"]),
}


def _write_user(tmp_path: Path, data, truth, suffix: str, stem: str = "mine") -> tuple[Path, Path]:
    paths = tmp_path / f"{stem}.{suffix}", tmp_path / f"{stem}_truth.{suffix}"
    for frame, path in zip((data, truth), paths, strict=True):
        if suffix == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    return paths


def _assert_refused(capsys, output: Path, args, expected) -> str:
    code = cli(*args, "--output-dir", str(output))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(part in lines[0] for part in expected), lines[0]
    assert not output.exists()
    return lines[0]


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_refused_up_front_in_one_line(case, user_frames, tmp_path, capsys):
    mutate_data, mutate_truth, suffix, expected = BAD_DATA[case]
    data, truth = mutate_data(user_frames[0].copy()), user_frames[1].copy()
    truth = mutate_truth(truth) if mutate_truth else truth
    data_path, truth_path = _write_user(tmp_path, data, truth, suffix)
    _assert_refused(capsys, tmp_path / "out", ("--dataset-file", str(data_path),
                                               "--truth-file", str(truth_path)), expected)


BAD_FLAGS = {
    "seed 2**32": (("--seed", str(2**32)), ["--seed: 4294967296 is invalid", "2**32 - 1"]),
    "seeds too large": (("--seeds", "1", str(2**40)), ["--seeds: 1099511627776 is invalid"]),
    "duplicate seeds": (("--seeds", "1", "2", "1"), ["--seeds: [1, 2, 1] is invalid",
                                                      "distinct seeds"]),
    "chains 65": (("--chains", "65"), ["--chains: 65 is invalid", "1 to 64"]),
    "draws 1e6": (("--draws", "1000000"), ["--draws: 1000000 is invalid", "100,000"]),
    "tune 1e9": (("--tune", "1000000000"), ["--tune: 1000000000 is invalid"]),
    "jobs 10000": (("--jobs", "10000"), ["--jobs: 10000 is invalid"]),
    "timeout inf": (("--timeout", "inf"), ["--timeout: inf is invalid"]),
    "timeout nan": (("--timeout", "nan"), ["--timeout: nan is invalid"]),
    "target accept nan": (("--target-accept", "nan"), ["--target-accept: nan is invalid"]),
    "empty output dir": (("--output-dir", ""), ["--output-dir", "'' is invalid"]),
    "output dir under /proc": (("--output-dir", "/proc/mmm_results"),
                               ["--output-dir: '/proc/mmm_results' is invalid", "/proc"]),
    "output dir under /sys": (("--output-dir", "/sys/x"), ["--output-dir: '/sys/x' is invalid"]),
    "dataset name without file": (("--dataset-name", "x"), ["--dataset-name", "without"]),
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_bad_flags_are_refused_up_front_in_one_line(case, tmp_path, capsys):
    args, expected = BAD_FLAGS[case]
    output = tmp_path / "out"
    if "--output-dir" in args:
        with pytest.raises(SystemExit) if case == "empty output dir" else _no_raise():
            code = cli(*args)
        err = capsys.readouterr().err
        if case == "empty output dir":
            assert "--output-dir" in err and "'' is invalid" in err
            return
        assert code == 2 and all(part in err for part in expected), err
        assert len(err.strip().splitlines()) == 1
        return
    _assert_refused(capsys, output, args, expected)


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("args, expected", [
    (("--dataset-name", "summary"), ["--dataset-name: 'summary' is invalid"]),
    (("--dataset-name", "a/b"), ["--dataset-name: 'a/b' is invalid"]),
    (("--dataset-name", ".hidden"), ["--dataset-name: '.hidden' is invalid"]),
    (("--dataset-name", "basic"), ["--dataset-name: 'basic' is invalid", "not a preset"]),
], ids=["summary", "slash", "hidden", "a preset's name"])
def test_bad_dataset_names_are_refused_before_any_write(args, expected, user_frames, tmp_path,
                                                         capsys):
    data_path, truth_path = _write_user(tmp_path, *user_frames, "csv")
    _assert_refused(capsys, tmp_path / "out", ("--dataset-file", str(data_path), "--truth-file",
                                               str(truth_path), *args), expected)


def test_a_file_stem_that_is_no_dataset_name_is_refused_before_any_write(user_frames, tmp_path,
                                                                          capsys):
    data_path, truth_path = _write_user(tmp_path, *user_frames, "csv", stem="my data")
    for stem in ("summary", "my data"):
        data_path, truth_path = _write_user(tmp_path, *user_frames, "csv", stem=stem)
        _assert_refused(capsys, tmp_path / "out", ("--dataset-file", str(data_path),
                                                   "--truth-file", str(truth_path)),
                        ["--dataset-file", "--dataset-name"])


# ----------------------------------------------------- 6. other generators' files

def test_channel_names_with_hyphens_capitals_and_digits_are_accepted(user_frames, tmp_path):
    renames = {"x1_tv": "x1_Paid-Search", "x2_search": "x2_TV2"}
    data = user_frames[0].rename(columns=renames)
    truth = user_frames[1].rename(columns={f"contribution_{a}": f"contribution_{b}"
                                           for a, b in renames.items()})
    data_path, truth_path = _write_user(tmp_path, data, truth, "csv")
    loaded = load_dataset_files(data_path, truth_path)
    assert [c for c in loaded["data"] if c.startswith("x")][:2] == ["x1_Paid-Search", "x2_TV2"]
    for bad in ("x1_paid_search", "x1_"):
        broken = data_path.with_name(f"bad{len(bad)}.csv")
        user_frames[0].rename(columns={"x1_tv": bad}).to_csv(broken, index=False)
        with pytest.raises(DatasetFormatError, match="unknown columns"):
            load_dataset_files(broken, truth_path)


def test_dataset_name_names_the_folder_and_the_identity_includes_column_names(
        toys, user_frames, tmp_path):
    output = tmp_path / "out"
    data_path, truth_path = _write_user(tmp_path, *user_frames, "csv", stem="export-2024")
    args = ("--libraries", "reltoy", *TINY, "--output-dir", str(output), "--truth-file",
            str(truth_path))
    assert cli("--dataset-file", str(data_path), *args) == 0
    assert (output / "export-2024" / "data_seed42").is_dir()  # default: the file stem
    assert cli("--dataset-file", str(data_path), "--dataset-name", "shop", *args) == 0
    [first] = run_folders(output, "shop")
    assert len(fits_logged(toys)) == 2
    # the same values under another channel name: another dataset identity, a new fit
    renamed = user_frames[0].rename(columns={"x1_tv": "x1_radio"})
    truth = user_frames[1].rename(columns={"contribution_x1_tv": "contribution_x1_radio"})
    data_path, truth_path = _write_user(tmp_path, renamed, truth, "csv", stem="export-2024")
    assert cli("--dataset-file", str(data_path), "--dataset-name", "shop", "--libraries",
               "reltoy", *TINY, "--output-dir", str(output), "--truth-file",
               str(truth_path)) == 0
    assert len(fits_logged(toys)) == 3
    assert len(run_folders(output, "shop")) == 2
    channels = storage.load_run(max(run_folders(output, "shop"),
                                    key=lambda p: p.stat().st_mtime)).posterior()
    assert "x1_radio" in channels.posterior["channel"].values


def test_the_user_dataset_hash_sees_names_and_every_truth_column(user_frames):
    data, contributions = user_frames
    base = {"data": data, "ground_truth": {"contributions": contributions}}
    digest = dataset_store.user_dataset_hash(base)
    renamed = {"data": data.rename(columns={"x1_tv": "x1_radio"}),
               "ground_truth": {"contributions": contributions}}
    extra = {"data": data, "ground_truth": {
        "contributions": contributions,
        "baseline": contributions[["date", "geo"]].assign(baseline=1.0)}}
    assert len({digest, dataset_store.user_dataset_hash(renamed),
                dataset_store.user_dataset_hash(extra)}) == 3
    assert dataset_store.user_dataset_hash(base) == digest


def test_remove_stale_temporaries_skips_lock_folders(tmp_path):
    locks = tmp_path / ".locks"
    locks.mkdir()
    (locks / f".x.{dead_pid()}-00000000.tmp").write_text("")
    assert remove_stale_temporaries([tmp_path]) == []
