"""Kill the benchmark's parent process at random moments; re-run; count what was lost.

    .venv/bin/python benchmarks/bench_kill.py [--kills 20] [--interrupts 5] [--seed 0]

The run is tiny: ``--datasets basic --libraries reltoy --seeds 1 2 3 --jobs 1`` (3 fits),
where ``reltoy`` is the toy fitter of ``tests/test_reliability.py`` (least squares of y
on spend, a Gaussian posterior on the canonical coordinates) registered in the parent
by ``test_reliability.cli_main``; its ``sample`` sleeps ``SLEEP`` seconds so that a fit
takes a few seconds, like a small real one, and a kill can land in any phase: dataset
writing, a fit child running, the commit, metrics, tables, plots, the report.

Each trial starts a fresh output folder, kills the parent (SIGKILL: no handler runs; or
SIGINT: the run's own handler) at a moment drawn uniformly from the length of a clean
run, then checks:

- orphaned processes: any process whose command line names the trial's folder, 1 s
  after the kill (the fit child must have died with its parent);
- corrupt files in place: a run folder that is in its final place but does not verify
  (checksums, manifest), and summary CSVs that do not parse;
- then re-runs the same command to completion and counts: completed fits lost (a run
  that verified right after the kill but was fitted again), reads that failed (a
  re-run record failed for anything but a fresh fit), temporary files or lock files
  left anywhere in the folder after the re-run, and the re-run's exit code (0).

For SIGINT it also checks the exit code (130), the one-line message and the time from
the signal to the exit.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
SLEEP = "2"
SEEDS = ("1", "2", "3")


def _command(output: Path) -> list[str]:
    code = (f"import sys; sys.path[:0] = [{str(TESTS)!r}, {str(ROOT)!r}]; "
            "import test_reliability; test_reliability.cli_main()")
    return [sys.executable, "-c", code, "--datasets", "basic", "--libraries", "reltoy",
            "--seeds", *SEEDS, "--chains", "1", "--draws", "50", "--tune", "1", "--jobs", "1",
            "--output-dir", str(output)]


def _env(log: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]),
            "RELTOY_SLEEP": SLEEP, "RELTOY_LOG": str(log), "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg"}


def _start(output: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(_command(output), cwd=ROOT, env=_env(log), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _run_to_end(output: Path, log: Path) -> tuple[int, float]:
    start = time.monotonic()
    process = _start(output, log)
    process.communicate(timeout=600)
    return process.returncode, time.monotonic() - start


def _fits(log: Path) -> list[str]:
    """Seeds of the fits that reached sampling, in order (one line per sampling call)."""
    return [line.split()[2] for line in log.read_text().splitlines()] if log.exists() else []


def _verified_runs(output: Path) -> tuple[set[str], int]:
    """Seeds of the run folders in their final place that verify, and how many do not."""
    from mmm_param_recovery.benchmarking.store.runs import load_run
    from mmm_param_recovery.errors import StorageError

    good, bad = set(), 0
    for folder in sorted((output / "basic").glob("reltoy__*")):
        if ".tmp-" in folder.name:
            continue
        try:
            run = load_run(folder)
        except StorageError:
            bad += 1
            continue
        good.add(str(run.spec["settings"]["seed"]))
    return good, bad


def _bad_csvs(output: Path) -> int:
    bad = 0
    for path in (output / "summary").glob("*.csv"):
        try:
            pd.read_csv(path)
        except Exception:  # any parse failure counts
            bad += 1
    return bad


def _orphans(output: Path) -> list[int]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if str(output) in " ".join(process.info["cmdline"] or []):
                if process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process.pid)
        except psutil.Error:
            continue
    return found


def _leftovers(output: Path) -> list[str]:
    return sorted(str(p.relative_to(output)) for p in output.rglob("*")
                  if ".tmp" in p.name or p.name == ".locks" or p.suffix == ".lock")


def _trial(root: Path, index: int, kind: int, moment: float) -> dict:
    output, log = root / f"trial{index}", root / f"trial{index}.log"
    process = _start(output, log)
    time.sleep(moment)
    exited_before = process.poll() is not None
    sent = time.monotonic()
    process.send_signal(kind)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    stop_seconds = time.monotonic() - sent
    time.sleep(1.0)
    orphans = _orphans(output)
    for pid in orphans:  # do not leave them to the next trial
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    completed, corrupt = _verified_runs(output)
    bad_csv = _bad_csvs(output) if (output / "summary").exists() else 0
    fitted_before = len(_fits(log))
    code, _ = _run_to_end(output, log)
    refitted = _fits(log)[fitted_before:]
    status = pd.read_csv(output / "summary" / "run_status.csv")
    lines = stderr.strip().splitlines()
    return {
        "trial": index, "signal": signal.Signals(kind).name, "at_s": round(moment, 2),
        "exited_before_signal": exited_before, "exit": process.returncode,
        "stop_s": round(stop_seconds, 2), "last_line": lines[-1][:90] if lines else "",
        "completed_at_kill": len(completed), "lost": len(set(refitted) & completed),
        "corrupt_in_place": corrupt + bad_csv, "orphans": len(orphans),
        "failed_reads": int((status["status"] != "ok").sum()), "rerun_exit": code,
        "leftovers": len(_leftovers(output)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--interrupts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="bench_kill_"))
    try:
        code, clean = _run_to_end(root / "clean", root / "clean.log")
        assert code == 0, "the clean run failed"
        print(f"clean 3-fit run: {clean:.1f} s (toy fitter reltoy, sampling sleeps {SLEEP} s)")
        kinds = [signal.SIGKILL] * args.kills + [signal.SIGINT] * args.interrupts
        rows = []
        for index, kind in enumerate(kinds):
            row = _trial(root, index, kind, rng.uniform(0.2, clean))
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        table = pd.DataFrame(rows)
        sigint = table[table["signal"] == "SIGINT"]
        killed = table[~table["exited_before_signal"]]
        print("\nsummary over", len(table), "trials",
              f"({int(table['exited_before_signal'].sum())} runs had already finished)")
        print(f"  completed fits lost:           {int(table['lost'].sum())}")
        print(f"  corrupt files in place / read: {int(table['corrupt_in_place'].sum())} / "
              f"{int(table['failed_reads'].sum())}")
        print(f"  orphaned processes left:       {int(table['orphans'].sum())}")
        print(f"  temp/lock files left (re-run): {int(table['leftovers'].sum())}")
        print(f"  re-runs that did not exit 0:   {int((table['rerun_exit'] != 0).sum())}")
        print(f"  completed fits at the kill:    {table['completed_at_kill'].tolist()}")
        if len(sigint):
            stopped = sigint[~sigint["exited_before_signal"]]
            print(f"  SIGINT exits: {sigint['exit'].tolist()} (130 expected unless finished); "
                  f"stop latency max {stopped['stop_s'].max() if len(stopped) else 0:.2f} s")
            print(f"  SIGINT last line: {sigint['last_line'].iloc[0]!r}")
        problems = (table["lost"].sum() + table["corrupt_in_place"].sum()
                    + table["failed_reads"].sum() + table["orphans"].sum()
                    + table["leftovers"].sum() + (table["rerun_exit"] != 0).sum()
                    + (sigint[~sigint["exited_before_signal"]]["exit"] != 130).sum())
        print(f"  SIGKILL landed during a live run in {int((~killed['signal'].eq('SIGINT')).sum())}"
              " trials")
        return 1 if problems else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
