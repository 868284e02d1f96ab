"""Time the data generator on every preset and print each preset's truth profile.

Usage: ``python benchmarks/bench_generator.py [--repeats 5] [--seed 42]``

Each preset is generated ``repeats`` times (config from the preset plus generation, the
way users call it); the table shows the median and range of those wall times in seconds,
and the total is the sum of the medians. Target (issue 2): all presets together in under
2 s. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

from mmm_param_recovery.data_generator import (
    generate_mmm_dataset,
    get_preset_config,
    list_available_presets,
)

TARGET_SECONDS = 2.0


def time_preset(name: str, seed: int, repeats: int) -> tuple[list[float], dict[str, Any]]:
    """Wall seconds of each of ``repeats`` generations, and the last result."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = generate_mmm_dataset(get_preset_config(name, seed=seed))
        seconds.append(time.perf_counter() - start)
    return seconds, result


def truth_profile(result: dict[str, Any]) -> dict[str, Any]:
    """Size, media share and ROAS range (overall per channel, and per geo and channel)."""
    data, truth, config = result["data"], result["ground_truth"], result["config"]
    roas = truth["roas"]
    overall = roas.loc[roas["geo"] == "overall", "roas"]
    by_geo = roas.loc[roas["geo"] != "overall", "roas"]
    return {
        "rows": len(data), "periods": config.n_periods, "geos": config.regions.n_regions,
        "channels": len(config.channels), "controls": len(config.controls),
        "media_share": truth["media_share"],
        "roas_min": overall.min(), "roas_max": overall.max(),
        "geo_roas_min": np.nanmin(by_geo), "geo_roas_max": np.nanmax(by_geo),
    }


def print_timings(timings: dict[str, list[float]]) -> float:
    """Print the per-preset timing table; return the sum of the medians."""
    print(f"{'preset':<18}{'median s':>10}{'min s':>10}{'max s':>10}")
    for name, seconds in timings.items():
        print(f"{name:<18}{statistics.median(seconds):>10.4f}{min(seconds):>10.4f}"
              f"{max(seconds):>10.4f}")
    total = sum(statistics.median(seconds) for seconds in timings.values())
    print(f"{'total (medians)':<18}{total:>10.4f}")
    return total


def print_profiles(profiles: dict[str, dict[str, Any]]) -> None:
    print(f"{'preset':<18}{'rows':>7}{'weeks':>7}{'geos':>6}{'chan':>6}{'ctrl':>6}"
          f"{'media':>8}{'ROAS min':>10}{'ROAS max':>10}{'geo min':>9}{'geo max':>9}")
    for name, p in profiles.items():
        print(f"{name:<18}{p['rows']:>7}{p['periods']:>7}{p['geos']:>6}{p['channels']:>6}"
              f"{p['controls']:>6}{p['media_share']:>8.1%}{p['roas_min']:>10.2f}"
              f"{p['roas_max']:>10.2f}{p['geo_roas_min']:>9.2f}{p['geo_roas_max']:>9.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, repeats={args.repeats}, seed={args.seed}\n")
    timings, profiles = {}, {}
    for name in list_available_presets():
        timings[name], result = time_preset(name, args.seed, args.repeats)
        profiles[name] = truth_profile(result)
    total = print_timings(timings)
    met = total < TARGET_SECONDS
    print(f"target: all presets < {TARGET_SECONDS:.1f} s -> {'met' if met else 'MISSED'}\n")
    print("ROAS = total contribution / total spend; min/max over channels (overall) and over "
          "(geo, channel); media = media contribution / y")
    print_profiles(profiles)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
