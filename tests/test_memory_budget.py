"""The memory budget that keeps ``--jobs`` and overlap within the RAM (run.memory), with
threads standing in for fits: a reservation past the limit waits until memory comes
back, a lone fit always starts, waits are first come first served, stops end waits."""

from __future__ import annotations

import threading
import time

import pytest

from mmm_param_recovery.benchmarking.run.memory import MemoryBudget

NEVER = lambda: False  # noqa: E731 - a should_stop that never stops
SETTLE_SECONDS = 0.5
"""Long enough for a waiting thread to have taken its reservation if it could."""


def _reserve_in_thread(budget: MemoryBudget, n_bytes: int, should_stop=NEVER):
    """Start ``budget.reserve(n_bytes)`` in a thread; (thread, reserved event, waited event,
    outcome list)."""
    reserved, waited, outcome = threading.Event(), threading.Event(), []

    def reserve():
        outcome.append(budget.reserve(n_bytes, should_stop, on_wait=waited.set))
        if outcome[-1]:
            reserved.set()

    thread = threading.Thread(target=reserve, daemon=True)
    thread.start()
    return thread, reserved, waited, outcome


def test_a_reservation_past_the_limit_waits_until_memory_comes_back():
    budget = MemoryBudget(100)
    assert budget.reserve(60, NEVER)
    _, reserved, waited, _ = _reserve_in_thread(budget, 60)
    time.sleep(SETTLE_SECONDS)
    assert waited.is_set() and not reserved.is_set()
    budget.release(60)
    assert reserved.wait(5.0)
    assert budget.peak_reserved == 60


def test_reservations_within_the_limit_do_not_wait():
    budget = MemoryBudget(100)
    assert budget.reserve(40, NEVER)
    thread, reserved, waited, _ = _reserve_in_thread(budget, 60)
    assert reserved.wait(5.0) and not waited.is_set()
    assert budget.peak_reserved == 100


def test_a_lone_fit_larger_than_the_budget_starts():
    budget = MemoryBudget(100)
    assert budget.reserve(250, NEVER)
    assert budget.peak_reserved == 250


def test_a_small_request_does_not_overtake_a_waiting_large_one():
    budget = MemoryBudget(100)
    assert budget.reserve(50, NEVER)
    _, large_reserved, _, _ = _reserve_in_thread(budget, 80)
    time.sleep(SETTLE_SECONDS)
    _, small_reserved, small_waited, _ = _reserve_in_thread(budget, 10)
    time.sleep(SETTLE_SECONDS)
    assert small_waited.is_set() and not small_reserved.is_set()  # 60 would fit, but it queues
    budget.release(50)
    assert large_reserved.wait(5.0) and small_reserved.wait(5.0)


def test_a_stop_ends_the_wait_reserving_nothing():
    budget, stop = MemoryBudget(100), threading.Event()
    assert budget.reserve(90, NEVER)
    thread, reserved, waited, outcome = _reserve_in_thread(budget, 20, stop.is_set)
    time.sleep(SETTLE_SECONDS)
    stop.set()
    thread.join(5.0)
    assert outcome == [False] and not reserved.is_set()
    budget.release(90)
    assert budget.reserve(100, NEVER)  # the stopped request left nothing reserved


def test_a_budget_without_memory_is_refused():
    with pytest.raises(ValueError, match="limit_bytes: 0 is invalid"):
        MemoryBudget(0)
