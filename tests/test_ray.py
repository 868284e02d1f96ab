"""``--executor ray`` with a real local Ray instance and real tiny fits (PyMC's own NUTS,
which is reproducible for a seed, so the two executors must give the same numbers)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

ray = pytest.importorskip("ray")

from mmm_param_recovery.benchmarking.run import executors, shipping  # noqa: E402
from mmm_param_recovery.benchmarking.run.specs import dataset_ref, make_fit_spec  # noqa: E402
from mmm_param_recovery.benchmarking.store import runs as storage  # noqa: E402
from mmm_param_recovery.data_generator import (  # noqa: E402
    generate_mmm_dataset,
    get_preset_config,
    save_dataset,
)

ROOT = Path(__file__).resolve().parents[1]
TUNE, DRAWS = 30, 20  # PyMC's NUTS at its deepest trees early in warm-up: each step counts
TINY = ("--datasets", "basic", "--libraries", "pymc", "--samplers", "pymc", "--chains", "1",
        "--tune", str(TUNE), "--draws", str(DRAWS), "--seed", "3")


def tiny_spec(folder: Path, seed: int):
    """The spec of one tiny one-core pymc:pymc fit of the dataset saved in ``folder``."""
    return make_fit_spec("pymc:pymc", dataset_ref("basic", folder), chains=1, draws=DRAWS,
                         tune=TUNE, seed=seed, cores=1, timeout_seconds=300)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_benchmark.py"), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.mark.slow
def test_ray_and_local_executors_give_the_same_tables(tmp_path):
    """Ray with run folders shipped back (``--ray-storage ship``) against local fits."""
    on_ray = run_cli(*TINY, "--executor", "ray", "--ray-storage", "ship",
                     "--output-dir", str(tmp_path / "ray"))
    assert on_ray.returncode == 0, on_ray.stdout + on_ray.stderr
    local = run_cli(*TINY, "--output-dir", str(tmp_path / "local"))
    assert local.returncode == 0, local.stdout + local.stderr
    tables = {}
    for name in ("ray", "local"):
        rows = pd.read_csv(tmp_path / name / "summary" / "recovery_metrics.csv")
        tables[name] = rows.set_index(["run_key", "quantity", "stat", "level", "channel",
                                       "geo"])["value"].sort_index()
    assert len(tables["ray"]) > 20
    pd.testing.assert_series_equal(tables["ray"], tables["local"])  # same keys, same numbers
    settings = (tmp_path / "ray" / "summary" / "report.html").read_text()
    assert "executor" in settings and ">ray<" in settings and ">ship<" in settings
    again = run_cli(*TINY, "--executor", "ray", "--ray-storage", "ship",
                    "--output-dir", str(tmp_path / "ray"))
    status = pd.read_csv(tmp_path / "ray" / "summary" / "run_status.csv")
    assert again.returncode == 0 and status["reused"].all()  # found on the driver, not refitted


def _kill_the_worker_once(killed: list[int]) -> None:
    """SIGKILL the Ray worker that runs the first fit child seen (its child dies with it)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not killed:
        for process in psutil.process_iter(["cmdline"]):
            if "mmm_param_recovery.benchmarking.run.fit_child" in " ".join(
                    process.info["cmdline"] or []):
                with_parent = process.parent()
                if with_parent is not None and "ray::" in with_parent.name() + " ".join(
                        with_parent.cmdline()):
                    os.kill(with_parent.pid, signal.SIGKILL)
                    killed.append(with_parent.pid)
                    return
        time.sleep(0.2)


@pytest.mark.slow
def test_a_worker_killed_mid_fit_is_retried_not_hung(tmp_path):
    folder = tmp_path / "basic" / "data_seed3"
    save_dataset(generate_mmm_dataset(get_preset_config("basic", seed=3)), folder)
    spec = tiny_spec(folder, seed=3)
    executor = executors.RayExecutor(None, n_fits=1)
    killed: list[int] = []
    try:
        threading.Thread(target=_kill_the_worker_once, args=(killed,), daemon=True).start()
        start = time.monotonic()
        result = executor.run_fit(spec, tmp_path, False, lambda phase: None)
    finally:
        executor.close()
    assert killed, "no Ray worker with a fit child was seen"
    assert time.monotonic() - start < 500
    assert result.status == "ok", result.reason  # Ray re-ran the task once (max_retries=1)
    assert (result.run_dir / "posterior.nc").is_file()
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == "zombie"


