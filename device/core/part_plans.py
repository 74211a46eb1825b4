"""How each part of a session is laid out: one planner per kind of part, each a pure function
of the config, the script, the spoken length of a line and (for the breathing) what has been
sensed of the person so far (device/core/pacer.py). The registry of parts
(device/core/parts.py) names each part's planner; device/core/plan.py puts the parts back to
back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from device.core.pacer import (
    ARRIVE_SENSING_S,
    ARRIVE_STEP_S,
    LaidBreath,
    Sensing,
    arrive_end,
    keeps_slowing,
    out_of_step_for_a_minute,
)
from device.core.part_builder import (
    CUE_GAP,
    CUE_GRACE,
    FIRST_GLOW,
    FLOOR,
    GLOW,
    LINE_GAP,
    PEAK,
    Part,
    PartBuilder,
    PlanTooLong,
)

if TYPE_CHECKING:
    from device.core.config import Config
    from device.core.script import Script

CLOSE_FADE = 5.0  # seconds for the light to fade fully off at the end
SENSE_PAUSE_MIN = 8.0  # pause after "one thing"; each further thing adds SENSE_PAUSE_STEP
SENSE_PAUSE_STEP = 3.0
BODY_PAUSE = 8.0
AFTERCARE_PAUSE = 4.0
INTRO_PAUSE = 2.0

# A part's planner: (the part's name, config, script, a line's spoken seconds, the seconds
# the part may take at most, what has been sensed in the part's time) -> the part, laid out
# from 0.
Planner = Callable[[str, "Config", "Script", Callable[[str], float], float, Sensing], Part]


def sense_pause(count: int) -> float:
    """Seconds of quiet after a grounding prompt: enough time to find `count` things."""
    return SENSE_PAUSE_MIN + SENSE_PAUSE_STEP * (count - 1)


def plan_arrive(name: str, config: Config, script: Script, spoken: Callable[[str], float],
                room: float, sensing: Sensing) -> Part:
    """The voice arrives over a soft glow, which then settles to the breathing's floor. With a
    sensor listening, the floor then rests until the person's own rate is known (up to
    ARRIVE_SENSING_S) and their next inhale comes (device/core/pacer.py arrive_end)."""
    b = PartBuilder(name, spoken, room)
    t = 0.0
    for line in script.lines_of(name):
        t = b.say(t, line) + LINE_GAP
    rise, fall = 2.0, 2.5
    b.light(rise, FIRST_GLOW, GLOW)
    b.light(max(t - rise, 0.5), GLOW, GLOW)
    b.light(fall, GLOW, FLOOR)
    end = arrive_end(b.light_end, sensing)
    # The floor rests in steps, one to each moment the end was decided again at: a plan
    # laid out later, knowing more, ends it at one of them (or after the last).
    while b.light_end < end:
        step = end - b.light_end
        if b.light_end < ARRIVE_SENSING_S:
            step = min(step, ARRIVE_STEP_S, ARRIVE_SENSING_S - b.light_end)
        b.light(step, FLOOR, FLOOR)
    return b.build()


def plan_breathe(name: str, config: Config, script: Script, spoken: Callable[[str], float],
                 room: float, sensing: Sensing) -> Part:
    """Whole breaths for about `minutes` (longer, by up to `sensing.longer_by`, while the
    person follows a pacer still slowing), each as fast as the pacer says from what had been
    sensed by then, then the words: each phase's cue on the first few breaths, within its
    phase, then an occasional reminder on an exhale; and once, after a minute out of step,
    that they can breathe at their own pace."""
    b = PartBuilder(name, spoken, room)
    pattern = config.pattern()
    until = config.breathing.minutes * 60.0
    breaths: list[list[tuple[str, float, float]]] = []
    laid: list[LaidBreath] = []
    own_pace_from: int | None = None  # the breath from which that line is due
    while pattern.max_cycles is None or len(breaths) < pattern.max_cycles:
        rate = None
        known = sensing.known_by(b.light_end)
        if pattern.paced:
            rate = sensing.pacer(config, b.light_end, tuple(laid), known)
            if not (math.isfinite(rate) and rate > 0):  # a pacer's nan or 0 is not laid
                raise PlanTooLong(name)
        seconds = pattern.seconds if rate is None else 60.0 / rate
        if breaths and b.light_end + seconds / 2 > until and not (
                b.light_end + seconds <= until + sensing.longer_by
                and keeps_slowing(config, b.light_end, tuple(laid), known)):
            break
        if (own_pace_from is None and sensing.measures_first and script.own_pace
                and out_of_step_for_a_minute(laid, known, b.light_end)):
            own_pace_from = len(breaths)
        if rate is not None:
            laid.append(LaidBreath(b.light_end, rate))
        breaths.append(b.breathe(pattern, rate, FLOOR, PEAK))
    end = b.light_end
    cues = {"inhale": script.inhale, "exhale": script.exhale, "hold": script.hold}
    last_words = 0.0
    reminders = 0
    for n, phases in enumerate(breaths):
        breath_start, breath_end = phases[0][1], phases[-1][2]
        for phase, at, phase_end in phases:
            if n < script.cue_breaths:
                # A cue that ends within its phase, leaving the next phase's cue its gap, if
                # one does: one that needs the grace would still be speaking then.
                if b.say_fitting(at, cues[phase], n, min(phase_end - CUE_GAP, end)) is None:
                    b.say_fitting(at, cues[phase], n, min(phase_end + CUE_GRACE, end))
                last_words = max(last_words, b.speech_end)
            elif (phase == "exhale" and own_pace_from is not None and n >= own_pace_from
                  and b.say_fitting(at, (script.own_pace,), 0,
                                    min(2 * breath_end - breath_start, end)) is not None):
                own_pace_from = None  # said: once a session
                last_words = at
            elif phase == "exhale" and at - last_words >= script.reminder_seconds:
                said = b.say_fitting(at, script.reminders, reminders, min(breath_end, end))
                if said is not None:  # the next reminder is the one after it, in order
                    reminders = said + 1
                    last_words = at
    return b.build()


def _spoken_part(name: str, lines: list[tuple[str, float]], rate: float,
                 spoken: Callable[[str], float], room: float) -> PartBuilder:
    """A part of lines, each followed by its pause, over the dim breathing rhythm."""
    b = PartBuilder(name, spoken, room)
    t = 0.5
    for text, pause in lines:
        t = b.say(t, text) + pause
        b.within(t)  # a pause of nan would otherwise end the part at once, unsaid
    b.dim_rhythm_until(t, rate)
    return b


def plan_feel(name: str, config: Config, script: Script, spoken: Callable[[str], float],
              room: float, sensing: Sensing) -> Part:
    """Each line, then the script's own pause ([feel] pause_seconds)."""
    lines = [(line, script.feel_pause) for line in script.lines_of(name)]
    return _spoken_part(name, lines, config.breathing.target_rate, spoken, room).build()


