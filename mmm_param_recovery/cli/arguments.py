"""Turn CLI arguments into a validated ``BenchmarkRequest`` (nothing is written here).

Every flag is checked here, before anything is written, and a bad one raises an
MMMBenchmarkError naming the flag, the value and what is allowed (the CLI exits 2):
numeric ranges (``LIMITS``; seeds below ``MAX_SEED`` because JAX and TensorFlow take
32-bit seeds and wrap larger ones onto smaller ones), distinct seeds, a writable output
folder outside /proc, /sys and /dev, and a user's dataset (its files validated and its
name, from ``--dataset-name`` or the file stem, a valid folder name other than
``summary`` and the presets).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from mmm_param_recovery.benchmarking.fitters.model_spec import PROFILES
from mmm_param_recovery.benchmarking.fitters.registry import (
    get_fitter,
    list_fitters,
    list_libraries,
    list_samplers,
    select_fitters,
)
from mmm_param_recovery.benchmarking.run.plan import BenchmarkRequest
from mmm_param_recovery.benchmarking.store.datasets import (
    UserDataset,
    check_dataset_name,
    check_name_is_free,
)
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


LIMITS = {"--chains": ("chains", 1, 64), "--draws": ("draws", 1, 100_000),
          "--tune": ("tune", 1, 100_000), "--jobs": ("jobs", 1, 256)}
"""Integer flags: (attribute, smallest, largest allowed)."""
MAX_SEED = 2**32 - 1
"""Largest seed: numpy takes any, but JAX's PRNGKey and TensorFlow's seeds are 32-bit."""
MAX_TIMEOUT = 30 * 24 * 3600.0
PSEUDO_FILESYSTEMS = ("/proc", "/sys", "/dev")


def _check_numbers(args: argparse.Namespace) -> None:
    for flag, (attribute, low, high) in LIMITS.items():
        value = getattr(args, attribute)
        if value is not None and not low <= value <= high:
            raise invalid(flag, value, f"an integer from {low:,} to {high:,}", FitSpecError)
    if not 0 < args.target_accept < 1:
        raise invalid("--target-accept", args.target_accept, "a number in (0, 1)", FitSpecError)
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_TIMEOUT):
        raise invalid("--timeout", args.timeout, f"seconds > 0, at most {MAX_TIMEOUT:g} "
                      "(30 days)", FitSpecError)
    flag = "--seeds" if args.seeds else "--seed"
    seeds = args.seeds or [args.seed]
    for seed in seeds:
        if not 0 <= seed <= MAX_SEED:
            raise invalid(flag, seed, f"integers from 0 to {MAX_SEED} (2**32 - 1; JAX and "
                          "TensorFlow take 32-bit seeds)", FitSpecError)
    duplicated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if duplicated:
        raise invalid(flag, seeds, f"distinct seeds ({duplicated} given more than once)",
                      FitSpecError)


def output_dir_arg(text: str) -> Path:
    """argparse type of ``--output-dir``: a non-empty path (checked fully later)."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: a folder path, e.g. "
                                         "data/results")
    return Path(text)


def _check_output_dir(path: Path) -> None:
    """The folder must be creatable and writable, and not in a pseudo-filesystem; nothing
    is created here."""
    allowed = "a folder you can write to (not under /proc, /sys or /dev)"
    try:
        resolved = path.resolve()
        if any(len(part.encode()) > 255 for part in resolved.parts) or len(str(resolved)) > 4000:
            raise invalid("--output-dir", str(path), f"{allowed}; names of at most 255 "
                          "bytes", ConfigError)
        if any(resolved == Path(root) or Path(root) in resolved.parents
               for root in PSEUDO_FILESYSTEMS):
            raise invalid("--output-dir", str(path), allowed, ConfigError)
        probe = resolved
        while not probe.exists():
            probe = probe.parent
    except ConfigError:
        raise
    except (OSError, ValueError, RuntimeError) as error:
        raise invalid("--output-dir", str(path), f"{allowed} ({error})", ConfigError) from error
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise invalid("--output-dir", str(path), allowed, ConfigError)


def _user_dataset(args: argparse.Namespace) -> UserDataset | None:
    explicit = getattr(args, "dataset_name", None)
    if args.dataset_file is None and args.truth_file is None:
        if explicit is not None:
            raise DatasetFormatError("--dataset-name: given without --dataset-file; allowed: "
                                     "--dataset-name with --dataset-file and --truth-file")
        return None
    if args.dataset_file is None or args.truth_file is None:
        missing = "--truth-file" if args.truth_file is None else "--dataset-file"
        raise DatasetFormatError(f"{missing}: missing; allowed: --dataset-file and --truth-file "
                                 "together")
    if explicit is not None:
        name = check_dataset_name(explicit)
        check_name_is_free(name)
    else:
        name = args.dataset_file.stem
        if name in list_available_presets():
            name = f"user_{name}"
        try:
            check_dataset_name(name)
        except ConfigError as error:
            raise invalid("--dataset-file", str(args.dataset_file),
                          f"a file whose stem is a valid dataset name, or --dataset-name "
                          f"({str(error).split('allowed: ', 1)[-1]})", ConfigError) from None
    load_dataset_files(args.dataset_file, args.truth_file)  # validates; raises on any problem
    return UserDataset(name, args.dataset_file, args.truth_file)


