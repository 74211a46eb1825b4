"""The tide: its score from the plan (loudness from the light, ducked under every line), its
sound (level in decibels, colour, ducking out of the voice's band, seamless joins), and the
by-ear figures that say whether a session can be followed with eyes shut."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest

from audio.pacing import FLOOR_DB, JOIN_S, PEAK_DB, START_S, TideSound
from device.core.config_schema import parse
from device.core.listening import PRESENT_DBFS, by_ear
from device.core.pacing import (
    DUCK_AFTER_S,
    DUCK_BEFORE_S,
    DUCK_KEEP,
    PACING_HZ,
    SPOKEN_DIP,
    Score,
)
from device.core.plan import FLOOR, PEAK, plan_session
from device.files.script_file import load_script

RATE = 48000
SCRIPT = load_script()


@dataclass(frozen=True)
class Phase:
    """A swell made by hand."""

    seconds: float
    levels: tuple[float, ...]
    duck: tuple[float, ...] = ()
    colour: tuple[float, float] = (0.0, 0.0)
    ends: bool = False


def steady(seconds: float, level: float, duck: float = 0.0, colour: float = 0.0,
           ends: bool = False) -> Phase:
    n = round(seconds * PACING_HZ) + 1
    return Phase(seconds, (level,) * n, (duck,) * n, (colour, colour), ends)


def db(x: np.ndarray) -> float:
    x = x.astype(np.float64) / 32767
    return 10 * math.log10(float(np.mean(x**2)))


def band_share(x: np.ndarray, low: float, high: float) -> float:
    """The share of the energy between two frequencies."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freq = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(power[(freq >= low) & (freq < high)].sum() / power.sum())


@pytest.fixture
def tide() -> TideSound:
    return TideSound(RATE)


# -- the sound ----------------------------------------------------------------------------


def test_the_level_runs_from_the_floor_to_the_peak_in_decibels(tide):
    for level, expected in ((0.0, FLOOR_DB), (1.0, PEAK_DB)):
        tide.forget()
        clip = tide.clip(steady(4.0, level), 0)
        assert db(clip[RATE:3 * RATE]) == pytest.approx(expected, abs=0.6), level


def test_a_swell_rises_and_an_ebb_falls_every_quarter_second(tide):
    seconds = 4.0
    n = round(seconds * PACING_HZ) + 1
    rising = tuple((1 - math.cos(math.pi * k / (n - 1))) / 2 for k in range(n))
    for levels, sign in ((rising, 1), (rising[::-1], -1)):
        tide.forget()
        clip = tide.clip(Phase(seconds, levels, (0.0,) * n), 0)
        quarter = RATE // 4
        steps = [db(clip[k:k + quarter])  # (a tide from silence fades in first)
                 for k in range(RATE // 2, len(clip) - quarter, quarter)]
        assert all(sign * (b - a) > 0 for a, b in itertools.pairwise(steps)), steps


def test_under_a_spoken_line_the_tide_leaves_the_voice_band(tide):
    free = tide.clip(steady(3.0, 0.5), 0)[RATE // 2:]
    tide.forget()
    ducked = tide.clip(steady(3.0, 0.5, duck=1.0), 0)[RATE // 2:]
    assert db(ducked) == pytest.approx(db(free), abs=0.6)  # the score presses the level
    # The voice's own band (its formants and consonants) is left to the voice.
    assert band_share(ducked, 500, 2500) < 0.3 * band_share(free, 500, 2500)


def test_the_ebb_fizzes_more_than_the_swell(tide):
    swell = tide.clip(steady(4.0, 0.6, colour=0.0), 0)[RATE:]
    tide.forget()
    ebb = tide.clip(steady(4.0, 0.6, colour=1.0), 0)[RATE:]
    assert band_share(ebb, 2500, 9000) > 2 * band_share(swell, 2500, 9000)


def test_phases_join_without_a_seam(tide):
    """Two clips back to back sum to the one clip of the same tide: no gap, no click."""
    first, second = steady(2.0, 0.5), steady(3.0, 0.5)
    a = tide.clip(first, 1000).astype(np.int32)
    b = tide.clip(second, 1000 + 2 * RATE).astype(np.int32)
    assert len(a) == 2 * RATE + round(JOIN_S * RATE)
    joined = np.zeros(5 * RATE, dtype=np.int32)
    joined[:len(a)] += a
    joined[2 * RATE:] += b[:3 * RATE]
    tide.forget()
    whole = tide.clip(steady(5.0, 0.5), 1000).astype(np.int32)
    edge = slice(2 * RATE - 500, 2 * RATE + 500)
    assert np.max(np.abs(joined[edge] - whole[edge])) <= 3


def test_a_tide_after_silence_fades_in_and_the_last_swell_fades_out(tide):
    clip = tide.clip(steady(3.0, 1.0, ends=True), 0)
    assert abs(int(clip[0])) <= 1 and abs(int(clip[-1])) <= 1
    assert db(clip[:round(0.05 * RATE)]) < db(clip[round(START_S * RATE):RATE]) - 20
    # After a hush (a skip), the next swell rises from silence again.
    tide.forget()
    again = tide.clip(steady(3.0, 1.0), 3 * RATE)
    assert abs(int(again[0])) <= 1


def test_a_phase_of_no_length_makes_no_sound(tide):
    assert len(tide.clip(steady(0.0, 1.0), 0)) == 0


# -- the score ----------------------------------------------------------------------------


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


# -- by ear -------------------------------------------------------------------------------


def breaths(n: int, inhale: float = 2.0, exhale: float = 4.0):
    """Phases and a level (dB, every 50 ms) that rises through inhales, falls through
    exhales."""
    phases, levels, t = [], [], 0.0
    for _ in range(n):
        phases += [(t, "inhale"), (t + inhale, "exhale")]
        levels += list(np.linspace(-40, -25, round(inhale / 0.05)))
        levels += list(np.linspace(-25, -40, round(exhale / 0.05)))
        t += inhale + exhale
    return phases, levels, t


def test_a_tide_that_follows_the_breath_is_judged_right():
    phases, levels, end = breaths(5)
    ear = by_ear(levels, phases, 0.0, end)
    assert ear.present == 1.0 and ear.direction > 0.95 and ear.frames == len(levels)


def test_a_tide_that_goes_the_wrong_way_or_is_too_soft_is_judged_so():
    phases, levels, end = breaths(5)
    backwards = by_ear([-65 - x for x in levels], phases, 0.0, end)
    assert backwards.direction < 0.05 and backwards.present == 1.0
    soft = by_ear([x - 20 for x in levels], phases, 0.0, end)
    heard = sum(x - 20 > PRESENT_DBFS for x in levels) / len(levels)
    assert soft.present == pytest.approx(heard) and 0.2 < heard < 0.8
    only_half = by_ear(levels, phases, 0.0, end / 2)
    assert only_half.frames == len(levels) // 2
