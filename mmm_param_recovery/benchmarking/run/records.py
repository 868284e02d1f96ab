"""What a run reports: the one status vocabulary, progress events and per-fit records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd

from mmm_param_recovery.benchmarking.fitters.registry import get_fitter
from mmm_param_recovery.benchmarking.run.plan import PlannedFit


class Status(StrEnum):
    """What became of a planned fit (compares equal to its string value)."""

    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    MISSING = "missing"
    """``--plots-only`` found no stored result for the spec."""


FAILURES = (Status.FAILED, Status.TIMEOUT)
"""Statuses that make a run exit 1."""


@dataclass(frozen=True)
class FitEvent:
    """A progress event of one planned fit, for a UI to render.

    ``kind``: ``started``, ``phase`` (``detail`` = the phase the fit entered: loading,
    building, sampling, postprocessing, writing) or ``finished`` (``detail`` = the outcome:
    a status, ``reused``, or ``status: reason``; ``fitted`` is True when a fit actually
    ran, False when it was reused or skipped).
    """

    label: str
    kind: str
    detail: str = ""
    fitted: bool = False


EventCallback = Callable[[FitEvent], None]


def ignore_event(event: FitEvent) -> None:
    """The default callback: report nothing."""


@dataclass(frozen=True)
class RunRecord:
    """A planned fit and what became of it.

    ``timings``: seconds and ``peak_rss_bytes``; ``metrics``: the tidy metric rows of the
    fit (None unless ok); ``reused``: taken from the cache.
    """

    planned: PlannedFit
    status: Status
    reason: str = ""
    run_key: str = ""
    run_dir: Path | None = None
    timings: dict | None = None
    metrics: pd.DataFrame | None = None
    reused: bool = False

    def identity(self) -> dict:
        """The identity columns of every summary table (plus the NUTS settings)."""
        spec, entry = self.planned.spec, get_fitter(self.planned.fitter)
        return {"dataset": self.planned.dataset, "seed": self.planned.seed,
                "fitter": self.planned.fitter, "priors": self.planned.profile,
                "library": entry.library, "sampler": entry.sampler,
                "run_key": self.run_key or None, "status": str(self.status),
                "reason": self.reason, "chains": spec.settings.chains,
                "draws": spec.settings.draws, "tune": spec.settings.tune,
                "target_accept": spec.settings.target_accept}
