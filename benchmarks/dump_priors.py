"""Print the priors each library ends up with, read off the built model objects.

Usage::

    .venv/bin/python benchmarks/dump_priors.py [--preset small_business] [--seed 1]
        [--geos N] [--weeks N] [--profile seed|library|matched] [--json]

Builds the PyMC-Marketing and the Meridian model of a generated dataset from the model
spec of ``--profile`` (nothing is fitted) and prints, as Markdown tables (or JSON with
``--json``): PyMC-Marketing's model config priors (``pymc_extras.prior.Prior``) with their
dims, its free random variables, Meridian's broadcast priors (after Meridian's own
national-model adjustments), its media prior type and its knots. docs/models.md pastes
this output.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

from mmm_param_recovery.benchmarking.fitters.meridian_model import (
    build_meridian_model_from_spec,
    meridian_model_spec,
)
from mmm_param_recovery.benchmarking.fitters.model_spec import PROFILES
from mmm_param_recovery.benchmarking.fitters.priors import spend_share_prior_sigma
from mmm_param_recovery.benchmarking.fitters.pymc_model import (
    build_pymc_model_from_spec,
    pymc_model_spec,
)
from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset
from mmm_param_recovery.data_generator.io import channel_columns, control_columns

MERIDIAN_PARAMETERS = ("knot_values", "tau_g_excl_baseline", "sigma", "alpha_m", "ec_m",
                       "slope_m", "beta_m", "roi_m", "eta_m", "gamma_c", "xi_c")
_TFP_BOOKKEEPING = ("name", "validate_args", "allow_nan_stats",
                    "force_probs_to_zero_outside_support", "atol", "rtol")


def _number(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else [round(float(v), 4) for v in array.ravel()]


def _format_prior(node: Any) -> str:
    """``Dist(arg=value, ...)`` of a ``Prior.to_dict()`` node (recursively)."""
    if isinstance(node, dict) and "dist" in node:
        args = ", ".join(f"{k}={_format_prior(v)}" for k, v in node["kwargs"].items())
        return f"{node['dist']}({args})"
    if isinstance(node, dict) and node.get("class") == "DataArray":
        return str(_number(node["data"]))
    return str(_number(node))


def pymc_priors(mmm: Any) -> dict[str, dict[str, Any]]:
    """PyMC-Marketing's priors: config key -> {prior (text), dims}."""
    priors = {key: prior for key, prior in mmm.model_config.items() if hasattr(prior, "to_dict")}
    return {
        key: {"prior": _format_prior(prior.to_dict()), "dims": list(prior.dims)}
        for key, prior in priors.items()
    }


def meridian_priors(model: Any) -> dict[str, dict[str, Any]]:
    """Meridian's broadcast priors: parameter -> {dist, params, point_mass}."""
    broadcast = model.prior_broadcast
    out = {}
    for name in MERIDIAN_PARAMETERS:
        dist = getattr(broadcast, name).distribution
        params = {k: _number(v) for k, v in dist.parameters.items()
                  if k not in _TFP_BOOKKEEPING and v is not None}
        out[name] = {"dist": type(dist).__name__, "params": params,
                     "point_mass": bool(broadcast.has_deterministic_param(name))}
    return out


def collect(preset: str, seed: int, geos: int | None, weeks: int | None,
            profile: str = "seed") -> dict[str, Any]:
    """Build both models of the dataset under prior ``profile`` and read their priors off
    them."""
    overrides: dict[str, Any] = {"seed": seed}
    if geos is not None:
        overrides["regions.n_regions"] = geos
    if weeks is not None:
        overrides["n_periods"] = weeks
    data = generate_mmm_dataset(customize_preset(preset, **overrides))["data"]
    channels, controls = channel_columns(data), control_columns(data)
    mmm = build_pymc_model_from_spec(
        data, pymc_model_spec(data, channels, controls, profile))
    meridian = build_meridian_model_from_spec(
        data, meridian_model_spec(data, channels, controls, profile))
    return {
        "dataset": {"preset": preset, "seed": seed, "n_geos": int(data["geo"].nunique()),
                    "n_weeks": int(data["date"].nunique()), "channels": channels,
                    "profile": profile},
        "prior_sigma": spend_share_prior_sigma(data, channels).round(4).to_dict(),
        "pymc": pymc_priors(mmm),
        "pymc_free_rvs": {v.name: list(mmm.model.named_vars_to_dims.get(v.name, ()))
                          for v in mmm.model.free_RVs},
        "meridian": meridian_priors(meridian),
        "meridian_media_prior_type": meridian.model_spec.media_prior_type,
        "meridian_national": bool(meridian.is_national),
        "meridian_knots": [int(k) for k in meridian.knot_info.knot_locations],
    }


def markdown(priors: dict[str, Any]) -> str:
    """The priors as Markdown tables."""
    lines = [f"Dataset: {priors['dataset']}", "",
             f"Spend-share prior sigma: {priors['prior_sigma']}", "",
             "| PyMC-Marketing config key | prior | dims |", "|---|---|---|"]
    lines += [f"| {k} | {v['prior']} | {tuple(v['dims'])} |" for k, v in priors["pymc"].items()]
    lines += ["", f"PyMC-Marketing free RVs (dims): {priors['pymc_free_rvs']}", "",
              "| Meridian parameter | distribution | parameters | point mass |",
              "|---|---|---|---|"]
    lines += [f"| {k} | {v['dist']} | {v['params']} | {v['point_mass']} |"
              for k, v in priors["meridian"].items()]
    lines += ["", f"Meridian media prior type: {priors['meridian_media_prior_type']}; "
              f"national model: {priors['meridian_national']}; "
              f"knots at weeks {priors['meridian_knots']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="small_business")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--geos", type=int, default=None, help="override regions.n_regions")
    parser.add_argument("--weeks", type=int, default=None, help="override n_periods")
    parser.add_argument("--profile", default="seed", choices=PROFILES, help="prior profile")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    priors = collect(args.preset, args.seed, args.geos, args.weeks, args.profile)
    print(json.dumps(priors, indent=2) if args.json else markdown(priors))  # noqa: T201


if __name__ == "__main__":
    main()
