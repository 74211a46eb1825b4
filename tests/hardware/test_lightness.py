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


def test_duty_rises_with_lightness_and_is_far_below_linear_in_the_dim_half():
    levels = [duty_for(n / 1000) for n in range(1001)]
    assert all(a < b for a, b in itertools.pairwise(levels))
    assert duty_for(0.25) < 0.05  # a quarter as bright looks like under 5 % duty
