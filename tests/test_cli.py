"""run_benchmark.py end to end: real tiny fits, caching, resume, bad input, report."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("run_status", "runtime_comparison", "ess_comparison", "performance_metrics",
          "diagnostics_summary", "recovery_metrics")
TUNE = "200"  # Meridian diverges on every draw with a few dozen warm-up steps
TINY = ("--chains", "2", "--tune", TUNE, "--draws", "30")


def run_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_benchmark.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def user_dataset(tmp_path_factory) -> tuple[Path, Path]:
    """A 52-week, 2-geo, 3-channel dataset in the generator's file format."""
    folder = tmp_path_factory.mktemp("user_data")
    config = customize_preset("multi_region", n_periods=52, **{"regions.n_regions": 2})
    result = generate_mmm_dataset(config)
    data, truth = folder / "tiny.csv", folder / "tiny_truth.csv"
    result["data"].to_csv(data, index=False)
    result["ground_truth"]["contributions"].to_csv(truth, index=False)
    return data, truth


def dataset_args(user_dataset) -> tuple[str, ...]:
    return ("--dataset-file", str(user_dataset[0]), "--truth-file", str(user_dataset[1]))


class _ReportParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables, self.images, self.links = 0, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if str(attrs.get(key, "")).startswith(("http://", "https://")):
                self.links.append(attrs[key])


def run_folders(output: Path) -> list[Path]:
    """Completed run folders (a staging folder ``*.tmp-<pid>`` is not one)."""
    return sorted(p for p in (output / "tiny").glob("*__*")
                  if p.is_dir() and ".tmp-" not in p.name and (p / "timings.json").exists())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, user_dataset):
    """One real run: PyMC-Marketing (nutpie) and Meridian on the tiny dataset."""
    output = tmp_path_factory.mktemp("results")
    completed = run_cli(*dataset_args(user_dataset), "--libraries", "pymc", "meridian",
                        "--samplers", "nutpie", *TINY, "--output-dir", str(output))
    return output, completed


@pytest.mark.slow
def test_run_writes_every_output(first_run):
    output, completed = first_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    summary = output / "summary"
    tables = {name: pd.read_csv(summary / f"{name}.csv") for name in TABLES}
    status = tables["run_status"]
    assert sorted(status["fitter"]) == ["meridian", "pymc:nutpie"]
    assert (status["status"] == "ok").all()
    for name, frame in tables.items():
        assert set(frame["run_key"].dropna()) == set(status["run_key"]), name
    runtime = tables["runtime_comparison"]
    assert (runtime["sampling_seconds"] > 0).all() and (runtime["peak_rss_gb"] > 0.1).all()
    assert (tables["ess_comparison"]["canonical_ess_bulk_min"] > 0).all()
    assert (tables["ess_comparison"]["ess_per_second"] > 0).all()
    pooled = tables["performance_metrics"].query("geo == 'all'")
    assert len(pooled) == 2 and (pooled["mu_r2"] > 0).all()
    assert {"mu_r2_per_draw_mean", "mu_mape_per_draw_hdi_low_94"} <= set(pooled.columns)
    recovery = tables["recovery_metrics"].query("quantity == 'roas'")
    stats = set(zip(recovery["stat"], recovery["level"].fillna(0).round(2), strict=True))
    assert {("rel_error", 0), ("in_hdi", 0.94)} <= stats
    assert len(run_folders(output)) == 2
    for folder in run_folders(output):
        assert {"run_spec.json", "posterior.nc", "timings.json", "metrics.parquet"} <= {
            p.name for p in folder.iterdir()}


@pytest.mark.slow
def test_report_has_every_table_and_image(first_run):
    output, _ = first_run
    parser = _ReportParser()
    parser.feed((output / "summary" / "report.html").read_text())
    assert parser.tables >= len(TABLES) + 1  # every table plus the headline
    pngs = list(output.rglob("*.png"))
    assert len(parser.images) == len(pngs) >= 6
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert parser.links == []


