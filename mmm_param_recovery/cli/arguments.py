"""Turn CLI arguments into a validated ``BenchmarkRequest`` (nothing is written here)."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from mmm_param_recovery.benchmarking.fitters.registry import (
    list_fitters,
    list_libraries,
    list_samplers,
    select_fitters,
)
from mmm_param_recovery.benchmarking.run.plan import BenchmarkRequest
from mmm_param_recovery.benchmarking.store.datasets import UserDataset
from mmm_param_recovery.data_generator import (
    generate_mmm_dataset,
    get_preset_config,
    list_available_presets,
    load_dataset_files,
)
from mmm_param_recovery.errors import ConfigError, DatasetFormatError, FitSpecError, invalid


def _check_choices(flag: str, values: list[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if value not in allowed:
            raise invalid(flag, value, ", ".join(allowed), ConfigError)
    return tuple(dict.fromkeys(values))


def _check_numbers(args: argparse.Namespace) -> None:
    for flag, value in (("--chains", args.chains), ("--draws", args.draws),
                        ("--tune", args.tune)):
        if value < 1:
            raise invalid(flag, value, "an integer >= 1", FitSpecError)
    if not 0 < args.target_accept < 1:
        raise invalid("--target-accept", args.target_accept, "a number in (0, 1)", FitSpecError)
    if args.jobs is not None and args.jobs < 1:
        raise invalid("--jobs", args.jobs, "an integer >= 1", FitSpecError)
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise invalid("--timeout", args.timeout, "seconds > 0", FitSpecError)
    for seed in args.seeds or [args.seed]:
        if seed < 0:
            raise invalid("--seeds" if args.seeds else "--seed", seed, "integers >= 0",
                          FitSpecError)


def _check_output_dir(path: Path) -> None:
    """The folder must be creatable and writable; nothing is created here."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise invalid("--output-dir", str(path), "a folder you can write to", ConfigError)


def _user_dataset(args: argparse.Namespace) -> UserDataset | None:
    if args.dataset_file is None and args.truth_file is None:
        return None
    if args.dataset_file is None or args.truth_file is None:
        missing = "--truth-file" if args.truth_file is None else "--dataset-file"
        raise DatasetFormatError(f"{missing}: missing; allowed: --dataset-file and --truth-file "
                                 "together")
    load_dataset_files(args.dataset_file, args.truth_file)  # validates; raises on any problem
    name = args.dataset_file.stem
    if name in list_available_presets():
        name = f"user_{name}"
    return UserDataset(name, args.dataset_file, args.truth_file)


def request_from_args(args: argparse.Namespace, default_jobs: int) -> BenchmarkRequest:
    """Validate every flag (raising an MMMBenchmarkError naming the flag) into a request."""
    _check_numbers(args)
    user = _user_dataset(args)
    default_datasets = [] if user is not None else ["small_business"]
    datasets = _check_choices("--datasets", args.datasets or default_datasets,
                              tuple(list_available_presets()))
    libraries = _check_choices("--libraries", args.libraries, list_libraries())
    samplers = _check_choices("--samplers", args.samplers, list_samplers())
    _check_output_dir(args.output_dir)
    return BenchmarkRequest(
        datasets=datasets, user_dataset=user, fitters=select_fitters(libraries, samplers),
        seeds=tuple(dict.fromkeys(args.seeds or [args.seed])), chains=args.chains,
        draws=args.draws, tune=args.tune, target_accept=args.target_accept,
        output_dir=args.output_dir, jobs=args.jobs or default_jobs, timeout=args.timeout,
        force_rerun=args.force_rerun, plots_only=args.plots_only,
    )


def describe_available() -> str:
    """One line per dataset preset (size and truth profile) and per fitter."""
    lines = ["datasets (periods x geos x channels x controls, media share, overall ROAS):"]
    for name in list_available_presets():
        result = generate_mmm_dataset(get_preset_config(name))
        data, truth = result["data"], result["ground_truth"]
        roas = truth["roas"].loc[truth["roas"]["geo"] == "overall", "roas"]
        size = (f"{data['date'].nunique()}x{data['geo'].nunique()}x"
                f"{len(result['config'].channels)}x{len(result['config'].controls)}")
        lines.append(f"  {name:<18} {size:<14} media {truth['media_share']:.0%}, "
                     f"ROAS {roas.min():.2f}-{roas.max():.2f}")
    lines.append("fitters (library:sampler):")
    lines += [f"  {name}" for name in list_fitters()]
    return "\n".join(lines)
