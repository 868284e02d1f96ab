"""The core pool that lets one fit build while another samples (run.cores), with threads
standing in for fits: capacity is never exceeded, waits end, stops end waits."""

from __future__ import annotations

import random
import threading
import time

import pytest

from mmm_param_recovery.benchmarking.run.cores import CoreLease, CorePool

NEVER = lambda: False  # noqa: E731 - a should_stop that never stops
JOIN_SECONDS = 20.0


def _started(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _fit(pool: CorePool, cores: int, in_use_seen: list[int], lock: threading.Lock,
         rng: random.Random) -> None:
    """One fit's life: build on one core, sample on ``cores``, give everything back;
    records the cores held by all fits together at each step it takes."""
    lease = CoreLease(pool, cores)
    assert lease.open(NEVER)
    time.sleep(rng.uniform(0.0, 0.05))
    assert lease.grant_sampling(NEVER)
    with lock:
        in_use_seen.append(pool._in_use)
    time.sleep(rng.uniform(0.0, 0.05))
    lease.close()


@pytest.mark.parametrize(("capacity", "cores"), [(1, 1), (2, 2), (2, 1), (4, 2), (3, 4)])
def test_many_fits_finish_and_never_hold_more_than_the_capacity(capacity, cores):
    pool, seen, lock, rng = CorePool(capacity), [], threading.Lock(), random.Random(capacity)
    threads = [_started(_fit, pool, cores, seen, lock, rng) for _ in range(12)]
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads)  # no deadlock
    assert len(seen) == 12
    assert pool.peak_in_use <= capacity and max(seen) <= capacity
    assert pool._in_use == 0  # every core came back


def test_two_fits_build_together_then_sample_one_after_the_other():
    pool = CorePool(2)
    first, second = CoreLease(pool, 2), CoreLease(pool, 2)
    assert first.open(NEVER) and second.open(NEVER)
    assert pool._in_use == 2  # both build, one core each
    granted = threading.Event()
    waiter = _started(lambda: first.grant_sampling(NEVER) and granted.set())
    time.sleep(0.5)
    assert not granted.is_set()  # the second still builds on its core
    second_granted = threading.Event()
    _started(lambda: second.grant_sampling(NEVER) and second_granted.set())
    waiter.join(JOIN_SECONDS)
    assert granted.is_set() and first.held == 2  # the second gave its core back to wait
    time.sleep(0.3)
    assert not second_granted.is_set()
    first.close()
    assert second_granted.wait(JOIN_SECONDS) and second.held == 2
    second.close()
    assert pool.peak_in_use == 2 and pool._in_use == 0


def test_no_new_fit_starts_while_a_fit_waits_to_sample():
    pool = CorePool(2)
    sampling, waiting, late = CoreLease(pool, 1), CoreLease(pool, 2), CoreLease(pool, 1)
    assert sampling.open(NEVER) and sampling.grant_sampling(NEVER)
    assert waiting.open(NEVER)
    _started(waiting.grant_sampling, NEVER)
    time.sleep(0.3)  # the waiting fit has given its core back: one core is free
    started = threading.Event()
    _started(lambda: late.open(NEVER) and started.set())
    time.sleep(0.5)
    assert not started.is_set()  # it would starve the waiting fit
    sampling.close()
    time.sleep(0.3)
    assert waiting.held == 2 and not started.is_set()
    waiting.close()
    assert started.wait(JOIN_SECONDS)
    late.close()
    assert pool._in_use == 0


def test_a_stop_ends_both_waits_holding_nothing():
    pool = CorePool(1)
    holder = CoreLease(pool, 1)
    assert holder.open(NEVER)
    stop = threading.Event()
    blocked = CoreLease(pool, 1)
    results = []
    thread = _started(lambda: results.append(blocked.open(stop.is_set)))
    time.sleep(0.3)
    stop.set()
    thread.join(JOIN_SECONDS)
    assert results == [False] and blocked.held == 0

    other = CorePool(2)
    busy, wanting = CoreLease(other, 1), CoreLease(other, 2)
    assert busy.open(NEVER) and busy.grant_sampling(NEVER) and wanting.open(NEVER)
    assert not wanting.grant_sampling(lambda: True)
    assert wanting.held == 0 and other._in_use == 1  # its building core went back
    wanting.close()
    busy.close()
    assert other._in_use == 0


def test_a_fit_wanting_more_cores_than_the_pool_gets_the_whole_pool():
    pool = CorePool(2)
    lease = CoreLease(pool, 8)
    assert lease.open(NEVER) and lease.grant_sampling(NEVER)
    assert lease.held == 2 and pool.peak_in_use == 2
    lease.close()


def test_a_pool_without_cores_is_refused():
    with pytest.raises(ValueError, match="capacity"):
        CorePool(0)
