"""A plan that grows with the breaths sensed: the runner's plan source when something senses
the person (device/service/runner.py PlanSource).

Breaths are heard from any thread, in plan time. When the runner asks, those heard by then
become known at that moment, and the plan is laid out again from everything known: a pure
function of what has been sensed so far (device/core/pacer.py), so the same breaths heard at
the same moments always give the same session.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Callable

from device.core.pacer import SensedBreath
from device.core.plan import SessionPlan


class GrowingPlan:
    """Lays the plan out again, with `lay_out`, whenever breaths have been heard since it was
    last asked."""

    def __init__(self, lay_out: Callable[[tuple[SensedBreath, ...]], SessionPlan]) -> None:
        self._lay_out = lay_out
        self._heard: queue.SimpleQueue[float] = queue.SimpleQueue()
        self._waiting: list[float] = []  # heard, but for a moment still to come
        self.known: tuple[SensedBreath, ...] = ()

    def heard(self, inhale_at: float) -> None:
        """The person began an inhale at plan time `inhale_at` (from any thread); a time that
        is not a number is not a breath."""
        if math.isfinite(inhale_at):
            self._heard.put(inhale_at)

    def first(self) -> SessionPlan:
        """The plan a session begins with: laid out from what is known (nothing, as it
        begins), so it is the growing plan's from the start (with a sensor listening, its
        arrive waits for a first breath) and not one laid out without it."""
        return self._lay_out(self.known)

    def revise(self, plan: SessionPlan, now: float) -> SessionPlan:
        """The plan laid out again if breaths have been heard by `now`, else `plan` itself."""
        while not self._heard.empty():
            self._waiting.append(self._heard.get())
        new = sorted(t for t in self._waiting if t <= now)
        if not new:
            return plan
        self._waiting = [t for t in self._waiting if t > now]
        self.known += tuple(SensedBreath(t, now) for t in new)
        return self._lay_out(self.known)
