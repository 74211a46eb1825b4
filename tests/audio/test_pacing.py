"""The tide's sound (audio/pacing.py): level in decibels, colour, ducking out of the
voice's band, seamless joins, fading in after silence."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest

from audio.pacing import FLOOR_DB, JOIN_S, PEAK_DB, START_S, TideSound
from device.core.pacing import PACING_HZ

RATE = 48000


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