@pytest.mark.slow
def test_repeat_and_other_jobs_reuse_and_changed_draws_refits(first_run, user_dataset):
    output, _ = first_run
    args = (*dataset_args(user_dataset), "--libraries", "pymc", "--samplers", "nutpie",
            "--chains", "2", "--tune", TUNE, "--output-dir", str(output))
    again = run_cli(*args, "--draws", "30")
    assert again.returncode == 0, again.stderr
    assert "(reused)" in again.stdout
    assert len(run_folders(output)) == 2
    parallel = run_cli(*dataset_args(user_dataset), "--libraries", "pymc", "meridian",
                       "--samplers", "nutpie", *TINY, "--jobs", "2", "--output-dir", str(output))
    assert parallel.returncode == 0, parallel.stderr
    fits = [line for line in parallel.stdout.splitlines() if line.startswith("ok ")]
    assert len(fits) == 2 and all("(reused)" in line for line in fits), parallel.stdout
    assert len(run_folders(output)) == 2
    changed = run_cli(*args, "--draws", "35")
    assert changed.returncode == 0, changed.stderr
    assert "(reused)" not in changed.stdout
    assert len(run_folders(output)) == 3


@pytest.mark.slow
def test_plots_only_rebuilds_without_fitting(first_run, user_dataset):
    output, _ = first_run
    for png in output.rglob("*.png"):
        png.unlink()
    before = run_folders(output)
    completed = run_cli(*dataset_args(user_dataset), "--libraries", "pymc", "meridian",
                        "--samplers", "nutpie", *TINY, "--output-dir", str(output),
                        "--plots-only")
    assert completed.returncode == 0, completed.stderr
    assert run_folders(output) == before
    assert len(list(output.rglob("*.png"))) >= 6
    assert "sampling" not in completed.stderr


def fit_in_progress(output: Path) -> bool:
    """A staging folder whose fit child has started (it records ``fit_process.json``)."""
    return any((p / "fit_process.json").exists() for p in (output / "tiny").glob("*.tmp-*"))


