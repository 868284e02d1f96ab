"""Live view of a run plan: done / running / queued, each fit's phase, elapsed and ETA.

On a terminal it is a ``rich`` live table; otherwise (CI, a log file) one plain line per
event. The estimate of what remains is the mean wall time of the fits finished so far
(fitted, not reused from the cache) times the fits still to run, divided by the jobs.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from mmm_param_recovery.benchmarking.run.records import FitEvent

QUEUED, RUNNING, DONE = "queued", "running", "done"


@dataclass
class _FitState:
    label: str
    state: str = QUEUED
    detail: str = ""
    started: float | None = None
    seconds: float | None = None


@dataclass
class ProgressDisplay:
    """Thread-safe progress of ``labels`` (one per planned fit, in plan order)."""

    labels: list[str]
    jobs: int = 1
    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        self._fits = {label: _FitState(label) for label in self.labels}
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._durations: list[float] = []
        self._live: Live | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.stream.isatty():
            console = Console(file=self.stream)
            self._live = Live(console=console, refresh_per_second=2,
                              get_renderable=self._table)  # re-rendered: clocks tick
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def handle(self, event: FitEvent) -> None:
        """Render one runner event (``runner.EventCallback``)."""
        if event.kind == "started":
            self.started(event.label)
        elif event.kind == "phase":
            self.phase(event.label, event.detail)
        else:
            self.finished(event.label, event.detail, fitted=event.fitted)

    def started(self, label: str) -> None:
        self._update(label, RUNNING, "starting", started=time.monotonic())

    def phase(self, label: str, phase: str) -> None:
        self._update(label, RUNNING, phase)

    def finished(self, label: str, outcome: str, fitted: bool) -> None:
        fit = self._fits[label]
        seconds = time.monotonic() - fit.started if fit.started is not None else 0.0
        if fitted:
            self._durations.append(seconds)
        self._update(label, DONE, outcome, seconds=seconds)

    def _update(self, label: str, state: str, detail: str, **values) -> None:
        with self._lock:
            fit = self._fits[label]
            fit.state, fit.detail = state, detail
            for key, value in values.items():
                setattr(fit, key, value)
            if self._live is None:
                print(self._line(fit), file=self.stream, flush=True)

    def counts(self) -> dict[str, int]:
        states = [fit.state for fit in self._fits.values()]
        return {name: states.count(name) for name in (DONE, RUNNING, QUEUED)}

    def remaining_seconds(self) -> float | None:
        """Estimated seconds until every fit is done; None before any fit has finished."""
        if not self._durations:
            return None
        counts = self.counts()
        mean = sum(self._durations) / len(self._durations)
        return mean * (counts[QUEUED] + 0.5 * counts[RUNNING]) / max(self.jobs, 1)

    def _summary(self) -> str:
        counts = self.counts()
        remaining = self.remaining_seconds()
        eta = "unknown" if remaining is None else _clock(remaining)
        return (f"{counts[DONE]}/{len(self._fits)} done, {counts[RUNNING]} running, "
                f"{counts[QUEUED]} queued; elapsed {_clock(time.monotonic() - self._start)}, "
                f"remaining ~{eta}")

    def _line(self, fit: _FitState) -> str:
        elapsed = f" after {_clock(fit.seconds)}" if fit.seconds is not None else ""
        return f"[{self._summary()}] {fit.label}: {fit.detail}{elapsed}"

    def _table(self) -> Table:
        table = Table(title="mmm_param_recovery benchmark", caption=self._summary())
        for column in ("fit", "state", "phase / outcome", "time"):
            table.add_column(column)
        now = time.monotonic()
        for fit in self._fits.values():
            seconds = fit.seconds if fit.seconds is not None else (
                now - fit.started if fit.started is not None else None)
            table.add_row(fit.label, fit.state, fit.detail,
                          "" if seconds is None else _clock(seconds))
        return table


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"
