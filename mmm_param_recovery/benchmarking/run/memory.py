"""Memory shared by the fits of one local run, so that ``--jobs`` and overlap never start
more fits than the machine's RAM holds by the registry's memory model.

Each fit reserves its estimated peak (``FitterEntry.memory``, the same estimate a Ray task
requests) before it starts and gives it back when it ends. A fit waits while its
reservation would take the run past ``MEMORY_FRACTION`` of the RAM, unless no other fit
holds memory (a fit whose estimate alone is too large was skipped when the plan was made,
so a lone fit always starts). Fits start in the order they asked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil

from mmm_param_recovery.benchmarking.fitters.registry import MEMORY_FRACTION, get_fitter
from mmm_param_recovery.benchmarking.run.cores import Turns
from mmm_param_recovery.benchmarking.run.specs import FitSpec


def estimated_peak_bytes(spec: FitSpec) -> int:
    """The registry's peak-RSS estimate of ``spec``'s fit, bytes."""
    memory = get_fitter(spec.fitter).memory
    return int(memory.estimate_bytes(spec.settings.chains, spec.settings.draws,
                                     spec.dataset.cells))


class MemoryBudget:
    """``limit_bytes`` (default: ``MEMORY_FRACTION`` of this machine's RAM) reserved by
    fits; ``peak_reserved`` is the most ever reserved at once."""

    def __init__(self, limit_bytes: int | None = None) -> None:
        if limit_bytes is None:
            limit_bytes = int(MEMORY_FRACTION * psutil.virtual_memory().total)
        if limit_bytes < 1:
            raise ValueError(f"limit_bytes: {limit_bytes!r} is invalid; allowed: >= 1")
        self.limit_bytes = limit_bytes
        self.peak_reserved = 0
        self._reserved = 0
        self._changed = threading.Condition()
        self._turns = Turns(self._changed)

    def reserve(self, n_bytes: int, should_stop: Callable[[], bool],
                on_wait: Callable[[], None] = lambda: None) -> bool:
        """Wait for ``n_bytes`` (all of them, or the whole budget when nothing else is
        reserved); True once reserved, False (nothing reserved) if ``should_stop`` turned
        true first. ``on_wait`` is called once if the fit has to wait."""
        with self._changed:
            if not self._turns.wait(
                    lambda: self._reserved > 0 and self._reserved + n_bytes > self.limit_bytes,
                    should_stop, on_wait):
                return False
            self._reserved += n_bytes
            self.peak_reserved = max(self.peak_reserved, self._reserved)
            return True

    def release(self, n_bytes: int) -> None:
        """Give back ``n_bytes`` reserved by ``reserve``."""
        with self._changed:
            self._reserved -= n_bytes
            self._changed.notify_all()
