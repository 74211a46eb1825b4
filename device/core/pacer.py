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

import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from device.core.sensed_session import PacedBreath, SessionSensing

if TYPE_CHECKING:
    from device.core.config import Config
    from device.core.patterns import BreathPattern

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
    or part they are given to) and the pacer that reads them. `measures_first`: a sensor is
    listening, so the arrive may wait (up to ARRIVE_SENSING_S) for the person's own rate
    and ends on their next inhale (device/core/part_plans.py plan_arrive), and the breathing
    may say once that they can breathe at their own pace (out_of_step_for_a_minute)."""

    breaths: tuple[SensedBreath, ...] = ()
    pacer: Pacer = fixed_pace
    measures_first: bool = False
    # The most the breathing part may go on past its minutes, while the person follows a
    # pacer that has not reached the target yet (keeps_slowing): 0 for the fixed pacer.
    longer_by: float = 0.0

    def shifted(self, seconds: float) -> Sensing:
        """The same, with every time moved by `seconds` (into a part's own time)."""
        if not self.breaths:
            return self
        return replace(self, breaths=tuple(b.shifted(seconds) for b in self.breaths))

    def known_by(self, at: float) -> tuple[SensedBreath, ...]:
        """What may decide a breath beginning at `at`: what was known DECIDE_AHEAD_S before."""
        return tuple(b for b in self.breaths if b.known_at <= at - DECIDE_AHEAD_S)


UNSENSED = Sensing()  # no sensor, or nothing sensed yet: today's fixed plan


# The adaptive pacer: it starts at the person's own rate, read from the breaths sensed before
# the breathing part, and slows toward the target only while they follow.
FASTEST_BPM = 20.0  # never paced faster, whatever the person's own rate
SLOWING_BPM_PER_MINUTE = 1.0  # the most the pacer slows, in breaths/min, each minute
# In step: their inhale began in a window a quarter of the pacer's period wide around the
# pacer's inhale, from a sixteenth of the period before it to three sixteenths after (someone
# following a light or a sound inhales a little after it begins to rise). Someone breathing
# at their own pace lands in it by chance a quarter of the time; a window of a quarter
# period either side (half a period wide) would hold half of all moments, and could not
# tell them from someone following.
IN_STEP_BEFORE, IN_STEP_AFTER = 1 / 16, 3 / 16
FOLLOW_SHARE = 0.7  # of the last JUDGED breaths in step: below this the pacer holds its rate
JUDGED = 6
JUDGED_LEAST = 3  # fewer breaths judged than this: too soon to say they follow (it holds)
# ...and their own rate, over their last breaths, is within this of the pacer's: someone
# breathing on at their own rate is in step by chance for a while (a quarter of all moments
# on the whole, more while the two rhythms line up), but their rate does not come along as
# the pacer slows.
FOLLOW_RATE_BPM = 1.0
FOLLOW_RATE_WINDOW_S = 60.0  # ...read over this long (four breaths at the slowest pace)
HEARD_WITHIN = 3  # ...and a breath of theirs heard within this many of its breaths
# A breath of the pacer is judged only this long after its in-step window has closed: the
# person's inhale is known only once the breath reader has seen its top (device/sensing).
SENSE_LAG_S = 3.0
OWN_RATE_BREATHS = 4  # inhales (three intervals) that a person's own rate is read from
OWN_RATE_WINDOW_S = 30.0  # ...within this long before the moment it is read at
OWN_RATE_BPM = (4.0, 30.0)  # a reading outside these is not a breathing rate
ARRIVE_SENSING_S = 30.0  # the arrive waits this long at most for the person's own rate
# ...and for their first breath, this long at least: the breath reader's first reading needs
# 15 s of samples (device/sensing/breaths.py MIN_SECONDS), a breath is heard once a second
# reading agrees, the runner asks about once a second, and a breath is decided from what was
# known DECIDE_AHEAD_S before (15 + 1 + 1 + 0.5). Nothing heard by then (or by the arrive's
# natural end, if later): no usable signal, and the breathing is paced as always.
FIRST_HEARD_S = 17.5
ARRIVE_STEP_S = 0.5  # ...deciding again every this many seconds
END_RATE_WINDOW_S = 60.0  # their rate at the end: over the breathing part's last minute
# Slowing by at most SLOWING_BPM_PER_MINUTE, from someone's own 16 a minute to a target of 6
# takes ten minutes: longer than the breathing part's default 4. While they follow a pacer
# that has not reached the target, the breathing part goes on past its minutes, up to this
# many in all (and never so far that the session would pass its hour).
FOLLOWED_MINUTES = 12.0
OUT_OF_STEP_S = 60.0  # out of step this long (judged breaths): they may breathe at their pace


def rate_bounds(pattern: BreathPattern) -> tuple[float, float]:
    """The slowest and fastest a paced pattern may go (breaths/min): its inhale and exhale
    stay within the config's safety bounds, and it is never faster than FASTEST_BPM."""
    from device.core.config import EXHALE_RANGE, INHALE_RANGE  # config imports the planners

    share = pattern.inhale / (pattern.inhale + pattern.exhale)
    shortest = max(INHALE_RANGE[0] / share, EXHALE_RANGE[0] / (1 - share))
    longest = min(INHALE_RANGE[1] / share, EXHALE_RANGE[1] / (1 - share))
    return 60.0 / longest, min(FASTEST_BPM, 60.0 / shortest)


def own_rate(inhales: Sequence[float], at: float,
             window: float = OWN_RATE_WINDOW_S) -> float | None:
    """The person's own rate (breaths/min) at `at`, from their inhales in the `window` seconds
    before it: the median of the last intervals; None with fewer than OWN_RATE_BREATHS, or a
    reading that is not a breathing rate."""
    recent = sorted(t for t in inhales if at - window <= t <= at)
    if len(recent) < OWN_RATE_BREATHS:
        return None
    tail = recent[-JUDGED - 1:]  # the last JUDGED intervals at most
    middle = statistics.median(b - a for a, b in itertools.pairwise(tail))
    if middle <= 0:
        return None
    rate = 60.0 / middle
    return rate if OWN_RATE_BPM[0] <= rate <= OWN_RATE_BPM[1] else None


def in_step(paced_at: float, rate: float, inhales: Sequence[float]) -> float | None:
    """The person's inhale that makes a paced breath in step (theirs began from IN_STEP_BEFORE
    of its period before the pacer's inhale to IN_STEP_AFTER after), the nearest; None if
    there is none."""
    period = 60.0 / rate
    near = [t for t in inhales
            if paced_at - IN_STEP_BEFORE * period <= t <= paced_at + IN_STEP_AFTER * period]
    return min(near, key=lambda t: abs(t - paced_at)) if near else None


def judged(laid: Sequence[LaidBreath], known: Sequence[SensedBreath],
           at: float) -> list[tuple[LaidBreath, bool]]:
    """The pacer's breaths that can be judged at `at`, each with whether it was in step: those
    whose in-step window closed SENSE_LAG_S before `at`, and before the newest breath was
    heard (the plan is laid out again as each is heard: a breath judged later is not yet in
    or out, however far ahead the plan is laid)."""
    if not known:
        return []
    by = min(at, max(b.known_at for b in known))
    inhales = [b.inhale_at for b in known]
    return [(b, in_step(b.at, b.rate, inhales) is not None) for b in laid
            if b.at + IN_STEP_AFTER * 60.0 / b.rate + SENSE_LAG_S <= by]


def _started_from(known: tuple[SensedBreath, ...]) -> float | None:
    """The person's own rate as the breathing part (time 0) began: from what was known by
    then, so every breath of the part is laid from the same start."""
    before = [b.inhale_at for b in known if b.known_at <= -DECIDE_AHEAD_S]
    return own_rate(before, 0.0)


def following(laid: tuple[LaidBreath, ...], known: tuple[SensedBreath, ...],
              at: float) -> bool:
    """Whether the person follows the pacer, as judged at `at`: at least FOLLOW_SHARE of the
    last JUDGED of its breaths that can be judged by then were in step (and JUDGED_LEAST
    were judged), their own rate is within FOLLOW_RATE_BPM of the pacer's, and a breath of
    theirs was heard within HEARD_WITHIN of the pacer's breaths before it (the plan is laid
    out again as each is heard, and laid ahead of it: a person follows the light as it is
    laid; but nothing heard for that long: it holds)."""
    marks = [mark for _, mark in judged(laid, known, at)][-JUDGED:]
    if len(marks) < JUDGED_LEAST or sum(marks) < FOLLOW_SHARE * len(marks):
        return False
    if at - max(b.known_at for b in known) > HEARD_WITHIN * 60.0 / laid[-1].rate:
        return False
    theirs = own_rate([b.inhale_at for b in known], at, FOLLOW_RATE_WINDOW_S)
    return theirs is not None and abs(theirs - laid[-1].rate) <= FOLLOW_RATE_BPM


def _target(config: Config) -> float:
    """The rate the adaptive pacer slows toward: the config's, within the pattern's bounds."""
    slowest, fastest = rate_bounds(config.pattern())
    return min(max(config.breathing.target_rate, slowest), fastest)


def adaptive_pace(config: Config, at: float, laid: tuple[LaidBreath, ...],
                  known: tuple[SensedBreath, ...]) -> float:
    """The pacer that meets the person: the first breath at their own rate (within the
    pattern's bounds and FASTEST_BPM, never slower than the target), then slower toward the
    target by at most SLOWING_BPM_PER_MINUTE a minute, only while they follow; otherwise it
    holds its rate. With no rate of theirs before the part: the fixed pacer, unchanged."""
    own = _started_from(known)
    if own is None:
        return fixed_pace(config, at, laid, known)
    target, fastest = _target(config), rate_bounds(config.pattern())[1]
    if not laid:
        return min(max(own, target), fastest)
    last = laid[-1]
    if last.rate <= target or not following(laid, known, at):
        return last.rate
    return max(target, last.rate - SLOWING_BPM_PER_MINUTE * (at - last.at) / 60.0)


def keeps_slowing(config: Config, at: float, laid: tuple[LaidBreath, ...],
                  known: tuple[SensedBreath, ...]) -> bool:
    """Whether the adaptive pacer is still on its way to the target at `at`: it began at the
    person's own rate, has not reached the target, and they follow it."""
    return (_started_from(known) is not None and bool(laid)
            and laid[-1].rate > _target(config) and following(laid, known, at))


def followed_longer_by(config: Config, other_parts_s: float) -> float:
    """How much longer than its minutes the breathing part may go on while the person follows
    (FOLLOWED_MINUTES in all at most), leaving the rest of the session (`other_parts_s`, the
    arrive's wait for the person's rate included) within the session's hour."""
    from device.core.config import SESSION_MINUTES  # config imports the planners

    minutes = config.breathing.minutes
    spare = SESSION_MINUTES[1] * 60.0 - other_parts_s - minutes * 60.0 - 60.0 / FASTEST_BPM
    return max(0.0, min((FOLLOWED_MINUTES - minutes) * 60.0, spare))


def out_of_step_for_a_minute(laid: Sequence[LaidBreath], known: tuple[SensedBreath, ...],
                             at: float) -> bool:
    """Whether, judged at `at`, the person has breathed out of step for OUT_OF_STEP_S: fewer
    than FOLLOW_SHARE of the pacer's breaths judged over that long were in step, while their
    breaths were sensed all along (a sensor that hears nothing says nothing of them). Only
    of an adaptive pacer that began at their own rate: without one, the plan is today's."""
    marks = judged(laid, known, at)
    if not marks or _started_from(known) is None:
        return False
    last = marks[-1][0]
    until = last.at + 60.0 / last.rate
    if marks[0][0].at > until - OUT_OF_STEP_S:
        return False
    recent = [mark for b, mark in marks if b.at >= until - OUT_OF_STEP_S]
    heard = [b for b in known if until - OUT_OF_STEP_S <= b.inhale_at <= until]
    return len(heard) >= JUDGED_LEAST and sum(recent) < FOLLOW_SHARE * len(recent)


def arrive_end(natural: float, sensing: Sensing) -> float:
    """Where the arrive ends, in its own time, when a sensor listens: never before its
    `natural` end; later, while the person's own rate is still unknown (up to
    ARRIVE_SENSING_S), and then on their next expected inhale, so the first paced inhale
    meets it. Nothing sensed by its natural end or FIRST_HEARD_S, whichever is later (no
    usable signal): it ends there, as without a sensor if its natural end is the later.
    Each moment is decided from what was known DECIDE_AHEAD_S before it."""
    if not sensing.measures_first:
        return natural
    decide = natural
    while True:
        inhales = [b.inhale_at for b in sensing.known_by(decide)]
        if not inhales and decide >= FIRST_HEARD_S:
            return decide
        rate = own_rate(inhales, decide)
        if rate is not None:
            period = 60.0 / rate
            after = max(inhales)
            while after < decide:
                after += period
            return after
        if decide >= ARRIVE_SENSING_S:
            return decide
        decide = min(decide + ARRIVE_STEP_S, ARRIVE_SENSING_S)


def session_sensing(paced: Sequence[LaidBreath], sensed: Sequence[SensedBreath],
                    start: float, stop: float) -> SessionSensing:
    """What a session knew of the person (device/core/sensed_session.py), in plan time: the
    breathing part from `start` to `stop`, each of its breaths (`paced`, as laid) with the
    person's inhale matched to it; their own rate before it and over its last minute. No
    breath sensed at all: no figures (None), never zeros."""
    inhales = sorted(b.inhale_at for b in sensed)
    if not inhales:
        return SessionSensing(None, None, None)
    known_before = [b.inhale_at for b in sensed if b.known_at <= start - DECIDE_AHEAD_S]
    breaths = []
    for breath in paced:
        theirs = in_step(breath.at, breath.rate, inhales)
        if theirs is None:  # out of step: still the nearest of theirs, if one is near
            reach = 60.0 / breath.rate / 2
            near = [t for t in inhales if abs(t - breath.at) <= reach]
            theirs_near = min(near, key=lambda t: abs(t - breath.at)) if near else None
            breaths.append(PacedBreath(breath.at, breath.rate, theirs_near, False))
        else:
            breaths.append(PacedBreath(breath.at, breath.rate, theirs, True))
    share = sum(b.in_step for b in breaths) / len(breaths) if breaths else None
    return SessionSensing(own_rate(known_before, start),
                          own_rate(inhales, stop, END_RATE_WINDOW_S), share, tuple(breaths))
