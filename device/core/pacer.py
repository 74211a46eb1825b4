"""The pacer: how fast each breath of the breathing part goes, breath by breath, as a pure
function of the breaths laid before it and of what had been sensed of the person by then.

A plan is always the whole session, laid out from what is known so far. Without a sensor
nothing is ever sensed, and the plan is laid out once, as it always was. With one, the
runner asks its plan source again as the session goes (device/service/runner.py), and the
plan is laid out again from everything sensed so far. Each breath is decided only from what
was known `DECIDE_AHEAD_S` before it begins, so laying the plan out again can change only
breaths whose light and sound have not been handed over yet: what has begun stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from device.core.config import Config

RAMP_SECONDS = 120.0  # the fixed pacer slows from start_rate to target_rate over this
# A breath is decided from what was known this long before it begins: at least the sound's
# lead (the runner hands a phase's tide and words over that far ahead), so nothing that is
# sensed later can change what has already been handed over.
DECIDE_AHEAD_S = 0.5


@dataclass(frozen=True)
class SensedBreath:
    """One of the person's breaths as it was sensed, in plan time (seconds)."""

    inhale_at: float  # when their inhale began
    known_at: float  # when the session learnt of it (never before inhale_at)

    def shifted(self, seconds: float) -> SensedBreath:
        return replace(self, inhale_at=self.inhale_at + seconds,
                       known_at=self.known_at + seconds)


@dataclass(frozen=True)
class LaidBreath:
    """A breath the pacer has laid: where it begins in the part, and its rate."""

    at: float
    rate: float


# (config, where the next breath begins in the part, the breaths laid before it, the breaths
# known by then) -> its rate, in breaths per minute. Asked once for each breath of a paced
# pattern.
Pacer = Callable[["Config", float, tuple[LaidBreath, ...], tuple[SensedBreath, ...]], float]


def fixed_pace(config: Config, at: float, laid: tuple[LaidBreath, ...],
               known: tuple[SensedBreath, ...]) -> float:
    """Today's pacer, blind to the person: from start_rate to target_rate over RAMP_SECONDS."""
    start, target = config.breathing.start_rate, config.breathing.target_rate
    return start + (target - start) * min(at / RAMP_SECONDS, 1.0)


@dataclass(frozen=True)
class Sensing:
    """What the breathing part is paced by: the breaths sensed so far (in the time of the plan
    or part they are given to) and the pacer that reads them."""

    breaths: tuple[SensedBreath, ...] = ()
    pacer: Pacer = fixed_pace

    def shifted(self, seconds: float) -> Sensing:
        """The same, with every time moved by `seconds` (into a part's own time)."""
        if not self.breaths:
            return self
        return replace(self, breaths=tuple(b.shifted(seconds) for b in self.breaths))

    def known_by(self, at: float) -> tuple[SensedBreath, ...]:
        """What may decide a breath beginning at `at`: what was known DECIDE_AHEAD_S before."""
        return tuple(b for b in self.breaths if b.known_at <= at - DECIDE_AHEAD_S)


UNSENSED = Sensing()  # no sensor, or nothing sensed yet: today's fixed plan
