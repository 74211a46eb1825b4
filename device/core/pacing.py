"""The tide's score: one swell per breath phase, worked out from the plan.

Pure, like the plan itself. A swell says how loud the tide is at each moment (0 at its
floor, 1 at the top of a guided breath) and how far it has stepped out of the voice's way.

- Its level follows the light: it crests and rests with it. Half of it is the light's eased
  lightness and half the time the phase has travelled, so it never lingers flat at either
  end: a listener hears which way it goes from the first moment of each phase.
- Under every spoken line it steps back. Its colour leaves the voice's band (`duck`, from
  a moment before the line until a moment after it). In the breathing its level is pressed
  towards the floor, but only ever in the breath's own direction: it may sink faster
  through an exhale and rise faster through an inhale, never the other way, so ducking
  never makes an inhale sound like an exhale; it lets go at the floor of a breath. Under
  the words of the spoken parts, where the words are the point, the dim tide fades out and
  comes back between the lines.
- Its colour turns from the swell's towards the ebb's through each exhale, and back
  through each inhale; a hold keeps the colour it was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from device.core.part_builder import FLOOR, PEAK, Cue, Segment
from device.core.plan import SessionPlan

PACING_HZ = 50  # how finely a swell follows the plan
DUCK_BEFORE_S = 0.35  # the tide has left the voice's band this long before a line begins
DUCK_AFTER_S = 0.5  # and comes back over this after it ends
DUCK_RAMP_S = 0.3  # each way, eased
DUCK_KEEP = 0.5  # under a line in the breathing, this share of the swell above the floor
# Under a line of the spoken parts the dim tide fades out altogether (-1: silence), and comes
# back between the lines: there the words are the point, not the rhythm.
SPOKEN_DIP = 1.0
SINK_S = 0.1  # the quickest it moves the whole span, so it never jumps
PRESS_S = 0.25  # the quickest the level is pressed down (from none to all of DUCK_KEEP)


@dataclass(frozen=True)
class Swell:
    """One phase of the tide: from plan time `at`, lasting `seconds`."""

    at: float
    seconds: float
    phase: str  # inhale, hold or exhale
    levels: tuple[float, ...]  # 0 (the floor) to 1 (the top), PACING_HZ, both ends in;
    # below 0 fading to silence at -1 (under the voice of a spoken part)
    duck: tuple[float, ...]  # 0 to 1 (a line is spoken), sampled as levels
    colour: tuple[float, float]  # 0 the swell's, 1 the ebb's: where it starts, and its aim
    ends: bool  # no swell follows at once (the close's last fade, or a part with none)


class Score:
    """The tide of one plan: every phase of every breath, the dim rhythm under the spoken
    parts included. Each swell is worked out only when it is wanted (the runner asks just
    before it is heard), so a plan costs nothing more to start; the same swell comes out
    whatever was asked before it."""

    def __init__(self, plan: SessionPlan, voiced: bool = True) -> None:
        """`voiced` False: a silent session, where no line is spoken to step back for."""
        self.segments = [s for s in plan.segments if s.phase is not None]
        breathing = [p for p in plan.parts if p.name == "breathe"]
        self._guided = [any(p.start <= s.start < p.stop for p in breathing)
                        for s in self.segments]
        self._cues = sorted(plan.cues, key=lambda c: c.at) if voiced else []
        self._pressed: dict[int, list[float]] = {}  # how far each swell's level is pressed
        self._made: dict[int, tuple[float, ...]] = {}  # each swell's levels, once worked out

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, k: int) -> Swell:
        segment = self.segments[k]
        near = self._near(segment)
        duck = [_duck(near, t) for t in _times(segment)]
        colour = self._colour_before(k)
        return Swell(segment.start, segment.seconds, segment.phase or "hold", self._levels(k),
                     tuple(duck), (colour, _AIM.get(segment.phase or "", colour)),
                     not self._flows_on(k + 1))

    def _levels(self, k: int) -> tuple[float, ...]:
        """The levels of swell k: pressed within the breath's direction in the breathing;
        fading out for the words of a spoken part, without a jump where it meets the swell
        before it (the breathing's last, at a part's first line)."""
        if k in self._made:
            return self._made[k]
        segment = self.segments[k]
        times = _times(segment)
        if self._guided[k]:
            levels = [_level(segment, t) * (1 - (1 - DUCK_KEEP) * p)
                      for t, p in zip(times, self._press(k), strict=True)]
        else:
            near = self._near(segment)
            levels = [_level(segment, t) * (1 - d) - SPOKEN_DIP * d
                      for t in times for d in (_duck(near, t),)]
            if self._flows_on(k):
                now, step = self._levels(k - 1)[-1], 1 / (SINK_S * PACING_HZ)
                levels[0] = now
                for n in range(1, len(levels)):
                    now = levels[n] = min(max(levels[n], now - step), now + step)
        self._made[k] = tuple(levels)
        return self._made[k]

    def _flows_on(self, k: int) -> bool:
        """Whether swell k follows the one before it without a break."""
        return 0 < k < len(self.segments) and math.isclose(
            self.segments[k - 1].stop, self.segments[k].start, abs_tol=1e-6)

    def _near(self, segment: Segment) -> list[Cue]:
        return [c for c in self._cues if c.at - _DUCK_REACH <= segment.stop
                and c.at + c.seconds + _DUCK_REACH >= segment.start]

    def _press(self, k: int) -> list[float]:
        """How far the level of swell k is pressed down at each of its moments (0-1).

        It follows the duck, within the breath's direction: through an inhale it can only
        let go, through an exhale only press on (and no faster than PRESS_S); a phase that
        begins at the floor starts afresh, since a press there changes nothing heard.
        """
        if k in self._pressed:
            return self._pressed[k]
        segment = self.segments[k]
        near = self._near(segment)
        duck = [_duck(near, t) for t in _times(segment)]
        fresh = not self._flows_on(k) or _level(segment, segment.start) < 1e-9
        start = duck[0] if fresh else self._press(k - 1)[-1]
        step = 1 / (PRESS_S * PACING_HZ)
        pressed, now = [start], start
        for d in duck[1:]:
            if segment.phase == "inhale":
                now = min(now, d)
            elif segment.phase == "exhale":
                now = max(now, min(d, now + step))
            else:  # a hold keeps its level; the press eases towards the duck
                now = min(max(d, now - step), now + step)
            pressed.append(now)
        self._pressed[k] = pressed
        return pressed

    def _colour_before(self, k: int) -> float:
        """The colour the tide has when phase k begins: that of the last inhale or exhale
        before it, if the tide has been flowing since (a tide begins as after an ebb)."""
        while self._flows_on(k):
            previous = self.segments[k - 1]
            if previous.phase in _AIM:
                return _AIM[previous.phase]
            k -= 1
        return 1.0


_AIM = {"inhale": 0.0, "exhale": 1.0}
_DUCK_REACH = DUCK_BEFORE_S + DUCK_AFTER_S + DUCK_RAMP_S


def _times(segment: Segment) -> list[float]:
    n = max(1, math.ceil(segment.seconds * PACING_HZ))
    return [segment.start + segment.seconds * k / n for k in range(n + 1)]


def _level(segment: Segment, t: float) -> float:
    """The tide's level at t before any ducking: 0 at a breath's floor, 1 at its top, half
    the light's lightness and half the time it has travelled (the ease undone)."""
    light = min(max((segment.lightness_at(t) - FLOOR) / (PEAK - FLOOR), 0.0), 1.0)
    return (light + math.acos(1 - 2 * light) / math.pi) / 2


def _duck(cues: list[Cue], t: float) -> float:
    """How far the tide steps out of the voice's way at t: 1 while a line is spoken (and
    just around it)."""
    most = 0.0
    for cue in cues:
        begin, end = cue.at - DUCK_BEFORE_S, cue.at + cue.seconds + DUCK_AFTER_S
        if t < begin:
            x = 1 - (begin - t) / DUCK_RAMP_S
        elif t <= end:
            x = 1.0
        else:
            x = 1 - (t - end) / DUCK_RAMP_S
        if x > 0:
            most = max(most, (1 - math.cos(math.pi * min(x, 1.0))) / 2)
    return most
