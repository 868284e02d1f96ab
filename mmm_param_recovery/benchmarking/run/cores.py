"""Cores shared by the fits of one local run, so that one fit's build overlaps another's
sampling without oversubscribing the machine.

A fit holds one core while its child loads, builds and checks the prior (compilation is
single-threaded), then asks for its ``cores`` (``FitSpec.cores``) before sampling and
keeps them through post-processing and writing. A fit gives its one core back while it
waits for its share, so no fit ever waits holding cores (no deadlock), and while any fit
waits to sample no new fit starts building (no starvation). Fits get their sampling
cores in the order they asked for them. The child waits
for the grant in its ``waiting_for_cores`` phase, whose seconds are recorded and left out
of the fit's ``total_seconds``.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable

POLL_SECONDS = 0.2


class Turns:
    """First come, first served waits under one ``threading.Condition`` (``changed``):
    true while anyone waits."""

    def __init__(self, changed: threading.Condition) -> None:
        self._changed = changed
        self._queue: deque[int] = deque()  # tickets, first asked first
        self._tickets = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def wait(self, blocked: Callable[[], bool], should_stop: Callable[[], bool],
             on_wait: Callable[[], None] = lambda: None) -> bool:
        """Holding ``changed``: wait until every earlier caller is served and ``blocked()``
        is false (True), or ``should_stop()`` turned true first (False). ``on_wait`` is
        called once if the caller has to wait."""
        ticket = next(self._tickets)
        self._queue.append(ticket)
        waited = False
        try:
            while self._queue[0] != ticket or blocked():
                if should_stop():
                    return False
                if not waited:
                    waited = True
                    on_wait()
                self._changed.wait(POLL_SECONDS)
            return True
        finally:
            self._queue.remove(ticket)
            self._changed.notify_all()


class CorePool:
    """``capacity`` cores handed out to fits; ``peak_in_use`` is the most ever held."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: {capacity!r} is invalid; allowed: an integer >= 1")
        self.capacity = capacity
        self.peak_in_use = 0
        self._in_use = 0
        self._changed = threading.Condition()
        self._waiting_to_sample = Turns(self._changed)

    def _take(self, n: int) -> None:
        self._in_use += n
        self.peak_in_use = max(self.peak_in_use, self._in_use)

    def start(self, should_stop: Callable[[], bool]) -> bool:
        """Take one core for a starting fit, waiting while the pool is full or a fit waits
        to sample; False if ``should_stop`` turned true first."""
        with self._changed:
            while self._in_use >= self.capacity or self._waiting_to_sample:
                if should_stop():
                    return False
                self._changed.wait(POLL_SECONDS)
            self._take(1)
            return True

    def trade_up(self, held: int, wanted: int, should_stop: Callable[[], bool]) -> bool:
        """Give back ``held`` cores and wait for ``min(wanted, capacity)``; True once they
        are taken, False (holding none) if ``should_stop`` turned true first."""
        wanted = min(wanted, self.capacity)
        with self._changed:
            self._in_use -= held
            if not self._waiting_to_sample.wait(
                    lambda: self._in_use + wanted > self.capacity, should_stop):
                return False
            self._take(wanted)
            return True

    def release(self, n: int) -> None:
        """Give back ``n`` cores."""
        with self._changed:
            self._in_use -= n
            self._changed.notify_all()


class CoreLease:
    """One fit's share of a ``CorePool``: one core from ``open``, its ``cores`` from
    ``grant_sampling``, everything back at ``close``. ``should_stop`` ends a wait early
    (the run was interrupted, the fit timed out)."""

    def __init__(self, pool: CorePool, cores: int) -> None:
        self.pool, self.cores = pool, cores
        self.held = 0

    def open(self, should_stop: Callable[[], bool]) -> bool:
        """Take the starting core (False: stopped while waiting)."""
        self.held = 1 if self.pool.start(should_stop) else 0
        return bool(self.held)

    def grant_sampling(self, should_stop: Callable[[], bool]) -> bool:
        """Trade the starting core for the fit's cores (False: stopped while waiting)."""
        wanted = min(self.cores, self.pool.capacity)
        granted = self.pool.trade_up(self.held, wanted, should_stop)
        self.held = wanted if granted else 0
        return granted

    def close(self) -> None:
        """Give back whatever this fit holds."""
        self.pool.release(self.held)
        self.held = 0
