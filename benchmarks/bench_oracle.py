"""The oracle ROAS floor and identifiability of the presets, and the time per oracle fit.

Usage: ``python benchmarks/bench_oracle.py [--seed 42] [--repeats 5] [--seeds 60]
[--replicate-preset small_business] [--threshold 0.3]``

(1) For each preset at ``--seed``: per channel the true ROAS, the oracle's ROAS (the GLS
estimate given the true transforms, baseline form and noise sd; docs/metrics.md,
"Oracle floor and identifiability"), its relative SE and the identified flag (relative
SE <= threshold); the median wall time of ``--repeats`` oracle fits (dataset generation
not included). (2) Over seeds 0..``--seeds``-1 of ``--replicate-preset``: the median and
IQR of the oracle's mean ROAS |relative error| over channels (all, and identified only),
and the share of channels identified. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import numpy as np

from mmm_param_recovery.benchmarking.metrics.oracle import (
    DEFAULT_THRESHOLD,
    identified,
    oracle_fit,
)
from mmm_param_recovery.data_generator import generate_mmm_dataset, get_preset_config

PRESETS = ("small_business", "growing_business", "medium_business", "large_business")


def timed_fit(result, repeats: int):
    """The oracle fit of ``result`` and the median wall seconds of ``repeats`` fits."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        oracle = oracle_fit(result)
        seconds.append(time.perf_counter() - start)
    return oracle, statistics.median(seconds)


def print_preset(name: str, seed: int, repeats: int, threshold: float) -> None:
    """Per-channel Markdown table of one preset, with its size and fit time."""
    result = generate_mmm_dataset(get_preset_config(name, seed=seed))
    oracle, seconds = timed_fit(result, repeats)
    flags = identified(oracle, threshold).values
    error = oracle["roas_abs_rel_error"].values
    print(f"### {name} (seed {seed}): {result['config'].n_periods} weeks x "
          f"{oracle.sizes['geo']} geos x {oracle.sizes['channel']} channels; oracle fit "
          f"{seconds * 1000:.1f} ms (median of {repeats})\n")
    print("| channel | true ROAS | oracle ROAS | ROAS rel SE | identified |")
    print("|---|---:|---:|---:|:---:|")
    for c, channel in enumerate(oracle["channel"].values):
        print(f"| {channel} | {oracle['roas_true'].values[c]:.3f} | "
              f"{oracle['roas_oracle'].values[c]:.3f} | {oracle['roas_rel_se'].values[c]:.3f} | "
              f"{'yes' if flags[c] else 'no'} |")
    mean_id = f"{error[flags].mean():.3f}" if flags.any() else "n/a"
    print(f"\nidentified: {int(flags.sum())} of {flags.size}; mean ROAS abs rel error "
          f"{np.nanmean(error):.3f} (all), {mean_id} (identified)\n")


def replicate_fits(name: str, n_seeds: int, threshold: float) -> dict[str, np.ndarray]:
    """Per (seed, channel) arrays over seeds 0..n_seeds-1: ``rel_se``, ``error`` (ROAS
    abs relative error) and ``identified`` (0/1); ``channels`` their names."""
    rel_se, error, flags = [], [], []
    for seed in range(n_seeds):
        oracle = oracle_fit(generate_mmm_dataset(get_preset_config(name, seed=seed)))
        rel_se.append(oracle["roas_rel_se"].values)
        error.append(oracle["roas_abs_rel_error"].values)
        flags.append(identified(oracle, threshold).values)
    return {"rel_se": np.array(rel_se), "error": np.array(error),
            "identified": np.array(flags, dtype=float),
            "channels": np.array([str(c) for c in oracle["channel"].values])}


def per_seed_summaries(fits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per seed: mean ROAS abs rel error over all / identified channels (NaN when none),
    share of channels identified, mean ROAS rel SE."""
    flags = fits["identified"].astype(bool)
    with np.errstate(invalid="ignore"):
        identified_mean = np.where(flags, fits["error"], 0).sum(1) / flags.sum(1)
    return {"mean ROAS abs rel error, all channels": np.nanmean(fits["error"], axis=1),
            "mean ROAS abs rel error, identified channels": identified_mean,
            "share of channels identified": flags.mean(axis=1),
            "mean ROAS rel SE": np.nanmean(fits["rel_se"], axis=1)}


def print_replicates(name: str, n_seeds: int, threshold: float) -> None:
    """Markdown tables: median and IQR over seeds of the per-seed summaries, then per
    channel the median rel SE and error and the share of seeds identified."""
    fits = replicate_fits(name, n_seeds, threshold)
    print(f"### {name}, seeds 0..{n_seeds - 1} (threshold {threshold:g})\n")
    print("| per seed | median | q25 | q75 | seeds with a value |")
    print("|---|---:|---:|---:|---:|")
    for label, values in per_seed_summaries(fits).items():
        v = values[np.isfinite(values)]
        q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75]) if v.size else (np.nan,) * 3
        print(f"| {label} | {q50:.3f} | {q25:.3f} | {q75:.3f} | {v.size} |")
    print("\n| channel | median ROAS rel SE | median ROAS abs rel error | share of seeds "
          "identified |")
    print("|---|---:|---:|---:|")
    for c, channel in enumerate(fits["channels"]):
        print(f"| {channel} | {np.nanmedian(fits['rel_se'][:, c]):.3f} | "
              f"{np.nanmedian(fits['error'][:, c]):.3f} | "
              f"{fits['identified'][:, c].mean():.2f} |")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42, help="seed of the per-preset tables")
    parser.add_argument("--repeats", type=int, default=5, help="oracle fits timed per preset")
    parser.add_argument("--seeds", type=int, default=60, help="replicate seeds 0..N-1")
    parser.add_argument("--replicate-preset", default="small_business")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="ROAS relative SE above which a channel is weakly identified")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}\n")
    for name in PRESETS:
        print_preset(name, args.seed, args.repeats, args.threshold)
    print_replicates(args.replicate_preset, args.seeds, args.threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
