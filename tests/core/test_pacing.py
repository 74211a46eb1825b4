"""The tide's score (device/core/pacing.py): from the plan, loudness following the light,
pressed under every line, and ending with the last swell before the close's fade."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from device.core.config_schema import parse
from device.core.pacing import (
    DUCK_AFTER_S,
    DUCK_BEFORE_S,
    DUCK_KEEP,
    PACING_HZ,
    SPOKEN_DIP,
    Score,
)
from device.core.part_builder import FLOOR, PEAK
from device.core.plan import plan_session
from device.files.script_file import load_script

SCRIPT = load_script()


@pytest.fixture(scope="module")
def plan():
    return plan_session(parse({}), SCRIPT, {})


def test_every_breath_phase_has_a_swell_that_crests_and_rests_with_the_light(plan):
    score = Score(plan, voiced=False)
    phased = [s for s in plan.segments if s.phase is not None]
    assert len(score) == len(phased)
    breathing = plan.part_named("breathe")
    for k, segment in enumerate(phased):
        swell = score[k]
        assert (swell.at, swell.seconds, swell.phase) == (segment.start, segment.seconds,
                                                           segment.phase)
        light = [(segment.lightness_at(t) - FLOOR) / (PEAK - FLOOR) for t in
                 np.linspace(segment.start, segment.stop - 1e-9, len(swell.levels))]
        # the same ends as the light's, half of it a straight line (the ease undone), the
        # same way, and never flat where the light moves
        light = [(x + math.acos(1 - 2 * x) / math.pi) / 2 for x in np.clip(light, 0, 1)]
        assert swell.levels[0] == pytest.approx(light[0], abs=1e-6)
        assert swell.levels[-1] == pytest.approx(light[-1], abs=0.02)
        steps = np.diff(swell.levels)
        if segment.phase == "inhale":
            assert np.all(steps > 0)
        elif segment.phase == "exhale":
            assert np.all(steps < 0)
        if breathing.start <= segment.start < breathing.stop and segment.phase == "inhale":
            assert swell.levels[0] == pytest.approx(0.0) and swell.levels[-1] > 0.99


def test_a_swell_steps_back_for_words_only_in_the_breaths_own_direction(plan):
    """Under a line of the breathing the level is pressed toward the floor (to DUCK_KEEP of
    the swell), but an inhale never falls and an exhale never rises on account of it; under
    a line of a spoken part the dim tide sinks below its floor (by SPOKEN_DIP); and the tide
    never jumps from one swell to the next."""
    voiced, silent = Score(plan), Score(plan, voiced=False)
    breathing = plan.part_named("breathe")
    pressed = dipped = 0
    for k in range(len(voiced)):
        swell, free = voiced[k], silent[k]
        pairs = list(zip(swell.levels, free.levels, strict=True))
        if breathing.start <= swell.at < breathing.stop:
            steps = np.diff(swell.levels)
            if swell.phase == "inhale":
                assert np.all(steps >= -1e-12), k
            elif swell.phase == "exhale":
                assert np.all(steps <= 1e-12), k
            assert all(DUCK_KEEP * b - 1e-12 <= a <= b + 1e-12 for a, b in pairs)
            pressed += any(a < 0.6 * b for a, b in pairs)
        else:
            for n, ((a, b), duck) in enumerate(zip(pairs, swell.duck, strict=True)):
                aim = b * (1 - duck) - SPOKEN_DIP * duck
                assert a == pytest.approx(aim) or n < 0.3 * PACING_HZ  # (but a jump)
            dipped += min(swell.levels) <= -SPOKEN_DIP + 1e-9
        if k + 1 < len(voiced) and not swell.ends:
            assert voiced[k + 1].levels[0] == pytest.approx(swell.levels[-1], abs=0.02), k
        assert not any(silent[k].duck)
    assert pressed >= 5 and dipped > 10


def test_the_tide_is_out_of_the_voices_way_around_every_line_and_only_there(plan):
    score = Score(plan)
    for k in range(len(score)):
        swell = score[k]
        times = np.linspace(swell.at, swell.at + swell.seconds, len(swell.duck))
        for t, duck in zip(times, swell.duck, strict=True):
            speaking = any(c.at - DUCK_BEFORE_S <= t <= c.at + c.seconds + DUCK_AFTER_S
                           for c in plan.cues)
            far = all(t < c.at - DUCK_BEFORE_S - 0.4 or t > c.at + c.seconds + 0.9
                      for c in plan.cues)
            if speaking:
                assert duck == pytest.approx(1.0), (t, duck)
            elif far:
                assert duck == 0.0, (t, duck)


def test_the_colour_turns_with_each_phase_and_holds_keep_theirs():
    plan = plan_session(parse({"breathing": {"pattern": "box"}}), SCRIPT, {})
    score = Score(plan)
    breathing = plan.part_named("breathe")
    swells = [score[k] for k in range(len(score))
              if breathing.start <= score[k].at < breathing.stop]
    assert swells[0].colour == (1.0, 0.0)  # a tide begins as after an ebb
    for before, swell in itertools.pairwise(swells):
        assert swell.colour[0] == before.colour[1]
        aim = {"inhale": 0.0, "exhale": 1.0}.get(swell.phase, swell.colour[0])
        assert swell.colour[1] == aim


def test_the_last_swell_before_the_close_fade_ends_the_tide(plan):
    score = Score(plan)
    assert score[len(score) - 1].ends
    assert not any(score[k].ends for k in range(len(score) - 1))
