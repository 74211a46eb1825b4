"""Listening to the breath: the sensor's samples turned into the person's inhales, heard into
a growing plan in plan time (device/service/growing_plan.py), and what the session knew of
them at its end (device/core/sensed_session.py).

It is the runner's plan source when a sensor listens: each time the runner asks (every
second, and before each phase of the breath) it reads the last 30 s of samples
(device/sensing/breaths.py), hears the inhales it had not heard yet, and lets the plan grow.
Reading on the runner's own thread, when it asks, makes a session a function of the samples
and the clock alone: a simulated person on a simulated clock (`ebbtide render --breather`)
gives the same session every time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np

from device.core.config import Config
from device.core.pacer import (
    ARRIVE_SENSING_S,
    LaidBreath,
    SensedBreath,
    Sensing,
    adaptive_pace,
    followed_longer_by,
    session_sensing,
)
from device.core.plan import SessionPlan, plan_session
from device.core.script import Script
from device.core.sensed_session import SessionSensing
from device.sensing.breaths import MIN_SECONDS, WINDOW_S, read_breaths
from device.sensing.signal import FS, band, detrended, on_grid, principal
from device.service.clock import Clock
from device.service.growing_plan import GrowingPlan

log = logging.getLogger("ebbtide")

# The samples read each time: one window of the breath reader (a little under, so it reads
# them all as one).
LISTEN_S = WINDOW_S - 0.5
EDGE_S = 0.5  # a breath whose top is this close to the newest sample may still move
SAME_BREATH_S = 1.5  # an inhale this close after one heard is that one, read again
# A breath is heard once two readings in a row find it within this of each other: a reading
# of the first seconds, or of a breath just begun, may still move it.
CONFIRM_S = 0.4
TRACE_HZ = 4.0  # points a second of the sensed breathing kept for the pictures
TRACE_BLOCK_S = 60.0  # the trace is combined and scaled a minute at a time


class Samples(Protocol):
    """The breath sensor's samples as hardware/motion_reader.py's MotionReader keeps them
    (or a simulated sensor, device/service/breather.py)."""

    def latest(self, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]: ...


def breathing_plan(config: Config, script: Script, spoken: Mapping[str, float]) -> Callable[
        [tuple[SensedBreath, ...]], SessionPlan]:
    """The session laid out from the breaths sensed so far, with the adaptive pacer
    (device/core/pacer.py); nothing sensed: today's fixed plan. The breathing part may go on
    while the person follows, as long as the rest of the session (the arrive at its longest)
    still ends within the hour."""
    fixed = plan_session(config, script, spoken)
    breathing = sum(p.seconds for p in fixed.parts if p.name == "breathe")
    longer_by = followed_longer_by(config, fixed.seconds - breathing + ARRIVE_SENSING_S)

    def lay_out(known: tuple[SensedBreath, ...]) -> SessionPlan:
        return plan_session(config, script, spoken,
                            Sensing(known, adaptive_pace, config.pattern().paced, longer_by))

    return lay_out


class BreathListener:
    """The runner's plan source when a sensor listens (device/service/runner.py PlanSource)."""

    def __init__(self, samples: Samples, clock: Clock,
                 lay_out: Callable[[tuple[SensedBreath, ...]], SessionPlan]) -> None:
        """`samples` are timed on `clock`'s scale (time.monotonic() on the device)."""
        self.samples = samples
        self.clock = clock
        self.growing = GrowingPlan(lay_out)
        self.plan: SessionPlan | None = None  # the plan as it last stood
        self._last_heard = -math.inf  # the newest inhale heard, on the sensor's clock
        self._read_before: list[float] = []  # the inhales the last reading found
        self._deaf = False
        self._to_plan = 0.0  # plan time less clock time, as last asked
        self._kept_t: list[np.ndarray] = []  # every sample read, for the trace
        self._kept_a: list[np.ndarray] = []

    def first_plan(self) -> SessionPlan:
        """The plan the session begins with (GrowingPlan.first)."""
        self.plan = self.growing.first()
        return self.plan

    def revise(self, plan: SessionPlan, now: float) -> SessionPlan:
        """Hear what the sensor has of new inhales, and the plan as it now grows."""
        self._to_plan = now - self.clock.now()  # a skip moves plan time on: it is in `now`
        self._listen()
        self.plan = self.growing.revise(plan, now)
        return self.plan

    def _listen(self) -> None:
        if self._deaf:
            return
        t, a = self.samples.latest(LISTEN_S)
        if len(t) and (not self._kept_t or t[-1] > self._kept_t[-1][-1]):
            newer = t > self._kept_t[-1][-1] if self._kept_t else np.ones(len(t), bool)
            self._kept_t.append(t[newer])
            self._kept_a.append(a[newer])
        if len(t) < 2 or t[-1] - t[0] < MIN_SECONDS:
            return
        try:
            reading = read_breaths(t, a)
        except ValueError as error:  # samples out of order: a sensor that misbehaves
            log.error("the breath sensor's samples cannot be read (%s); this session is "
                      "paced without them", error)
            self._deaf = True
            return
        found = [b.inhale_s for b in reading.breaths if b.exhale_s <= t[-1] - EDGE_S]
        for inhale in found:
            confirmed = any(abs(inhale - before) <= CONFIRM_S for before in self._read_before)
            if confirmed and inhale >= self._last_heard + SAME_BREATH_S:
                self._last_heard = inhale
                self.growing.heard(inhale + self._to_plan)
                log.debug("an inhale heard at %.2f s (plan time), read at %.2f s",
                          inhale + self._to_plan, t[-1] + self._to_plan)
        self._read_before = found

    def sensing(self, plan: SessionPlan) -> SessionSensing | None:
        """What the session knew of the person, from `plan` as it was played; None if it has
        no breathing part."""
        played = self.plan or plan
        breathing = next((p for p in played.parts if p.name == "breathe"), None)
        if breathing is None:
            return None
        figures = session_sensing(laid_breaths(played), self.growing.known, breathing.start,
                                  breathing.stop)
        return SessionSensing(figures.start_bpm, figures.end_bpm, figures.in_step_share,
                              figures.breaths, self._trace())

    def _trace(self) -> tuple[tuple[float, float], ...]:
        """The sensed breathing, TRACE_HZ points a second in plan time, each minute combined
        along its own direction and scaled to -1..1 (its sign is the reader's guess)."""
        if not self._kept_t:
            return ()
        t, a = np.concatenate(self._kept_t), np.concatenate(self._kept_a)
        if len(t) < 2 or np.any(np.diff(t) < 0):
            return ()
        grid = on_grid(t, a)
        block = int(TRACE_BLOCK_S * FS)
        every = max(1, round(FS / TRACE_HZ))
        points: list[tuple[float, float]] = []
        for start in range(0, len(grid.t), block):
            a_block = grid.a[start:start + block]
            if len(a_block) < 20:
                break
            flat = detrended(a_block)
            signal = band(flat @ principal(band(flat, 4 / 60, 30 / 60)), 4 / 60, 30 / 60)
            peak = float(np.max(np.abs(signal))) or 1.0
            for k in range(0, len(signal), every):
                points.append((round(float(grid.t[start + k]) + self._to_plan, 2),
                               round(float(signal[k]) / peak, 3)))
        return tuple(points)


def laid_breaths(plan: SessionPlan) -> list[LaidBreath]:
    """The breathing part's breaths as played: where each inhale began, and its rate."""
    breathing = next(p for p in plan.parts if p.name == "breathe")
    phases = [s for s in breathing.segments if s.phase]
    starts = [s.start for n, s in enumerate(phases)
              if s.phase == "inhale" and (n == 0 or phases[n - 1].phase != "inhale")]
    ends = [*starts[1:], breathing.stop]
    return [LaidBreath(a, 60.0 / (b - a)) for a, b in zip(starts, ends, strict=True) if b > a]
