"""The pieces a session plan is made of (light segments, spoken cues, parts) and the builder
every part's planner lays its part out with, in its own time from 0.

Levels and timings shared by more than one part live here; a part's own pauses live with its
planner (device/core/part_plans.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from device.core.errors import EbbtideError
from device.core.patterns import BUILT_IN, BreathPattern

# Perceptual lightness levels (0-1 of the configured maximum).
FIRST_GLOW = 0.12  # what the light shows the instant the button is pressed
GLOW = 0.35  # the soft glow while the voice arrives
FLOOR = 0.10  # the bottom of every breath: dim, never dark, until the close
PEAK = 1.0  # the top of a guided breath
DIM_PEAK = 0.35  # the top of the slow rhythm under grounding, body and aftercare

LINE_GAP = 0.8  # silence between consecutive lines
CUE_GRACE = 0.25  # a breathing cue may run this far past the end of its phase
CUE_GAP = 0.1  # the least silence between two breathing cues


class PlanTooLong(EbbtideError):
    """The plan would pass `PLAN_LIMIT_SECONDS` (or a time in it is not a number)."""


def ease(begin: float, end: float, x: float) -> float:
    """A raised-cosine move from begin to end: starts and lands softly, like a breath."""
    x = min(max(x, 0.0), 1.0)
    return begin + (end - begin) * (1.0 - math.cos(math.pi * x)) / 2.0


@dataclass(frozen=True)
class Segment:
    """A stretch of light easing from `begin` to `end`; `phase` names the breath phase."""

    start: float
    seconds: float
    begin: float
    end: float
    phase: str | None = None

    @property
    def stop(self) -> float:
        return self.start + self.seconds

    def lightness_at(self, t: float) -> float:
        return ease(self.begin, self.end, (t - self.start) / self.seconds)


@dataclass(frozen=True)
class Cue:
    """A line spoken at `at` seconds into the session, lasting about `seconds`."""

    at: float
    text: str
    seconds: float


@dataclass(frozen=True)
class Part:
    name: str
    start: float
    seconds: float
    segments: tuple[Segment, ...]
    cues: tuple[Cue, ...]

    @property
    def stop(self) -> float:
        return self.start + self.seconds


class PartBuilder:
    """Lays out one part in its own time, from 0."""

    def __init__(self, name: str, spoken: Callable[[str], float], room: float) -> None:
        """`room`: the seconds this part may take at most (what is left of the plan's)."""
        self.name = name
        self.spoken = spoken
        self.room = room
        self.segments: list[Segment] = []
        self.cues: list[Cue] = []
        self.light_end = 0.0  # where the light envelope has reached, in seconds

    @property
    def speech_end(self) -> float:
        return max((c.at + c.seconds for c in self.cues), default=0.0)

    def within(self, until: float) -> None:
        """Refuse to go on (before anything more is built) once the part would last past its
        room; a time that is not a finite number is refused too."""
        if not (math.isfinite(until) and until <= self.room):
            raise PlanTooLong(self.name)

    def say(self, at: float, text: str) -> float:
        """Place a line at `at`; return when it ends."""
        seconds = self.spoken(text)
        if not seconds >= 0:
            raise PlanTooLong(self.name)
        self.within(at + seconds)
        self.cues.append(Cue(at, text, seconds))
        return at + seconds

    def say_fitting(self, at: float, choices: tuple[str, ...], first: int,
                    before: float) -> int | None:
        """Place the first of `choices` (from index `first` on, round) that neither overlaps
        the previous line nor runs past `before`; return its index, or None (and place
        nothing) if none fits."""
        if self.cues and at < self.speech_end + CUE_GAP:
            return None
        for k in range(len(choices)):
            index = (first + k) % len(choices)
            if at + self.spoken(choices[index]) <= before:
                self.say(at, choices[index])
                return index
        return None

    def light(self, seconds: float, begin: float, end: float, phase: str | None = None) -> None:
        self.within(self.light_end + seconds)
        self.segments.append(Segment(self.light_end, seconds, begin, end, phase))
        self.light_end += seconds

    def breathe(self, pattern: BreathPattern, rate: float | None, low: float,
                high: float) -> list[tuple[str, float, float]]:
        """Add one breath of light; return its phases as (name, start, end), a cyclic
        sigh's top-up counted as part of its inhale."""
        phases: list[tuple[str, float, float]] = []
        for phase in pattern.breath(rate):
            start = self.light_end
            self.light(phase.seconds, low + (high - low) * phase.begin,
                       low + (high - low) * phase.end, phase.name)
            if phases and phases[-1][0] == phase.name:
                start = phases.pop()[1]
            phases.append((phase.name, start, self.light_end))
        return phases

    def dim_rhythm_until(self, until: float, rate: float) -> None:
        """The slow, dim breathing under spoken parts, in whole breaths, to at least `until`."""
        rhythm = BUILT_IN["paced-exhale"]
        while self.light_end < until:
            self.breathe(rhythm, rate, FLOOR, DIM_PEAK)

    def build(self) -> Part:
        return Part(self.name, 0.0, self.light_end, tuple(self.segments), tuple(self.cues))
