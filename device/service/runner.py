"""The runner: plays a plan on a clock. The only place in the core where time passes.

It wakes at absolute deadlines: every light tick (t0 + k/tick_hz), every phase
boundary and cue, and the moment a held button becomes a hold. Nothing is
sleep-after-sleep, so there is no drift. Whatever happens, the light ends at 0.

Sounds are handed to the sound output `lead` seconds before their moment, each with the
clock time it must be heard at, so the output can place it on the exact sample.

A plan may grow as the session goes (a pacer that follows the person's breathing): given a
`PlanSource`, the runner asks it for the plan as it now stands before it hands over each
phase of the breath, and plays on from there. It learns nothing of what the plan was grown
from; it only checks that what has begun stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal, Protocol

from device.core.events import (
    FadingOut,
    LightChanged,
    LineSpoken,
    Listener,
    PartBegan,
    PhaseBegan,
    TouchChanged,
    ignore,
)
from device.core.haptic import touch_at
from device.core.pacer import DECIDE_AHEAD_S
from device.core.pacing import Score, Swell
from device.core.part_builder import ease
from device.core.plan import SessionPlan
from device.service.clock import Clock
from device.service.controller import Command, Controller

log = logging.getLogger("ebbtide")

SKIP_BLEND = 1.0  # seconds to glide from the old light to the new part's
TICK_HZ = 50.0  # how often the light is written while it moves fastest
# The most the planned lightness (0-1) may move between two writes before the runner wakes
# at every tick: half a CIE L* unit, half the step an eye can just see. Where the light
# moves slower (the turns of a breath, a slow exhale, a hold) ticks are left out, up to
# SLOWEST_TICKS - 1 in a row, so a tick costs the session's CPU only where it shows.
STEP = 0.005
SLOWEST_TICKS = 5  # at least 10 Hz, whatever the light does
# A growing plan's source is asked about this often (plan time; at the first wake-up after,
# and the runner wakes at least every SLOWEST_TICKS / TICK_HZ s), besides before each phase
# of the breath: what it heard in a part without breaths (the arrive, while the person's own
# rate is read) is known in time to decide what comes next.
ASK_EVERY_S = 1.0


class LightOutput(Protocol):
    def show(self, lightness: float) -> float:
        """Show a perceptual lightness (0-1); return the duty sent."""

    def off(self) -> None: ...


class TouchOutput(Protocol):
    def show(self, touch: float) -> float:
        """Set the touch (0-1); return the duty sent."""

    def off(self) -> None: ...


class SoundOutput(Protocol):
    """The voice, chime and tide. `at` is the clock time a sound must be heard."""

    lead: float  # seconds ahead of `at` that a sound should be handed over
    speaks: bool  # False: a silent session, no line is spoken (the tide need not step back)

    def say(self, text: str, at: float | None = None) -> float:
        """Speak text at `at`; return the clip's length in seconds. A line not made before is
        made on the spot (the Speaker starts its voice maker's child for it)."""

    def chime(self, at: float | None = None) -> None:
        """Mark the start of a part."""

    def pace(self, at: float, swell: Swell) -> None:
        """The tide of one breath phase (device/core/pacing.py)."""

    def hush(self) -> None:
        """Stop every sound at once."""


class PlanSource(Protocol):
    def revise(self, plan: SessionPlan, now: float) -> SessionPlan:
        """The plan as it stands at plan time `now`: `plan` itself if nothing is new, or one
        the same as it before `now + DECIDE_AHEAD_S` (device/core/pacer.py)."""


class Outcome(Enum):
    FINISHED = "finished"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class _Mark:
    """Something that happens at one plan time: a part, a phase or a cue begins."""

    at: float
    kind: Literal["part", "phase", "cue"]
    detail: str
    seconds: float
    cue: int = -1  # for a cue: its index in the plan


@dataclass(frozen=True)
class _Sound:
    """Something heard at one plan time: a cue, the chime of a new part, a swell of the tide."""

    at: float
    kind: str  # "say", "chime" or "pace"
    text: str = ""
    index: int = -1  # the cue's index in the plan, or the swell's in the score


def ticks_to_skip(lightness_at: Callable[[float], float], tick: float,
                  tick_hz: float = TICK_HZ) -> int:
    """How many ticks after the one at plan time `tick` can be left out while the light
    moves less than STEP a write: judged by how far it moves in the tick before (within a
    breath's phase the light moves one way, eased, so its pace changes slowly; a phase
    boundary is a deadline of its own and is never skipped)."""
    moved = abs(lightness_at(tick) - lightness_at(tick - 1 / tick_hz))
    if moved * 2 >= STEP:
        return 0
    return min(SLOWEST_TICKS - 1, int(STEP / max(moved, 1e-9)) - 1)


def _marks(plan: SessionPlan) -> list[_Mark]:
    marks = [_Mark(p.start, "part", p.name, p.seconds) for p in plan.parts]
    marks += [_Mark(s.start, "phase", s.phase, s.seconds) for s in plan.segments if s.phase]
    marks += [_Mark(c.at, "cue", c.text, c.seconds, n) for n, c in enumerate(plan.cues)]
    order = {"part": 0, "phase": 1, "cue": 2}
    return sorted(marks, key=lambda m: (m.at, order[m.kind]))


def _begun(mark: _Mark) -> _Mark:
    """A mark as it must stay once it has happened: a part that has begun may still grow
    longer or shorter (its breaths are not all decided when it begins)."""
    return replace(mark, seconds=0.0) if mark.kind == "part" else mark


def _sounds(plan: SessionPlan, score: Score) -> list[_Sound]:
    """Every sound of the plan in time order: tide and chime first, so the voice is on top."""
    sounds = [_Sound(p.start, "chime") for p in plan.parts[1:]]
    sounds += [_Sound(s.start, "pace", index=k) for k, s in enumerate(score.segments)]
    sounds += [_Sound(c.at, "say", c.text, n) for n, c in enumerate(plan.cues)]
    order = {"pace": 0, "chime": 1, "say": 2}
    return sorted(sounds, key=lambda s: (s.at, order[s.kind]))


class Runner:
    """Plays one plan against a light and a sound output, obeying the controller."""

    def __init__(self, clock: Clock, light: LightOutput, sound: SoundOutput,
                 control: Controller, listener: Listener = ignore, *,
                 tick_hz: float = TICK_HZ, stop_fade: float = 2.0,
                 heartbeat: Callable[[], None] = lambda: None,
                 motor: TouchOutput | None = None) -> None:
        """heartbeat is called on every wake-up: the service's watchdog comes from here,
        so a hung loop stops it. A `motor` gives the breath as touch (device/core/haptic.py), on
        the same ticks and deadlines as the light."""
        self.clock = clock
        self.motor = motor
        self._touch_duty: float | None = None
        self.heartbeat = heartbeat
        self.light = light
        self.sound = sound
        self.control = control
        self.listener = listener
        self.tick_hz = tick_hz
        self.stop_fade = stop_fade
        self._duty: float | None = None
        self._lightness = 0.0
        self._sound_ok = True
        self._spoken: dict[int, float] = {}  # cue index -> seconds, once handed over
        self._source: PlanSource | None = None  # where a growing plan comes from
        self.started_at: float | None = None  # clock time of plan time 0 in the last run()

    def glow(self, plan: SessionPlan) -> None:
        """Show the plan's first light now, before anything slower (opening the sound)."""
        self._show(plan.lightness_at(0.0))

    def run(self, plan: SessionPlan, delay: float = 0.0,
            source: PlanSource | None = None) -> Outcome:
        """Play `plan` from `delay` seconds from now until it ends, is stopped or interrupted;
        with a `source`, the plan as it grows.

        The delay is the sound output's own latency at the start: with it, the first word
        is heard exactly when plan time 0 comes; the light holds its first glow meanwhile.
        """
        if source is not None and self.sound.lead > DECIDE_AHEAD_S:
            raise ValueError(f"a plan that grows needs sounds handed over at most "
                             f"{DECIDE_AHEAD_S} s ahead, not {self.sound.lead} s")
        self._sound_ok = True
        self._spoken.clear()
        self._source = source
        self.started_at = self.clock.now() + delay
        try:
            return self._play(plan, self.started_at)
        finally:
            self._hush()
            self._dark()

    def _play(self, plan: SessionPlan, t0: float) -> Outcome:
        """Plan time p happens at clock time t0 + p - shift (a skip moves `shift` on).

        Every deadline is computed by the same expression as the test that acts on it, so
        a clock that wakes exactly at a deadline always finds it due: no float slack, and
        no chance of waiting again for a moment that has already come.
        """
        clock, control = self.clock, self.control
        score = Score(plan, self.sound.speaks)
        marks, sounds, lead = _marks(plan), _sounds(plan, score), self.sound.lead
        asked = -1  # the sound the plan source was last asked before
        next_ask = 0.0  # the plan time the plan source is asked at next, in any case
        shift = 0.0
        blend: tuple[float, float] | None = None  # (clock time, lightness) a skip glides from
        i = 0  # the next mark
        j = 0  # the next sound to hand over
        k = 0  # the next light tick, at t0 + k / tick_hz
        while True:
            self.heartbeat()
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
                    j = next((n for n, s in enumerate(sounds) if s.at >= following[0].start),
                             len(sounds))
                    blend = (now, self._lightness)
            if command is Command.STOP:
                self._hush()
                return self._fade_out()
            end = t0 + plan.seconds - shift
            if now >= end:
                return Outcome.FINISHED
            if self._source is not None and now - t0 + shift >= next_ask:
                next_ask = now - t0 + shift + ASK_EVERY_S
                grown = self._grown(plan, now - t0 + shift, marks[:i], sounds[:j])
                if grown is not None:
                    plan, score, marks, sounds = grown
                    end = t0 + plan.seconds - shift
            while j < len(sounds) and now >= t0 + sounds[j].at - shift - lead:
                if self._source is not None and sounds[j].kind == "pace" and asked < j:
                    asked = j  # before each phase's tide is handed over
                    grown = self._grown(plan, now - t0 + shift, marks[:i], sounds[:j])
                    if grown is not None:
                        plan, score, marks, sounds = grown
                        end = t0 + plan.seconds - shift
                        continue
                self._hand_over(sounds[j], t0 + sounds[j].at - shift, score)
                j += 1
            while i < len(marks) and now >= t0 + marks[i].at - shift:
                self._happen(marks[i])
                i += 1
            level = plan.lightness_at(max(now - t0 + shift, 0.0))
            if blend is not None:
                x = (now - blend[0]) / SKIP_BLEND
                level = ease(blend[1], level, x) if x < 1 else level
                blend = None if x >= 1 else blend
            self._show(level)
            if self.motor is not None:
                self._touch(touch_at(plan, max(now - t0 + shift, 0.0)))
            while t0 + k / self.tick_hz <= now:
                k += 1
            ahead = k  # the tick to wake at, unless something else comes first
            # Ticks are left out only on the plan's own light (not in a skip's glide, nor
            # with a motor, whose taps may begin at any tick), and not in the last few
            # before the end, so the light's last writes before dark are as they were.
            if (blend is None and self.motor is None
                    and t0 + (k + SLOWEST_TICKS) / self.tick_hz < end):
                ahead += ticks_to_skip(plan.lightness_at, k / self.tick_hz + shift, self.tick_hz)
            deadline = min(t0 + ahead / self.tick_hz, end)
            if i < len(marks):
                deadline = min(deadline, t0 + marks[i].at - shift)
            if j < len(sounds):
                deadline = min(deadline, t0 + sounds[j].at - shift - lead)
            decision = control.next_deadline()
            if decision is not None:
                deadline = min(deadline, decision)
            clock.wait_until(deadline, control.wake)

    def _grown(self, plan: SessionPlan, now: float, happened: list[_Mark],
               handed: list[_Sound]) -> tuple[SessionPlan, Score, list[_Mark],
                                              list[_Sound]] | None:
        """The plan as its source now has it (with its score, marks and sounds), if it has
        grown and kept what has begun (`happened`, `handed`): else None. A source that
        fails, or changes what has begun, is asked no more: the session plays on as it
        stands (one log line)."""
        assert self._source is not None
        try:
            grown = self._source.revise(plan, now)
        except Exception as error:
            log.error("the plan could not grow (%s); the session goes on as planned", error)
            self._source = None
            return None
        if grown is plan:
            return None
        score = Score(grown, self.sound.speaks)
        marks, sounds = _marks(grown), _sounds(grown, score)
        if ([_begun(m) for m in marks[:len(happened)]] != [_begun(m) for m in happened]
                or sounds[:len(handed)] != handed):
            log.error("the plan grew into what had already begun; the session goes on as "
                      "planned")
            self._source = None
            return None
        return grown, score, marks, sounds

    def _fade_out(self) -> Outcome:
        """Glide from the current light to off over stop_fade seconds."""
        start, begin = self.clock.now(), self._lightness
        end = start + self.stop_fade
        self.listener(FadingOut(at=start, seconds=self.stop_fade))
        k = 1
        while True:
            self.heartbeat()
            now = self.clock.now()
            if self.control.take(now) is Command.QUIT:
                return Outcome.INTERRUPTED
            if now >= end:
                return Outcome.STOPPED
            self._show(ease(begin, 0.0, (now - start) / self.stop_fade))
            if self.motor is not None:
                self._touch(0.0)
            while start + k / self.tick_hz <= now:
                k += 1
            self.clock.wait_until(min(start + k / self.tick_hz, end), self.control.wake)

    def _happen(self, mark: _Mark) -> None:
        at = self.clock.now()
        if mark.kind == "cue":
            seconds = self._spoken.pop(mark.cue, None)
            if seconds:  # handed over, and not a line without a voice
                self.listener(LineSpoken(at=at, text=mark.detail, seconds=round(seconds, 3)))
        elif mark.kind == "part":
            self.listener(PartBegan(at=at, name=mark.detail, seconds=round(mark.seconds, 3)))
        else:
            self.listener(PhaseBegan(at=at, name=mark.detail, seconds=round(mark.seconds, 3)))

    def _hand_over(self, sound: _Sound, at: float, score: Score) -> None:
        """Give one sound to the output, to be heard at clock time `at`.

        If the output fails, the session goes on with the light only: one log line, and no
        sound is tried again until the next session.
        """
        if not self._sound_ok:
            return
        try:
            if sound.kind == "say":
                self._spoken[sound.index] = self.sound.say(sound.text, at)
            elif sound.kind == "chime":
                self.sound.chime(at)
            else:
                self.sound.pace(at, score[sound.index])
        except Exception as error:
            self._sound_failed(error)

    def _show(self, lightness: float) -> None:
        self._lightness = lightness
        duty = self.light.show(lightness)
        if duty != self._duty:
            self._duty = duty
            self.listener(LightChanged(at=self.clock.now(), value=duty,
                                       lightness=round(lightness, 5)))

    def _touch(self, touch: float) -> None:
        """The motor to `touch` (the caller has one: touch_at is not worked out without)."""
        assert self.motor is not None
        duty = self.motor.show(touch)
        if duty != self._touch_duty:
            self._touch_duty = duty
            self.listener(TouchChanged(at=self.clock.now(), value=duty, touch=round(touch, 5)))

    def _dark(self) -> None:
        """Off, whatever else failed: the light, and the motor."""
        self._lightness = 0.0
        try:
            self.light.off()
        finally:
            if self.motor is not None:
                self.motor.off()
                if self._touch_duty not in (None, 0.0):
                    self._touch_duty = 0.0
                    self.listener(TouchChanged(at=self.clock.now(), value=0.0, touch=0.0))
        if self._duty != 0.0:
            self._duty = 0.0
            self.listener(LightChanged(at=self.clock.now(), value=0.0, lightness=0.0))

    def _hush(self) -> None:
        if self._sound_ok:
            try:
                self.sound.hush()
            except Exception as error:
                self._sound_failed(error)

    def _sound_failed(self, error: Exception) -> None:
        self._sound_ok = False
        log.error("the sound failed (%s); the session goes on with the light only", error)
