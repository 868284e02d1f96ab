"""Throughput of the executors: the same N tiny fits locally and on Ray.

    .venv/bin/python benchmarks/bench_executors.py [--fits 4] [--ray-address HOST:PORT]

Runs ``run_benchmark.py`` on ``basic`` with PyMC's own NUTS (1 chain x 60 tune x 30 draws,
seeds 1..N, so N fits of one core each) three ways, each into a fresh output folder:
``--executor local`` (default ``--jobs``: as many fits at once as cores), ``--executor
ray`` on a local Ray instance it starts, and, with ``--ray-address``, on that cluster
(e.g. the two-node localhost cluster of tests/test_ray.py; start it with the same
``RAY_AUTH_MODE`` as this process). Prints wall seconds (Ray start-up included), fits
per minute and the ratio to local, and checks that every fit succeeded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TINY = ("--datasets", "basic", "--libraries", "pymc", "--samplers", "pymc", "--chains", "1",
        "--tune", "60", "--draws", "30")


def timed_run(output: Path, seeds: list[str], *extra: str) -> tuple[float, list[str]]:
    """Wall seconds of one run and the status of each of its fits."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "run_benchmark.py"), *TINY, "--seeds",
                           *seeds, "--output-dir", str(output), *extra],
                          capture_output=True, text=True, timeout=3600, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    status = pd.read_csv(output / "summary" / "run_status.csv")["status"].tolist()
    return wall, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=4)
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args()
    seeds = [str(seed) for seed in range(1, args.fits + 1)]
    modes = {"local": (), "ray (local instance)": ("--executor", "ray")}
    if args.ray_address:
        modes[f"ray ({args.ray_address})"] = ("--executor", "ray", "--ray-address",
                                             args.ray_address)
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder) / "warm"  # compile caches warm for every mode alike
        timed_run(warm, seeds[:1])
        local_rate = None
        for number, (name, extra) in enumerate(modes.items()):
            wall, status = timed_run(Path(folder) / f"run{number}", seeds, *extra)
            rate = len(status) / wall * 60
            local_rate = local_rate or rate
            print(f"{name:28} {len(status)} fits in {wall:6.1f} s: {rate:5.2f} fits/min, "
                  f"{rate / local_rate:4.2f}x local; statuses {sorted(set(status))}")


if __name__ == "__main__":
    main()
