"""The simulated clock runs scheduled actions in order and stops early when woken."""

from __future__ import annotations

import threading

import pytest

from device.service.clock import MonotonicClock, SimulatedClock


def test_waiting_runs_due_actions_in_time_order():
    clock, seen = SimulatedClock(), []
    clock.at(2.0, lambda: seen.append(("b", clock.now())))
    clock.at(1.0, lambda: seen.append(("a", clock.now())))
    clock.wait_until(5.0, threading.Event())
    assert seen == [("a", 1.0), ("b", 2.0)] and clock.now() == 5.0


def test_a_wake_ends_the_wait_at_the_action_time():
    clock, wake = SimulatedClock(), threading.Event()
    clock.at(3.0, wake.set)
    clock.wait_until(10.0, wake)
    assert clock.now() == 3.0


def test_waiting_forever_with_nothing_to_happen_is_a_test_bug():
    with pytest.raises(RuntimeError, match="nothing scheduled"):
        SimulatedClock().wait_until(float("inf"), threading.Event())


def test_the_real_clock_returns_at_once_when_already_woken():
    clock, wake = MonotonicClock(), threading.Event()
    wake.set()
    before = clock.now()
    clock.wait_until(before + 60, wake)
    assert clock.now() - before < 1