@pytest.mark.slow
def test_resume_after_kill(tmp_path, first_run, user_dataset):
    """SIGKILL a run once its second fit's child runs (its first, copied from ``first_run``, is
    complete); the re-run reuses the complete fit, fits the killed one, leaves no staging."""
    output = tmp_path / "results"
    shutil.copytree(first_run[0], output)
    before = run_folders(output)
    args = (*dataset_args(user_dataset), "--libraries", "pymc", "--samplers", "nutpie", "pymc",
            *TINY, "--jobs", "1", "--output-dir", str(output))
    process = subprocess.Popen([sys.executable, str(ROOT / "run_benchmark.py"), *args],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 600
    while not fit_in_progress(output) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert fit_in_progress(output), "the kill should have come while pymc:pymc was fitting"
    assert run_folders(output) == before
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = [line for line in resumed.stdout.splitlines() if "tiny seed" in line]
    assert sum("(reused)" in line for line in lines) == 1
    assert len(run_folders(output)) == len(before) + 1
    assert not [p for p in (output / "tiny").iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("args, expected", [
    (("--datasets", "huge_business"), "--datasets: 'huge_business' is invalid"),
    (("--samplers", "stan"), "--samplers: 'stan' is invalid"),
    (("--libraries", "robyn"), "--libraries: 'robyn' is invalid"),
    (("--chains", "0"), "--chains: 0 is invalid"),
    (("--draws", "-5"), "--draws: -5 is invalid"),
    (("--target-accept", "1.2"), "--target-accept: 1.2 is invalid"),
    (("--timeout", "0"), "--timeout: 0.0 is invalid"),
    (("--jobs", "0"), "--jobs: 0 is invalid"),
    (("--seeds", "-1"), "--seeds: -1 is invalid"),
    (("--chains", "two"), "invalid int value"),
    (("--no-such-flag",), "unrecognized arguments"),
    (("--dataset-file", "missing.csv"), "--truth-file: missing"),
    (("--fitter-option", "saturation=tanh"), "--fitter-option saturation: 'tanh' is invalid"),
    (("--fitter-option", "saturation"), "--fitter-option: 'saturation' is invalid"),
    (("--libraries", "meridian", "--fitter-option", "saturation=hill"),
     "KEY=VALUE with KEY one of ['knots']"),
    (("--libraries", "meridian", "--fitter-option", "knots=5"),
     "--fitter-option knots: '5' is invalid; allowed: auto, 1"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, expected):
    output = tmp_path / "out"
    completed = run_cli(*args, "--output-dir", str(output), timeout=120)
    assert completed.returncode == 2
    assert expected in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert "Traceback" not in completed.stderr
    assert not output.exists()


def test_malformed_dataset_file_exits_2(tmp_path, user_dataset):
    data = pd.read_csv(user_dataset[0])
    data.loc[3, "x1_tv"] = -10.0
    bad = tmp_path / "bad.csv"
    data.to_csv(bad, index=False)
    completed = run_cli("--dataset-file", str(bad), "--truth-file", str(user_dataset[1]),
                        "--output-dir", str(tmp_path / "out"), timeout=120)
    assert completed.returncode == 2
    assert "negative spend" in completed.stderr and "x1_tv" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_unwritable_output_dir_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    completed = run_cli("--output-dir", str(blocker / "results"), timeout=120)
    assert completed.returncode == 2
    assert "--output-dir" in completed.stderr


def test_help_documents_every_flag_with_default():
    completed = run_cli("--help", timeout=120)
    assert completed.returncode == 0
    for flag in ("--datasets", "--samplers", "--libraries", "--chains", "--draws", "--tune",
                 "--target-accept", "--seed", "--seeds", "--force-rerun", "--no-force-rerun",
                 "--plots-only", "--output-dir", "--jobs", "--timeout", "--dataset-file",
                 "--truth-file", "--list", "--fitter-option"):
        assert flag in completed.stdout
    assert "(default: 0.9)" in completed.stdout and "(default: data/results)" in completed.stdout


def test_list_names_every_preset_and_fitter():
    completed = run_cli("--list", timeout=120)
    assert completed.returncode == 0
    for name in ("small_business", "large_business", "208x50x30x10", "pymc:blackjax", "meridian",
                 "shared_dgp", "saturation=hill_sigmoid|hill", "knots=auto|1"):
        assert name in completed.stdout


@pytest.mark.slow
def test_several_seeds_write_replicate_summary_and_calibration(tmp_path):
    output = tmp_path / "results"
    completed = run_cli("--datasets", "basic", "--libraries", "pymc", "--samplers", "nutpie",
                        *TINY, "--seeds", "1", "2", "--output-dir", str(output))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    data_folders = sorted(p.name for p in (output / "basic").glob("data_seed*"))
    assert data_folders == ["data_seed1", "data_seed2"]
    first, second = (pd.read_parquet(output / "basic" / f / "data.parquet") for f in data_folders)
    assert not first["y"].equals(second["y"])  # fresh data per seed
    replicates = pd.read_csv(output / "summary" / "replicate_summary.csv")
    means = replicates[replicates["kind"] == "mean"]
    roas_error = (means["quantity"] == "roas") & (means["stat"] == "rel_error")
    assert roas_error.any() and (means.loc[roas_error, "n_seeds"] == 2).all()
    coverage = replicates[(replicates["kind"] == "coverage") & (replicates["channel"] == "pooled")]
    assert set(coverage["nominal"].round(2)) == {0.5, 0.8, 0.94}
    assert coverage["empirical"].between(0, 1).all() and (coverage["binomial_se"] >= 0).all()
    assert (output / "summary" / "combined_plots" / "coverage_calibration.png").stat().st_size > 0
