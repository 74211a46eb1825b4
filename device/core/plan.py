"""The session plan: config and script in, a pure time-stamped plan out.

Nothing here knows about clocks, pins or sound. A plan is a list of parts, each
with a light envelope (segments eased in perceptual lightness) and voice cues at
exact offsets. The runner plays it; `ebbtide render` writes it out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from device.core.config import SESSION_MINUTES, Config, ConfigError
from device.core.errors import EbbtideError
from device.core.patterns import BUILT_IN, BreathPattern
from device.core.script import Script, ScriptError
from device.core.text import minutes_text
from device.core.voice import Line

# Perceptual lightness levels (0-1 of the configured maximum).
FIRST_GLOW = 0.12  # what the light shows the instant the button is pressed
GLOW = 0.35  # the soft glow while the voice arrives
FLOOR = 0.10  # the bottom of every breath: dim, never dark, until the close
PEAK = 1.0  # the top of a guided breath
DIM_PEAK = 0.35  # the top of the slow rhythm under grounding, body and aftercare

RAMP_SECONDS = 120.0  # paced-exhale slows from start_rate to target_rate over this
CLOSE_FADE = 5.0  # seconds for the light to fade fully off at the end
LINE_GAP = 0.8  # silence between consecutive lines
SENSE_PAUSE_MIN = 8.0  # pause after "one thing"; each further thing adds SENSE_PAUSE_STEP
SENSE_PAUSE_STEP = 3.0
BODY_PAUSE = 8.0
AFTERCARE_PAUSE = 4.0
INTRO_PAUSE = 2.0
CUE_GRACE = 0.25  # a breathing cue may run this far past the end of its phase
CUE_GAP = 0.1  # the least silence between two breathing cues
# The longest plan the planner lays out before it stops: four times the longest session,
# so a too-long session can still be refused with its length, and a plan never grows
# without bound (a pause of 1e300 s would otherwise add light until memory runs out).
PLAN_LIMIT_SECONDS = 4 * SESSION_MINUTES[1] * 60


class PlanTooLong(EbbtideError):
    """The plan would pass `PLAN_LIMIT_SECONDS` (or a time in it is not a number)."""


def sense_pause(count: int) -> float:
    """Seconds of quiet after a grounding prompt: enough time to find `count` things."""
    return SENSE_PAUSE_MIN + SENSE_PAUSE_STEP * (count - 1)


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


def span_at(starts: Sequence[float], t: float) -> int:
    """Of spans laid back to back from `starts` (in order), the index of the one under `t`:
    the last begun by then; -1 before the first."""
    return bisect.bisect_right(starts, t) - 1


@dataclass(frozen=True)
class SessionPlan:
    """The whole session: parts back to back, light ending at 0."""

    parts: tuple[Part, ...]
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _segments: tuple[Segment, ...] = field(init=False, repr=False, compare=False)
    _part_starts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_part_starts", tuple(p.start for p in self.parts))
        segments = tuple(s for p in self.parts for s in p.segments)
        object.__setattr__(self, "_segments", segments)
        object.__setattr__(self, "_starts", tuple(s.start for s in segments))

    @property
    def seconds(self) -> float:
        return self.parts[-1].stop

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self._segments

    @property
    def cues(self) -> tuple[Cue, ...]:
        return tuple(c for p in self.parts for c in p.cues)

    def lightness_at(self, t: float) -> float:
        """The planned lightness at `t` seconds; 0 before the start and after the end."""
        if t < 0 or t >= self.seconds:
            return 0.0
        return self._segments[span_at(self._starts, t)].lightness_at(t)

    def segment_at(self, t: float) -> Segment:
        """The light segment under `t` (the first before the start, the last after the end)."""
        return self._segments[max(span_at(self._starts, t), 0)]

    def part_at(self, t: float) -> Part:
        """The part under `t` (the first before the start, the last after the end)."""
        return self.parts[max(span_at(self._part_starts, t), 0)]

    def part_named(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)


class _PartBuilder:
    """Lays out one part in its own time, from 0."""

    def __init__(self, name: str, spoken: Callable[[str], float],
                 room: float = PLAN_LIMIT_SECONDS) -> None:
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


def _arrive(script: Script, spoken: Callable[[str], float], room: float) -> Part:
    b = _PartBuilder("arrive", spoken, room)
    t = 0.0
    for line in script.arrive:
        t = b.say(t, line) + LINE_GAP
    rise, fall = 2.0, 2.5
    b.light(rise, FIRST_GLOW, GLOW)
    b.light(max(t - rise, 0.5), GLOW, GLOW)
    b.light(fall, GLOW, FLOOR)
    return b.build()


def _breathe(config: Config, script: Script, spoken: Callable[[str], float],
             room: float = PLAN_LIMIT_SECONDS) -> Part:
    """Whole breaths for about `minutes`, then the words: each phase's cue on the first
    few breaths, within its phase, then an occasional reminder on an exhale."""
    b = _PartBuilder("breathe", spoken, room)
    pattern = config.pattern()
    start, target = config.breathing.start_rate, config.breathing.target_rate
    until = config.breathing.minutes * 60.0
    breaths: list[list[tuple[str, float, float]]] = []
    while pattern.max_cycles is None or len(breaths) < pattern.max_cycles:
        rate = None
        if pattern.paced:
            rate = start + (target - start) * min(b.light_end / RAMP_SECONDS, 1.0)
        seconds = pattern.seconds if rate is None else 60.0 / rate
        if breaths and b.light_end + seconds / 2 > until:
            break
        breaths.append(b.breathe(pattern, rate, FLOOR, PEAK))
    end = b.light_end
    cues = {"inhale": script.inhale, "exhale": script.exhale, "hold": script.hold}
    last_words = 0.0
    reminders = 0
    for n, phases in enumerate(breaths):
        breath_end = phases[-1][2]
        for name, at, phase_end in phases:
            if n < script.cue_breaths:
                # A cue that ends within its phase, leaving the next phase's cue its gap, if
                # one does: one that needs the grace would still be speaking then.
                if b.say_fitting(at, cues[name], n, min(phase_end - CUE_GAP, end)) is None:
                    b.say_fitting(at, cues[name], n, min(phase_end + CUE_GRACE, end))
                last_words = max(last_words, b.speech_end)
            elif name == "exhale" and at - last_words >= script.reminder_seconds:
                said = b.say_fitting(at, script.reminders, reminders, min(breath_end, end))
                if said is not None:  # the next reminder is the one after it, in order
                    reminders = said + 1
                    last_words = at
    return b.build()


def _spoken_part(name: str, lines: list[tuple[str, float]], rate: float,
                 spoken: Callable[[str], float], room: float) -> _PartBuilder:
    """A part of lines, each followed by its pause, over the dim breathing rhythm."""
    b = _PartBuilder(name, spoken, room)
    t = 0.5
    for text, pause in lines:
        t = b.say(t, text) + pause
        b.within(t)  # a pause of nan would otherwise end the part at once, unsaid
    b.dim_rhythm_until(t, rate)
    return b


def _spoken_lines(name: str, script: Script) -> list[tuple[str, float]]:
    """The lines of a spoken part, each with the quiet that follows it."""
    if name == "feel":
        return [(line, script.feel_pause) for line in script.feel]
    if name == "ground":
        return [(script.ground_intro, INTRO_PAUSE),
                *((s.text, sense_pause(s.count)) for s in script.senses)]
    if name == "body":
        return [(script.body_intro, INTRO_PAUSE), *((s, BODY_PAUSE) for s in script.body_steps)]
    if name == "aftercare":
        return [(line, AFTERCARE_PAUSE) for line in script.aftercare]
    if name == "partner":
        return [(line, AFTERCARE_PAUSE) for line in script.partner]
    return [(line, LINE_GAP) for line in script.close]


def _part(name: str, config: Config, script: Script, spoken: Callable[[str], float],
          room: float) -> Part:
    if name == "arrive":
        return _arrive(script, spoken, room)
    if name == "breathe":
        return _breathe(config, script, spoken, room)
    lines = _spoken_lines(name, script)
    if not lines:
        raise ScriptError(f"{script.where}: [session] parts has {name}, but the script has no "
                          f"[{name}.lines]: add them (see the built-in script), or leave "
                          f"{name} out of the parts.")
    part = _spoken_part(name, lines, config.breathing.target_rate, spoken, room)
    if name == "close":
        part.light(CLOSE_FADE, FLOOR, 0.0)
    return part.build()


def build_plan(config: Config, script: Script, spoken: Callable[[str], float]) -> SessionPlan:
    """Lay out a whole session, part by part as [session] parts orders them.
    `spoken(text)` gives a line's spoken length in seconds. Raises PlanTooLong (having
    built no more than that) if the plan would pass PLAN_LIMIT_SECONDS."""
    parts = []
    offset = 0.0
    for name in config.session.parts:
        part = _part(name, config, script, spoken, PLAN_LIMIT_SECONDS - offset)
        parts.append(_shifted(part, offset))
        offset += part.seconds
    return SessionPlan(tuple(parts))


def _shifted(part: Part, offset: float) -> Part:
    return Part(
        part.name,
        offset,
        part.seconds,
        tuple(Segment(s.start + offset, s.seconds, s.begin, s.end, s.phase)
              for s in part.segments),
        tuple(Cue(c.at + offset, c.text, c.seconds) for c in part.cues),
    )


def plan_session(config: Config, script: Script,
                 spoken_seconds: Mapping[str, float]) -> SessionPlan:
    """The session, timed by each line's rendered length, or by a guess where there is none
    (no speech engine): the timing stays the same with or without a voice."""
    guess = estimate_spoken(config.voice.rate)
    longest = SESSION_MINUTES[1]
    try:
        plan = build_plan(config, script, lambda text: spoken_seconds.get(text) or guess(text))
        length = f"{plan.seconds / 60:.0f} min"
    except PlanTooLong:
        plan, length = None, f"more than {PLAN_LIMIT_SECONDS / 60:.0f} min"
    if plan is None or plan.seconds > longest * 60:
        where = config.source or "the built-in config"
        raise ConfigError([
            f"{where}: the session would last {length} with breathing.minutes = "
            f"{config.breathing.minutes:g} and {script.where}; the whole session must stay "
            f"within {longest:g} min: use fewer minutes or a shorter script."])
    return plan


def session_shape(plan: SessionPlan) -> str:
    """The parts that run, each with its length, and the whole: for people to read."""
    parts = ", ".join(f"{p.name} {minutes_text(p.seconds)}" for p in plan.parts)
    return f"{parts}; {minutes_text(plan.seconds)} in all"


def voice_lines(config: Config, script: Script) -> list[Line]:
    """Every line of the script for the voice maker, each with the longest a recording of
    it may last: a breathing cue must fit the longest phase it can be spoken in; any other
    line, three times its length at the configured rate and a few seconds more."""
    guess = estimate_spoken(config.voice.rate)
    longest = longest_phases(config, script)
    cue_phase = {"breathe.inhale": "inhale", "breathe.exhale": "exhale", "breathe.hold": "hold"}
    parts = set(config.session.parts)
    lines = []
    for line_id, text in script.lines:
        if line_id.split(".", 1)[0] not in parts:
            continue  # a part this session does not have: nothing to make
        limit = 3 * guess(text) + 3.0
        phase = cue_phase.get(line_id.rsplit(".", 1)[0])
        if phase is not None:
            limit = min(limit, longest.get(phase, limit) + CUE_GRACE)
        lines.append(Line(line_id, text, round(limit, 2)))
    return lines


def breath_phases(config: Config, script: Script) -> list[list[tuple[str, float]]]:
    """Each breath of the breathing part as its phases, (name, seconds) in order (a sigh's
    top-up is part of its inhale: the same phase, back to back)."""
    breaths: list[list[tuple[str, float]]] = []
    for segment in _breathe(config, script, estimate_spoken(config.voice.rate)).segments:
        if segment.phase is None:
            continue
        last = breaths[-1][-1] if breaths else None
        if last is not None and last[0] == segment.phase:
            breaths[-1][-1] = (last[0], last[1] + segment.seconds)
        elif segment.phase == "inhale" or not breaths:
            breaths.append([(segment.phase, segment.seconds)])
        else:
            breaths[-1].append((segment.phase, segment.seconds))
    return breaths


def longest_phases(config: Config, script: Script) -> dict[str, float]:
    """The longest inhale, exhale and hold of the breathing part, in seconds."""
    longest: dict[str, float] = {}
    for breath in breath_phases(config, script):
        for name, seconds in breath:
            longest[name] = max(longest.get(name, 0.0), seconds)
    return longest


def cue_windows(config: Config, script: Script) -> dict[str, float]:
    """The time a breathing cue has: the shortest of its phase in the breaths that are
    spoken over (the first cue_breaths), and CUE_GRACE more. A cue longer than that is
    left out of the session when its turn comes."""
    windows: dict[str, float] = {}
    for breath in breath_phases(config, script)[:script.cue_breaths]:
        for name, seconds in breath:
            windows[name] = min(windows.get(name, math.inf), seconds + CUE_GRACE)
    return windows


def estimate_spoken(rate_wpm: int) -> Callable[[str], float]:
    """A spoken-length guess for when there is no voice: words at `rate_wpm`, plus a breath."""

    def spoken(text: str) -> float:
        return len(text.split()) * 60.0 / rate_wpm + 0.3

    return spoken
