"""Compare the registry's memory model with the peak memory measured by stored fits.

    .venv/bin/python benchmarks/calibrate_memory.py DIR [DIR ...]

Reads every completed run folder under the output folders ``DIR`` (``run_spec.json`` and
``timings.json``), and prints per fit: the fitter, the dataset's cells (dates x geos x
channels), chains x draws, the measured peak RSS, the registry's estimate
(``MemoryModel.estimate_bytes``) and the ``copies`` that the measured peak implies with
the registry's ``base_gib`` (``(peak - base) / (8 bytes x chains x draws x cells)``).
Then, per fitter, the largest implied ``copies`` over the fits whose draws outweigh the
base (the per-draw term at least a quarter of the peak): the value to put in the
registry so that the estimate bounds every measured peak.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.fitters.registry import GIB, get_fitter

FLOAT64_BYTES = 8
DRAWS_MATTER = 0.25
"""A fit says something about ``copies`` when its draws are at least this share of its peak."""


def fit_rows(folders: list[Path]) -> pd.DataFrame:
    """One row per completed run folder under ``folders``."""
    rows = []
    for timings_path in sorted(p for folder in folders for p in folder.glob("*/*/timings.json")):
        spec = json.loads((timings_path.parent / "run_spec.json").read_text())["spec"]
        timings = json.loads(timings_path.read_text())
        dataset, settings = spec["dataset"], spec["settings"]
        cells = dataset["n_dates"] * dataset["n_geos"] * dataset["n_channels"]
        memory = get_fitter(spec["fitter"]).memory
        draws_bytes = FLOAT64_BYTES * settings["chains"] * settings["draws"] * cells
        peak = float(timings["peak_rss_bytes"])
        rows.append({
            "fitter": spec["fitter"], "dataset": dataset["name"], "cells": cells,
            "chains_x_draws": f"{settings['chains']} x {settings['draws']}",
            "peak_gib": peak / GIB,
            "estimate_gib": memory.estimate_bytes(settings["chains"], settings["draws"],
                                                  cells) / GIB,
            "implied_copies": (peak - memory.base_gib * GIB) / draws_bytes,
            "draws_share": min(1.0, memory.copies * draws_bytes / peak),
        })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    rows = fit_rows(parser.parse_args().folders)
    if rows.empty:
        raise SystemExit("no completed run folders found")
    print(rows.round(3).to_string(index=False))
    informative = rows[rows["draws_share"] >= DRAWS_MATTER]
    print("\nper fitter, the copies that bound every informative fit (registry value beside):")
    for fitter, group in informative.groupby("fitter"):
        print(f"  {fitter}: {group['implied_copies'].max():.2f} "
              f"(registry {get_fitter(fitter).memory.copies:g}, {len(group)} fits)")


if __name__ == "__main__":
    main()
