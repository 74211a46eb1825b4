"""The by-ear figures (device/core/listening.py) that say whether a session can be followed
with eyes shut: the tide heard, and going the breath's way."""

from __future__ import annotations

import numpy as np
import pytest

from device.core.listening import PRESENT_DBFS, by_ear


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