def test_ray_address_needs_the_ray_executor(tmp_path):
    from mmm_param_recovery.cli.arguments import request_from_args
    from mmm_param_recovery.cli.main import build_parser

    args = build_parser().parse_args(["--ray-address", "auto", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--ray-address: 'auto' is invalid; allowed: only with"):
        request_from_args(args, default_jobs=1)
    args = build_parser().parse_args(["--executor", "slurm", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--executor: 'slurm' is invalid; allowed: local, ray"):
        request_from_args(args, default_jobs=1)
    args = build_parser().parse_args(["--ray-storage", "ship", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--ray-storage: 'ship' is invalid; allowed: only with"):
        request_from_args(args, default_jobs=1)
    args = build_parser().parse_args(["--executor", "ray", "--ray-storage", "nfs",
                                      "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--ray-storage: 'nfs' is invalid; allowed: shared, ship"):
        request_from_args(args, default_jobs=1)
    args = build_parser().parse_args(["--executor", "ray", "--ray-storage", "ship",
                                      "--output-dir", str(tmp_path)])
    assert request_from_args(args, default_jobs=1).ray_storage == "ship"


@pytest.mark.slow
def test_a_shipped_fit_needs_no_storage_in_common_and_is_checked_before_commit(tmp_path):
    folder = tmp_path / "driver" / "basic" / "data_seed3"
    save_dataset(generate_mmm_dataset(get_preset_config("basic", seed=3)), folder)
    spec = tiny_spec(folder, seed=3)
    packed = shipping.pack_folder(folder)
    shutil.rmtree(folder)  # the worker cannot read the driver's dataset folder
    shipped = shipping.fit_and_ship(spec, packed, force=False)
    result = shipped["result"]
    assert result.status == "ok" and result.run_dir is None, result.reason

    tampered = tmp_path / "tampered"
    shipping.unpack_folder(shipped["run"], tampered)
    (tampered / "timings.json").write_text("{}")
    bad = shipping.commit_shipped(shipping.pack_folder(tampered), tmp_path / "out", spec,
                                  result)
    assert bad.status == "failed" and "shipped run folder is unusable" in bad.reason
    assert not (tmp_path / "out" / "basic").exists() or not any(
        (tmp_path / "out" / "basic").iterdir())  # nothing half-committed

    good = shipping.commit_shipped(shipped["run"], tmp_path / "out", spec, result)
    assert good.status == "ok" and good.run_dir.parent == tmp_path / "out" / "basic"
    run = storage.load_run(good.run_dir, expected_key=result.run_key)
    assert run.posterior().posterior.sizes["draw"] == DRAWS


@pytest.fixture
def two_node_cluster(monkeypatch):
    """A Ray head and a second node on localhost (1 CPU each, separate temp folders)."""
    import socket
    import tempfile

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_cli = str(Path(sys.executable).with_name("ray"))
    folders = [tempfile.mkdtemp(prefix="ray", dir="/tmp") for _ in range(2)]
    starts = [[ray_cli, "start", "--head", f"--port={port}", "--num-cpus=1",
               f"--temp-dir={folders[0]}", "--include-dashboard=false"],
              [ray_cli, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1",
               f"--temp-dir={folders[1]}"]]
    try:
        for command in starts:
            subprocess.run(command, check=True, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)


@pytest.mark.slow
def test_a_plan_runs_across_two_nodes(two_node_cluster, tmp_path):
    specs = []
    for seed in (3, 4):
        folder = tmp_path / "basic" / f"data_seed{seed}"
        save_dataset(generate_mmm_dataset(get_preset_config("basic", seed=seed)), folder)
        specs.append(tiny_spec(folder, seed))
    executor = executors.RayExecutor(two_node_cluster, n_fits=2)  # shared storage: /tmp
    assert len([node for node in ray.nodes() if node["Alive"]]) == 2
    results: list = [None, None]
    try:
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(
            i, executor.run_fit(specs[i], tmp_path, False, lambda phase: None)))
            for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=500)
    finally:
        executor.close()
    assert [r.status for r in results] == ["ok", "ok"], [r.reason for r in results]
    assert len({executor.nodes[r.run_key] for r in results}) == 2  # one fit per node
