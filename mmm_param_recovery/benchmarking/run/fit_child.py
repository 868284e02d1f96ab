"""Entry point of the fresh process that runs one fit (started by ``isolation.run_fit``).

Usage: ``python -m mmm_param_recovery.benchmarking.run.fit_child STAGING ADAPTER``.

``STAGING`` holds run_spec.json (written by the parent); ``ADAPTER`` is the adapter's
``"package.module:attribute"``. The parent has already put the adapter's environment
(threads, XLA flags) into this process's environment, so it is in place before anything
heavy is imported. The child appends each phase it enters to ``phase.log``, times each
phase with ``time.perf_counter`` and rewrites ``child.json`` after each one:
``{"timings": {"<phase>_seconds": s, ...}, "error": null | {"type", "message"}}`` (so a
fit killed later still reports the phases it finished). It is the run boundary: any
error is recorded there and the exit code is 1.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmm_param_recovery.benchmarking.fitters.registry import import_adapter
from mmm_param_recovery.benchmarking.run.specs import DatasetRef, settings_from_dict
from mmm_param_recovery.benchmarking.store.atomic import write_json_atomic
from mmm_param_recovery.benchmarking.store.runs import POSTERIOR, RUN_SPEC, write_posterior

PHASE_LOG = "phase.log"
CHILD_RESULT = "child.json"
PHASES = (
    ("loading", "load_seconds"),
    ("building", "build_seconds"),
    ("sampling", "sampling_seconds"),
    ("postprocessing", "postprocess_seconds"),
    ("writing", "write_seconds"),
)


class _PhaseTimer:
    """Announces phases in ``phase.log``; records their wall time (s) in ``child.json``."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.timings: dict[str, float] = {}

    def run(self, phase: str, function: Callable[..., Any], *args: Any) -> Any:
        with (self.staging / PHASE_LOG).open("a") as handle:
            handle.write(phase + "\n")
        start = time.perf_counter()
        value = function(*args)
        self.timings[dict(PHASES)[phase]] = time.perf_counter() - start
        self.save()
        return value

    def save(self, error: dict[str, str] | None = None) -> None:
        """Atomically (re)write child.json with the timings so far and ``error``."""
        write_json_atomic(self.staging / CHILD_RESULT, {"timings": self.timings, "error": error})


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


def _fit(staging: Path, adapter_path: str, timer: _PhaseTimer) -> None:
    """Load, build, sample, post-process and write one fit into ``staging``."""
    record = json.loads((staging / RUN_SPEC).read_text())
    settings = settings_from_dict(record["spec"]["settings"])
    adapter = import_adapter(adapter_path)
    prepared = timer.run("loading", DatasetRef(**record["spec"]["dataset"]).prepared)
    model = timer.run("building", adapter.build, prepared, settings)
    fitted = timer.run("sampling", adapter.sample, model, prepared, settings)
    idata = timer.run("postprocessing", adapter.postprocess, fitted, prepared, settings)
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
