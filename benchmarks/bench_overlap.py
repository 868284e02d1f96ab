"""The quick benchmark's wall time and overhead with and without ``--overlap``.

    .venv/bin/python benchmarks/bench_overlap.py [--seeds 1] [--repeats 1]

Runs ``scripts/quick_benchmark.sh`` (small_business, nutpie + Meridian, 2 x 500 x 500)
with ``--force-rerun`` into a fresh output folder, first once to warm the compile caches
(not reported), then ``--repeats`` times each with ``--overlap`` and ``--no-overlap``,
alternating. ``--seeds`` adds replicate seeds (more fits per run, so more to overlap).
Prints per run: wall seconds of the whole command, the fits' summed sampling, build and
waiting seconds (``runtime_comparison.csv``), the overhead (wall - summed sampling) / wall,
and the JAX cache state of the fits.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def timed_run(output: Path, seeds: list[str], overlap: bool) -> dict[str, object]:
    """Wall seconds of one quick benchmark and its fits' summed phase seconds."""
    flag = "--overlap" if overlap else "--no-overlap"
    start = time.perf_counter()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "quick_benchmark.sh"), "--seeds",
                           *seeds, "--force-rerun", flag, "--output-dir", str(output)],
                          capture_output=True, text=True, timeout=3600, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    runtime = pd.read_csv(output / "summary" / "runtime_comparison.csv")
    sampling = float(runtime["sampling_seconds"].sum())
    return {"overlap": "on" if overlap else "off", "fits": len(runtime),
            "wall_s": round(wall, 1), "sampling_s": round(sampling, 1),
            "build_s": round(float(runtime["build_seconds"].sum()), 1),
            "waiting_s": round(float(runtime["waiting_seconds"].fillna(0).sum()), 1),
            "overhead": round((wall - sampling) / wall, 3),
            "jax_cache": ",".join(sorted(set(runtime["jax_cache"].astype(str))))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", default=["1"])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        timed_run(Path(folder) / "warm", args.seeds, overlap=True)
        for repeat in range(args.repeats):
            for overlap in (True, False):
                rows.append(timed_run(Path(folder) / f"run{repeat}{overlap}", args.seeds,
                                      overlap))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
