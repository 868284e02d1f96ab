"""Prior-implied ROAS per channel, for every prior profile and library, beside the truth.

Usage::

    .venv/bin/python benchmarks/bench_prior_checks.py [--presets small_business ...]
        [--profiles seed library matched] [--seed 42] [--draws 500]

Builds each library's model from its model spec (nothing is fitted), draws from the
library's own prior (PyMC-Marketing ``sample_prior_predictive``; Meridian
``sample_prior`` + Analyzer ROI), exactly as the prior-predictive check of every fit
does, and prints Markdown tables: per channel the prior ROAS 5/50/95 % quantiles, the
true ROAS, the prior mass at or below it and the "prior excludes truth" flag.
"""

from __future__ import annotations

import argparse
import time

from mmm_param_recovery.benchmarking.fitters.base import PreparedData, SamplingSettings
from mmm_param_recovery.benchmarking.fitters.model_spec import PROFILES
from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.metrics.prior_check import prior_check_rows
from mmm_param_recovery.benchmarking.metrics.truth import canonical_truth
from mmm_param_recovery.data_generator import generate_mmm_dataset, get_preset_config
from mmm_param_recovery.data_generator.io import channel_columns, control_columns

FITTERS = {"pymc": "pymc:pymc", "meridian": "meridian"}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["small_business", "medium_business"])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=PROFILES)
    parser.add_argument("--libraries", nargs="+", default=list(FITTERS), choices=list(FITTERS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--draws", type=int, default=500)
    return parser.parse_args()


def _prior_rows(fitter: str, prepared: PreparedData, profile: str, truth, draws: int, seed: int):
    entry = get_fitter(fitter)
    adapter = entry.load_adapter()
    settings = SamplingSettings(1, 1, 1, 0.9, seed, sampler=entry.sampler)
    built = adapter.build(prepared, settings, adapter.model_spec(prepared, profile))
    prior = adapter.prior_roas(built, prepared, settings, draws)
    roas = prior.rename(sample="draw").expand_dims(chain=1)
    return prior_check_rows(roas, truth["roas"])


def _table(rows: list[dict]) -> list[str]:
    by_channel: dict[str, dict] = {}
    for row in rows:
        key = row["stat"] if row["stat"] != "quantile" else f"q{round(row['level'] * 100):02d}"
        by_channel.setdefault(row["channel"], {})[key] = row["value"]
    lines = ["| channel | prior q05 | q50 | q95 | true ROAS | mass <= truth | excludes |",
             "|---|---:|---:|---:|---:|---:|:---:|"]
    for channel, v in by_channel.items():
        lines.append(f"| {channel} | {v['q05']:.3g} | {v['q50']:.3g} | {v['q95']:.3g} | "
                     f"{v['true']:.3g} | {v['mass_at_or_below_truth']:.3f} | "
                     f"{'**yes**' if v['excludes_truth'] else 'no'} |")
    return lines


def main() -> None:
    args = _arguments()
    for preset in args.presets:
        result = generate_mmm_dataset(get_preset_config(preset, seed=args.seed))
        data = result["data"]
        prepared = PreparedData(data, tuple(channel_columns(data)), tuple(control_columns(data)))
        truth = canonical_truth(result)
        for library in args.libraries:
            for profile in args.profiles:
                start = time.perf_counter()
                rows = _prior_rows(FITTERS[library], prepared, profile, truth, args.draws,
                                   args.seed)
                seconds = time.perf_counter() - start
                print(f"\n### {preset} (seed {args.seed}), {library}, priors={profile} "
                      f"({args.draws} prior draws, {seconds:.1f} s)\n")
                print("\n".join(_table(rows)))


if __name__ == "__main__":
    main()