def plan_ground(name: str, config: Config, script: Script, spoken: Callable[[str], float],
                room: float, sensing: Sensing) -> Part:
    """The intro, then each sense with time to find its count of things."""
    lines = [(script.ground_intro, INTRO_PAUSE),
             *((s.text, sense_pause(s.count)) for s in script.senses)]
    return _spoken_part(name, lines, config.breathing.target_rate, spoken, room).build()


def plan_body(name: str, config: Config, script: Script, spoken: Callable[[str], float],
              room: float, sensing: Sensing) -> Part:
    """The intro, then each step with time to feel it."""
    lines = [(script.body_intro, INTRO_PAUSE), *((s, BODY_PAUSE) for s in script.body_steps)]
    return _spoken_part(name, lines, config.breathing.target_rate, spoken, room).build()


def lines_with_pause(pause: float) -> Planner:
    """The planner of a part that is just its [NAME.lines], each followed by `pause` seconds
    of quiet, over the dim breathing rhythm: most new parts need no planner of their own."""

    def plan_lines(name: str, config: Config, script: Script, spoken: Callable[[str], float],
                   room: float, sensing: Sensing) -> Part:
        lines = [(line, pause) for line in script.lines_of(name)]
        return _spoken_part(name, lines, config.breathing.target_rate, spoken, room).build()

    return plan_lines


def plan_close(name: str, config: Config, script: Script, spoken: Callable[[str], float],
               room: float, sensing: Sensing) -> Part:
    """The goodbye, then the light fades fully off."""
    lines = [(line, LINE_GAP) for line in script.lines_of(name)]
    part = _spoken_part(name, lines, config.breathing.target_rate, spoken, room)
    part.light(CLOSE_FADE, FLOOR, 0.0)
    return part.build()
