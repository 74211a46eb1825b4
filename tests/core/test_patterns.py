"""The built-in breathing patterns keep their shapes and the safety bounds."""

from __future__ import annotations

import math

import pytest

from device.core.patterns import BUILT_IN, paced_seconds


def test_paced_exhale_at_six_breaths_is_a_third_in_two_thirds_out():
    inhale, exhale = paced_seconds(6)
    assert math.isclose(inhale, 10 / 3) and math.isclose(exhale, 20 / 3)
    phases = BUILT_IN["paced-exhale"].breath(8)
    assert [p.name for p in phases] == ["inhale", "exhale"]
    assert math.isclose(sum(p.seconds for p in phases), 7.5)
    assert math.isclose(phases[1].seconds / phases[0].seconds, 2)


def test_cyclic_sigh_exhale_is_about_twice_both_inhales():
    sigh = BUILT_IN["cyclic-sigh"]
    assert math.isclose(sigh.exhale, 2 * (sigh.inhale + sigh.top_up))


def test_fixed_patterns_have_their_timings():
    assert [p.seconds for p in BUILT_IN["box"].breath()] == [4, 4, 4, 4]
    assert [p.seconds for p in BUILT_IN["4-7-8"].breath()] == [4, 7, 8]
    assert BUILT_IN["4-7-8"].max_cycles == 4
    assert 5.5 <= BUILT_IN["resonance"].rate <= 6


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_built_in_stays_within_the_safety_bounds(name):
    pattern = BUILT_IN[name]
    assert 3 <= pattern.rate <= 12
    assert 1 <= pattern.inhale <= 8 and 1 <= pattern.exhale <= 12
    assert 0 <= pattern.hold_in <= 8 and 0 <= pattern.hold_out <= 8
    assert pattern.exhale >= pattern.inhale
    phases = pattern.breath()
    assert phases[0].begin == 0 and phases[-1].end == 0
    assert max(p.end for p in phases) == 1
