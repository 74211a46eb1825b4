"""Breathing patterns: how long each phase of one breath lasts.

A pattern is pure data. `paced-exhale` is the one whose timing follows a rate
(breaths per minute), with the exhale twice the inhale; the others are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

# Normalised light levels within a breath: 0 is the floor, 1 the peak.
_TOP_UP_FROM = 0.8


@dataclass(frozen=True)
class Phase:
    """One phase of a breath: `name` is inhale, hold or exhale."""

    name: str
    seconds: float
    begin: float
    end: float


@dataclass(frozen=True)
class BreathPattern:
    """Seconds per phase, or for a paced pattern the in:out split of a rate-driven breath."""

    name: str
    inhale: float
    exhale: float
    hold_in: float = 0.0
    hold_out: float = 0.0
    top_up: float = 0.0
    paced: bool = False
    max_cycles: int | None = None

    @property
    def seconds(self) -> float:
        """One breath at the pattern's own timing."""
        return self.inhale + self.top_up + self.hold_in + self.exhale + self.hold_out

    @property
    def rate(self) -> float:
        """Breaths per minute at the pattern's own timing."""
        return 60.0 / self.seconds

    def breath(self, rate: float | None = None) -> tuple[Phase, ...]:
        """The phases of one breath; a paced pattern stretches to `rate` breaths/min."""
        inhale, exhale = self.inhale, self.exhale
        if self.paced and rate is not None:
            period = 60.0 / rate
            share = self.inhale / (self.inhale + self.exhale)
            inhale, exhale = period * share, period * (1.0 - share)
        phases = []
        if self.top_up:
            phases.append(Phase("inhale", inhale, 0.0, _TOP_UP_FROM))
            phases.append(Phase("inhale", self.top_up, _TOP_UP_FROM, 1.0))
        else:
            phases.append(Phase("inhale", inhale, 0.0, 1.0))
        if self.hold_in:
            phases.append(Phase("hold", self.hold_in, 1.0, 1.0))
        phases.append(Phase("exhale", exhale, 1.0, 0.0))
        if self.hold_out:
            phases.append(Phase("hold", self.hold_out, 0.0, 0.0))
        return tuple(phases)


def paced_seconds(rate: float) -> tuple[float, float]:
    """Inhale and exhale seconds of a paced-exhale breath at `rate` breaths/min."""
    period = 60.0 / rate
    return period / 3.0, period * 2.0 / 3.0


BUILT_IN: dict[str, BreathPattern] = {
    # 1:2 in:out; the seconds here are its timing at 6 breaths/min.
    "paced-exhale": BreathPattern("paced-exhale", inhale=10 / 3, exhale=20 / 3, paced=True),
    # A full inhale, a short top-up, then an exhale about twice both together.
    "cyclic-sigh": BreathPattern("cyclic-sigh", inhale=2.2, top_up=0.8, exhale=6.0),
    "4-7-8": BreathPattern("4-7-8", inhale=4.0, hold_in=7.0, exhale=8.0, max_cycles=4),
    # Equal in and out at about 5.5 breaths/min.
    "resonance": BreathPattern("resonance", inhale=5.45, exhale=5.45),
    "box": BreathPattern("box", inhale=4.0, hold_in=4.0, exhale=4.0, hold_out=4.0),
}
