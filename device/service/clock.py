"""Clocks: the only way the core learns the time or lets it pass.

The runner never sleeps; it asks its clock to wait until an absolute deadline,
or until woken by a button. Deadlines are absolute, so errors never accumulate.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Wake(Protocol):
    """What a wait can be cut short by: a threading.Event, or a WakePipe."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def wait_until(self, deadline: float, wake: Wake) -> None:
        """Return at `deadline`, or earlier if `wake` is set."""


class MonotonicClock:
    """Real time: time.monotonic(), waiting on the wake event with a timeout (no polling)."""

    def now(self) -> float:
        return time.monotonic()

    def wait_until(self, deadline: float, wake: Wake) -> None:
        if deadline == math.inf:
            wake.wait()
            return
        remaining = deadline - time.monotonic()
        while remaining > 0 and not wake.wait(remaining):
            remaining = deadline - time.monotonic()  # never return before the deadline


class SimulatedClock:
    """Time that passes only when something waits: a 10-minute session runs in milliseconds.

    `at(t, action)` schedules an action (a button edge, a fault) at simulated time
    `t`; waiting past `t` runs it, and if it sets the wake event the wait ends there.
    """

    STUCK = 10_000  # waits in a row that let no time pass: the caller is spinning

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._actions: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._idle_waits = 0

    def now(self) -> float:
        return self._now

    def at(self, t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._actions, (t, next(self._order), action))

    def wait_until(self, deadline: float, wake: Wake) -> None:
        before = self._now
        acted = False
        while self._actions and self._actions[0][0] <= deadline and not wake.is_set():
            t, _, action = heapq.heappop(self._actions)
            self._now = max(self._now, t)
            action()
            acted = True
        if not wake.is_set():
            if deadline == math.inf:
                raise RuntimeError("simulated clock: waiting forever with nothing scheduled")
            self._now = max(self._now, deadline)
        if acted or wake.is_set() or self._now > before:
            self._idle_waits = 0
            return
        self._idle_waits += 1
        if self._idle_waits > self.STUCK:
            raise RuntimeError(f"simulated clock: {self.STUCK} waits at {self._now} s let no "
                               "time pass; the caller is spinning")

    def run_pending(self, until: float) -> None:
        """Let time reach `until` outside a session, running the actions due by then."""
        self.wait_until(until, threading.Event())