def _check_profiles(profiles: list[str], fitters: tuple[str, ...]) -> tuple[str, ...]:
    """The ``--priors`` profiles, each known and supported by every selected fitter."""
    chosen = _check_choices("--priors", profiles, PROFILES)
    for fitter in fitters:
        unsupported = [p for p in chosen if p not in get_fitter(fitter).profiles]
        if unsupported:
            raise invalid(f"--priors (for {fitter})", unsupported[0],
                          ", ".join(get_fitter(fitter).profiles), ConfigError)
    return chosen


def _check_fitter_options(texts: list[str], fitters: tuple[str, ...]) -> tuple[tuple[str, str],
                                                                               ...]:
    """``--fitter-option KEY=VALUE`` pairs, each KEY taken by a selected fitter and each
    VALUE one that fitter allows; later pairs replace earlier ones with the same KEY."""
    options: dict[str, str] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        takers = [f for f in fitters if key in get_fitter(f).options]
        allowed = {k: v for f in fitters for k, v in get_fitter(f).options.items()}
        if not sep or not takers:
            raise invalid("--fitter-option", text, "KEY=VALUE with KEY one of "
                          f"{sorted(allowed) or 'no keys (the selected fitters take none)'}",
                          ConfigError)
        values = get_fitter(takers[0]).options[key]
        if value not in values:
            raise invalid(f"--fitter-option {key}", value, ", ".join(map(str, values)),
                          ConfigError)
        options[key] = value
    return tuple(sorted(options.items()))


def _check_executor(name: str, ray_address: str | None, ray_storage: str | None) -> str:
    """``--executor`` (and ``--ray-address``, ``--ray-storage``, which only ``ray`` takes)."""
    from mmm_param_recovery.benchmarking.run.executors import EXECUTORS, RAY_STORAGE, require_ray

    executor = _check_choices("--executor", [name], EXECUTORS)[0]
    for flag, value in (("--ray-address", ray_address), ("--ray-storage", ray_storage)):
        if value is not None and executor != "ray":
            raise invalid(flag, value, "only with --executor ray", ConfigError)
    if ray_storage is not None:
        _check_choices("--ray-storage", [ray_storage], RAY_STORAGE)
    if executor == "ray":
        require_ray()
    return executor


def _check_compare_to(other: Path | None, output_dir: Path) -> Path | None:
    """``--compare-to``: another run's output folder holding summary/verdict_fits.csv."""
    if other is None:
        return None
    allowed = ("the output folder of an earlier run (with summary/verdict_fits.csv), not "
               "--output-dir")
    if not (other / "summary" / "verdict_fits.csv").is_file():
        raise invalid("--compare-to", str(other), allowed, ConfigError)
    if other.resolve() == output_dir.resolve():
        raise invalid("--compare-to", str(other), allowed, ConfigError)
    return other


def request_from_args(args: argparse.Namespace, default_jobs: int) -> BenchmarkRequest:
    """Validate every flag (raising an MMMBenchmarkError naming the flag) into a request."""
    _check_numbers(args)
    user = _user_dataset(args)
    default_datasets = [] if user is not None else ["small_business"]
    datasets = _check_choices("--datasets", args.datasets or default_datasets,
                              tuple(list_available_presets()))
    libraries = _check_choices("--libraries", args.libraries, list_libraries())
    samplers = _check_choices("--samplers", args.samplers, list_samplers())
    fitters = select_fitters(libraries, samplers)
    profiles = _check_profiles(args.priors, fitters)
    fitter_options = _check_fitter_options(args.fitter_option, fitters)
    _check_output_dir(Path(args.output_dir))
    compare_to = _check_compare_to(args.compare_to, Path(args.output_dir))
    executor = _check_executor(args.executor, args.ray_address, args.ray_storage)
    return BenchmarkRequest(
        datasets=datasets, user_dataset=user, fitters=fitters, profiles=profiles,
        seeds=tuple(dict.fromkeys(args.seeds or [args.seed])), chains=args.chains,
        draws=args.draws, tune=args.tune, target_accept=args.target_accept,
        output_dir=args.output_dir, jobs=args.jobs or default_jobs, timeout=args.timeout,
        force_rerun=args.force_rerun, plots_only=args.plots_only, compare_to=compare_to,
        executor=executor, ray_address=args.ray_address, fitter_options=fitter_options,
        overlap=args.overlap, ray_storage=args.ray_storage or "shared",
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
    lines.append("fitters (library:sampler) and their --fitter-option KEY=VALUE (default first):")
    for name in list_fitters():
        options = "; ".join(f"{key}={'|'.join(map(str, values))}"
                            for key, values in get_fitter(name).options.items())
        lines.append(f"  {name:<18} {options}".rstrip())
    return "\n".join(lines)
