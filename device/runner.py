"""The runner: plays a plan on a clock. The only place in the core where time passes.

It wakes at absolute deadlines: every light tick (t0 + k/tick_hz), every phase
boundary and cue, and the moment a held button becomes a hold. Nothing is
sleep-after-sleep, so there is no drift. Whatever happens, the light ends at 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from device.clock import Clock
from device.controller import Command, Controller
from device.events import Listener, ignore
from device.plan import SessionPlan, ease

log = logging.getLogger("ebbtide")

SKIP_BLEND = 1.0  # seconds to glide from the old light to the new part's


class LightOutput(Protocol):
    def show(self, lightness: float) -> float:
        """Show a perceptual lightness (0-1); return the duty sent."""

    def off(self) -> None: ...


class VoiceOutput(Protocol):
    def say(self, text: str) -> float:
        """Start speaking now; return the clip's length in seconds."""

    def hush(self) -> None:
        """Stop speaking at once."""


class Outcome(Enum):
    FINISHED = "finished"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class _Mark:
    """Something that happens at one plan time: a part, a phase or a cue begins."""

    at: float
    kind: str
    detail: str
    seconds: float


def _marks(plan: SessionPlan) -> list[_Mark]:
    marks = [_Mark(p.start, "part", p.name, p.seconds) for p in plan.parts]
    marks += [_Mark(s.start, "phase", s.phase, s.seconds) for s in plan.segments if s.phase]
    marks += [_Mark(c.at, "cue", c.text, c.seconds) for c in plan.cues]
    order = {"part": 0, "phase": 1, "cue": 2}
    return sorted(marks, key=lambda m: (m.at, order[m.kind]))


class Runner:
    """Plays one plan against a light and a voice, obeying the controller."""

    def __init__(self, clock: Clock, light: LightOutput, voice: VoiceOutput,
                 control: Controller, listener: Listener = ignore, *,
                 tick_hz: float = 50.0, stop_fade: float = 2.0) -> None:
        self.clock = clock
        self.light = light
        self.voice = voice
        self.control = control
        self.listener = listener
        self.tick_hz = tick_hz
        self.stop_fade = stop_fade
        self._duty: float | None = None
        self._lightness = 0.0
        self._voice_ok = True

    def glow(self, plan: SessionPlan) -> None:
        """Show the plan's first light now, before anything slower (opening the sound)."""
        self._show(plan.lightness_at(0.0))

    def run(self, plan: SessionPlan) -> Outcome:
        """Play `plan` from now until it ends, is stopped or is interrupted."""
        self._voice_ok = True
        try:
            return self._play(plan)
        finally:
            self._hush()
            self._dark()

    def _play(self, plan: SessionPlan) -> Outcome:
        """Plan time p happens at clock time t0 + p - shift (a skip moves `shift` on).

        Every deadline is computed by the same expression as the test that acts on it, so
        a clock that wakes exactly at a deadline always finds it due: no float slack, and
        no chance of waiting again for a moment that has already come.
        """
        clock, control = self.clock, self.control
        marks = _marks(plan)
        t0 = clock.now()
        shift = 0.0
        blend: tuple[float, float] | None = None  # (clock time, lightness) a skip glides from
        i = 0  # the next mark
        k = 0  # the next light tick, at t0 + k / tick_hz
        while True:
            now = clock.now()
            command = control.take(now)
            if command is Command.QUIT:
                return Outcome.INTERRUPTED
            if command is Command.SKIP:
                following = [p for p in plan.parts if t0 + p.start - shift > now]
                if not following:
                    command = Command.STOP
                else:
                    self._hush()
                    shift = following[0].start - (now - t0)
                    i = next(n for n, m in enumerate(marks) if m.at >= following[0].start)
                    blend = (now, self._lightness)
            if command is Command.STOP:
                self._hush()
                return self._fade_out()
            end = t0 + plan.seconds - shift
            if now >= end:
                return Outcome.FINISHED
            while i < len(marks) and now >= t0 + marks[i].at - shift:
                self._happen(marks[i])
                i += 1
            level = plan.lightness_at(now - t0 + shift)
            if blend is not None:
                x = (now - blend[0]) / SKIP_BLEND
                level = ease(blend[1], level, x) if x < 1 else level
                blend = None if x >= 1 else blend
            self._show(level)
            while t0 + k / self.tick_hz <= now:
                k += 1
            deadline = min(t0 + k / self.tick_hz, end)
            if i < len(marks):
                deadline = min(deadline, t0 + marks[i].at - shift)
            decision = control.next_deadline()
            if decision is not None:
                deadline = min(deadline, decision)
            clock.wait_until(deadline, control.wake)

    def _fade_out(self) -> Outcome:
        """Glide from the current light to off over stop_fade seconds."""
        start, begin = self.clock.now(), self._lightness
        end = start + self.stop_fade
        self.listener("part", name="stopping", seconds=self.stop_fade)
        k = 1
        while True:
            now = self.clock.now()
            if self.control.take(now) is Command.QUIT:
                return Outcome.INTERRUPTED
            if now >= end:
                return Outcome.STOPPED
            self._show(ease(begin, 0.0, (now - start) / self.stop_fade))
            while start + k / self.tick_hz <= now:
                k += 1
            self.clock.wait_until(min(start + k / self.tick_hz, end), self.control.wake)

    def _happen(self, mark: _Mark) -> None:
        if mark.kind == "cue":
            seconds = self._say(mark.detail)
            if seconds is not None:
                self.listener("clip", text=mark.detail, seconds=round(seconds, 3))
        else:
            self.listener(mark.kind, name=mark.detail, seconds=round(mark.seconds, 3))

    def _show(self, lightness: float) -> None:
        self._lightness = lightness
        duty = self.light.show(lightness)
        if duty != self._duty:
            self._duty = duty
            self.listener("light", value=duty, lightness=round(lightness, 5))

    def _dark(self) -> None:
        """Off, whatever else failed."""
        self._lightness = 0.0
        self.light.off()
        if self._duty != 0.0:
            self._duty = 0.0
            self.listener("light", value=0.0, lightness=0.0)

    def _say(self, text: str) -> float | None:
        """Speak; the clip's length, or None once the voice has failed (light only)."""
        if not self._voice_ok:
            return None
        try:
            return self.voice.say(text)
        except Exception as error:  # the light goes on without the voice
            self._voice_ok = False
            log.error("the voice failed (%s); the session goes on with the light only", error)
            return None

    def _hush(self) -> None:
        if self._voice_ok:
            try:
                self.voice.hush()
            except Exception as error:
                self._voice_ok = False
                log.error("the voice failed (%s); the session goes on with the light only",
                          error)
