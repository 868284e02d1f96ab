"""Does numba cache nutpie's compiled model across processes? Time it.

    .venv/bin/python benchmarks/bench_nutpie_cache.py [--repeats 2]

Each trial is a fresh Python process that builds the small_business (seed 42) PyMC-
Marketing model of the ``seed`` profile and times ``nutpie.compile_pymc_model`` with numba,
as the nutpie adapter calls it, without and with ``cache=True`` (handed on to
``numba.cfunc``), against one fresh ``NUMBA_CACHE_DIR`` per mode. If caching worked, the
second and later ``cache=True`` processes would compile much faster than the first and
the cache folder would hold files; the script prints both, and the numba warnings that
say a function could not be cached (or the error when ``cache=True`` is refused).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TRIAL = r"""
import json, sys, time, warnings
from mmm_param_recovery.benchmarking.data_loader import load_multiple_datasets
from mmm_param_recovery.benchmarking.fitters.pymc_adapter import _free_rv_names
from mmm_param_recovery.benchmarking.model_builder import build_pymc_model
import nutpie

[(data, channels, controls, _)] = load_multiple_datasets(["small_business"], seed=42)
mmm = build_pymc_model(data, channels, controls)
kwargs = {"cache": True} if sys.argv[1] == "cache" else {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    start = time.perf_counter()
    nutpie.compile_pymc_model(mmm.model, backend="numba", gradient_backend="pytensor",
                              var_names=_free_rv_names(mmm.model), **kwargs)
    seconds = time.perf_counter() - start
cannot = sorted({str(w.message)[:90] for w in caught if "cache" in str(w.message).lower()})
print(json.dumps({"seconds": seconds, "cache_warnings": cannot}))
"""


def trial(mode: str, cache_dir: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", TRIAL, mode], env=env, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no stderr)"]
        return {"seconds": float("nan"), "cache_warnings": [], "error": lines[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for mode in ("no-cache", "cache"):
        with tempfile.TemporaryDirectory() as folder:
            cache_dir = Path(folder)
            for repeat in range(args.repeats):
                result = trial(mode, cache_dir)
                files = sum(1 for p in cache_dir.rglob("*") if p.is_file())
                if "error" in result:
                    print(f"{mode:8} process {repeat + 1}: failed: {result['error']}")
                    continue
                print(f"{mode:8} process {repeat + 1}: compile {result['seconds']:.1f} s, "
                      f"{files} files in NUMBA_CACHE_DIR, cache warnings: "
                      f"{result['cache_warnings'] or 'none'}")


if __name__ == "__main__":
    main()
