"""The perceptual curve: CIE L* in, duty out, and back."""

from __future__ import annotations

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from hardware.lightness import duty_for, lightness_for


def test_known_points_of_the_cie_curve():
    assert duty_for(0.0) == 0.0
    assert duty_for(1.0) == 1.0
    assert math.isclose(duty_for(0.08), 8 / 903.3)  # the linear segment
    assert math.isclose(duty_for(0.5), ((50 + 16) / 116) ** 3)  # about 18 % duty looks half
    assert 0.18 < duty_for(0.5) < 0.19


def test_out_of_range_is_clamped():
    assert duty_for(-1) == 0.0 and duty_for(2) == 1.0


@given(st.floats(0, 1))
def test_lightness_round_trips(lightness):
    assert math.isclose(lightness_for(duty_for(lightness)), lightness, abs_tol=1e-9)


def test_duty_rises_with_lightness_and_fine_steps_stay_below_one_l_star():
    levels = [duty_for(n / 1000) for n in range(1001)]
    assert all(a < b for a, b in itertools.pairwise(levels))
    steps = [abs(lightness_for(b) - lightness_for(a)) * 100
             for a, b in itertools.pairwise(levels)]
    assert max(steps) < 1.0
