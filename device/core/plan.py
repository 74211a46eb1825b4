"""The session plan: config and script in, a pure time-stamped plan out.

Nothing here knows about clocks, pins or sound. A plan is a list of parts, each
with a light envelope (segments eased in perceptual lightness) and voice cues at
exact offsets. Each part is laid out by the planner its entry in the registry names
(device/core/parts.py, device/core/part_plans.py); here they are put back to back. The
runner plays the plan; `ebbtide render` writes it out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from device.core import parts as registry
from device.core.config import SESSION_MINUTES, Config, ConfigError
from device.core.pacer import UNSENSED, Sensing
from device.core.part_builder import (
    CUE_GRACE,
    Cue,
    Part,
    PlanTooLong,
    Segment,
)
from device.core.part_plans import plan_breathe
from device.core.script import OWN_PACE_ID, Script, ScriptError
from device.core.text import minutes_text
from device.core.voice import Line

# The longest plan the planner lays out before it stops: four times the longest session,
# so a too-long session can still be refused with its length, and a plan never grows
# without bound (a pause of 1e300 s would otherwise add light until memory runs out).
PLAN_LIMIT_SECONDS = 4 * SESSION_MINUTES[1] * 60


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


def _part(name: str, config: Config, script: Script, spoken: Callable[[str], float],
          room: float, sensing: Sensing) -> Part:
    """One part, by its registered planner; a part the script has no words for is refused."""
    part = registry.named(name)
    if name in registry.wordless([name], script):
        raise ScriptError(f"{script.where}: [session] parts has {name}, but the script has no "
                          f"[{part.words}.lines]: add them (see the built-in script), or leave "
                          f"{name} out of the parts.")
    return part.plan(name, config, script, spoken, room, sensing)


def build_plan(config: Config, script: Script, spoken: Callable[[str], float],
               sensing: Sensing = UNSENSED) -> SessionPlan:
    """Lay out a whole session, part by part as [session] parts orders them, from what has
    been sensed so far (device/core/pacer.py; nothing, without a sensor).
    `spoken(text)` gives a line's spoken length in seconds. Raises PlanTooLong (having
    built no more than that) if the plan would pass PLAN_LIMIT_SECONDS."""
    parts = []
    offset = 0.0
    for name in config.session.parts:
        part = _part(name, config, script, spoken, PLAN_LIMIT_SECONDS - offset,
                     sensing.shifted(-offset))
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


def plan_session(config: Config, script: Script, spoken_seconds: Mapping[str, float],
                 sensing: Sensing = UNSENSED) -> SessionPlan:
    """The session, timed by each line's rendered length, or by a guess where there is none
    (no speech engine): the timing stays the same with or without a voice."""
    guess = estimate_spoken(config.voice.rate)
    longest = SESSION_MINUTES[1]
    try:
        plan = build_plan(config, script, lambda text: spoken_seconds.get(text) or guess(text),
                          sensing)
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


def voice_lines(config: Config, script: Script, sensed: bool = False) -> list[Line]:
    """Every line of the script for the voice maker, each with the longest a recording of
    it may last: a breathing cue must fit the longest phase it can be spoken in; any other
    line, three times its length at the configured rate and a few seconds more. The line
    said only to someone on a breath sensor, only with a sensor ([sensor] kind, or `sensed`:
    a simulated person)."""
    guess = estimate_spoken(config.voice.rate)
    longest = longest_phases(config, script)
    cue_phase = {"breathe.inhale": "inhale", "breathe.exhale": "exhale", "breathe.hold": "hold"}
    parts = set(config.session.parts)
    lines = []
    for line_id, text in script.lines:
        if line_id.split(".", 1)[0] not in parts:
            continue  # a part this session does not have: nothing to make
        if line_id == OWN_PACE_ID and not (sensed or config.sensor.kind != "none"):
            continue
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
    breathing = plan_breathe("breathe", config, script, estimate_spoken(config.voice.rate),
                             PLAN_LIMIT_SECONDS, UNSENSED)
    for segment in breathing.segments:
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
