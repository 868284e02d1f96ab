"""Entry point of the fresh process that runs one fit (started by ``isolation.run_fit``).

Usage: ``python -m mmm_param_recovery.benchmarking.run.fit_child STAGING ADAPTER``.

``STAGING`` holds run_spec.json (written by the parent); ``ADAPTER`` is the adapter's
``"package.module:attribute"``. The parent has already put the adapter's environment
(threads, XLA flags) into this process's environment, so it is in place before anything
heavy is imported. The child appends each phase it enters to ``phase.log``, times each
phase with ``time.perf_counter`` and rewrites ``child.json`` after each one:
``{"timings": {"<phase>_seconds": s, ...}, "error": null | {"type", "message"}}`` (so a
fit killed later still reports the phases it finished), and ``warnings.json`` with every
warning the libraries raised, by phase (none is silenced: warnings are evidence). Phases:
loading, building (from the model spec in run_spec.json, rebuilt and compared), the
prior-predictive ROAS check (adapters with ``prior_roas``; its draws are stored as group
``prior_roas`` of the posterior), waiting_for_cores (only when the parent shares cores
between fits, ``run.cores``: the child waits until the parent writes ``cores.granted``),
sampling, postprocessing, writing. It is the run boundary: any error is recorded and the
exit code is 1.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from mmm_param_recovery.benchmarking.fitters.model_spec import spec_to_dict
from mmm_param_recovery.benchmarking.fitters.registry import import_adapter
from mmm_param_recovery.benchmarking.run.specs import DatasetRef, settings_from_dict
from mmm_param_recovery.benchmarking.store.atomic import write_json_atomic
from mmm_param_recovery.benchmarking.store.runs import POSTERIOR, RUN_SPEC, write_posterior
from mmm_param_recovery.errors import MMMBenchmarkError

PHASE_LOG = "phase.log"
CHILD_RESULT = "child.json"
PHASES = (
    ("loading", "load_seconds"),
    ("building", "build_seconds"),
    ("prior_check", "prior_check_seconds"),
    ("waiting_for_cores", "waiting_seconds"),
    ("sampling", "sampling_seconds"),
    ("postprocessing", "postprocess_seconds"),
    ("writing", "write_seconds"),
)


WARNINGS = "warnings.json"
"""Every warning a phase raised: ``[{"phase", "category", "message", "count"}]``."""
PRIOR_GROUP = "prior_roas"
"""Canonical posterior group holding the prior ROAS draws: ``roas`` (chain=1, draw, channel)."""


class _PhaseTimer:
    """Announces phases in ``phase.log``; records their wall time (s) in ``child.json``
    and every warning they raise (none is silenced) in ``warnings.json``."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.timings: dict[str, float] = {}
        self.warnings: Counter[tuple[str, str, str]] = Counter()

    def run(self, phase: str, function: Callable[..., Any], *args: Any) -> Any:
        with (self.staging / PHASE_LOG).open("a") as handle:
            handle.write(phase + "\n")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = function(*args)
            finally:
                self.warnings.update((phase, w.category.__name__, str(w.message)[:2000])
                                     for w in caught)
        self.timings[dict(PHASES)[phase]] = time.perf_counter() - start
        self.save()
        return value

    def save(self, error: dict[str, str] | None = None) -> None:
        """Atomically (re)write child.json with the timings so far and ``error``, and
        warnings.json with the warnings so far."""
        write_json_atomic(self.staging / CHILD_RESULT, {"timings": self.timings, "error": error})
        records = [{"phase": p, "category": c, "message": m, "count": n}
                   for (p, c, m), n in self.warnings.items()]
        write_json_atomic(self.staging / WARNINGS, records)


def _stamp(idata: Any, record: dict[str, Any], library: str, sampling_seconds: float) -> None:
    """The posterior-group attributes of docs/architecture.md."""
    spec = record["spec"]
    idata.posterior.attrs.update(
        run_key=record["run_key"],
        fitter=spec["fitter"],
        library=library,
        sampler=spec["settings"]["sampler"] or "",
        versions=json.dumps(record["versions"], sort_keys=True),
        sampling_seconds=sampling_seconds,
    )


def _model_spec(adapter: Any, prepared: Any, record: dict[str, Any]) -> Any:
    """The adapter's model spec, rebuilt from (data, profile) and checked to be the one
    hashed into the run key (so what is fitted is what the key names)."""
    spec = record["spec"]
    if not hasattr(adapter, "model_spec"):
        return None
    model = adapter.model_spec(prepared, spec["profile"], spec["settings"]["options"])
    if spec_to_dict(model) != spec["model"]:
        raise MMMBenchmarkError("model spec: rebuilt from the data it differs from the one in "
                                f"{RUN_SPEC}; allowed: a deterministic model_spec")
    return model


WAIT_FOR_CORES_ENV = "MMM_WAIT_FOR_CORES"
"""Set to ``1`` by a parent that grants the sampling cores (``run.cores``)."""
CORES_GRANTED = "cores.granted"
GRANT_POLL_SECONDS = 0.05


def _wait_for_cores(staging: Path) -> None:
    """Block until the parent grants this fit its sampling cores."""
    while not (staging / CORES_GRANTED).exists():
        time.sleep(GRANT_POLL_SECONDS)


def _with_prior(idata: Any, prior: xr.DataArray | None) -> None:
    """Add the prior ROAS draws (sample, channel) as group PRIOR_GROUP."""
    if prior is None:
        return
    roas = prior.rename(sample="draw").expand_dims(chain=1).transpose("chain", "draw", "channel")
    with warnings.catch_warnings():  # our own group, not one of ArviZ's scheme
        warnings.filterwarnings("ignore", message=f"{PRIOR_GROUP} group is not defined")
        idata.add_groups({PRIOR_GROUP: xr.Dataset({"roas": roas})})


def _fit(staging: Path, adapter_path: str, timer: _PhaseTimer) -> None:
    """Load, build, check the prior, sample, post-process and write one fit into
    ``staging``."""
    record = json.loads((staging / RUN_SPEC).read_text())
    settings = settings_from_dict(record["spec"]["settings"])
    adapter = import_adapter(adapter_path)
    prepared = timer.run("loading", DatasetRef(**record["spec"]["dataset"]).prepared)
    model = _model_spec(adapter, prepared, record)
    built = timer.run("building", adapter.build, prepared, settings, model)
    prior = None
    if hasattr(adapter, "prior_roas"):
        prior = timer.run("prior_check", adapter.prior_roas, built, prepared, settings)
    if os.environ.get(WAIT_FOR_CORES_ENV) == "1":
        timer.run("waiting_for_cores", _wait_for_cores, staging)
    fitted = timer.run("sampling", adapter.sample, built, prepared, settings)
    idata = timer.run("postprocessing", adapter.postprocess, fitted, prepared, settings)
    _with_prior(idata, prior)
    _stamp(idata, record, adapter.library, timer.timings["sampling_seconds"])
    timer.run("writing", write_posterior, idata, staging / POSTERIOR)


def main(argv: list[str] | None = None) -> int:
    """Run the fit described in ``argv = [STAGING, ADAPTER]``; 0 on success, 1 on error."""
    staging_arg, adapter_path = sys.argv[1:] if argv is None else argv
    staging = Path(staging_arg)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    timer = _PhaseTimer(staging)
    try:
        _fit(staging, adapter_path, timer)
    except Exception as exc:  # run boundary: every failure becomes a recorded failed fit
        traceback.print_exc()
        timer.save({"type": type(exc).__name__, "message": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
