"""The breath as touch: a swell through each inhale, a slow fade through each exhale,
stillness on holds and in the spoken parts, a double tap where each part begins."""

from __future__ import annotations

import itertools

import pytest

from device.core.config_schema import parse
from device.core.haptic import INHALE_FROM, TAP_GAP_S, TAP_LEVEL, TAP_S, touch_at
from device.core.plan import estimate_spoken, plan_session
from device.files.script_file import load_script

SCRIPT = load_script()


def plan_of(pattern: str = "paced-exhale"):
    return plan_session(parse({"breathing": {"pattern": pattern, "minutes": 2}}), SCRIPT, {})


def samples(plan, start: float, stop: float, n: int = 50) -> list[float]:
    return [touch_at(plan, start + (stop - start) * k / n) for k in range(n)]


def test_each_part_begins_with_a_double_tap():
    plan = plan_of()
    for part in plan.parts:
        t = part.start
        assert touch_at(plan, t + TAP_S / 2) == TAP_LEVEL
        assert touch_at(plan, t + TAP_S + TAP_GAP_S / 2) == 0.0, "a gap: two taps, not one"
        assert touch_at(plan, t + 1.5 * TAP_S + TAP_GAP_S) == TAP_LEVEL


@pytest.mark.parametrize("pattern", ["paced-exhale", "box", "4-7-8", "cyclic-sigh"])
def test_every_inhale_swells_every_exhale_fades_and_holds_are_still(pattern):
    plan = plan_of(pattern)
    breathe = plan.part_named("breathe")
    tap_end = breathe.start + 2 * TAP_S + TAP_GAP_S
    for segment in breathe.segments:
        if segment.phase is None or segment.start < tap_end:
            continue
        felt = samples(plan, segment.start, segment.stop)
        if segment.phase == "inhale":
            assert felt[0] >= INHALE_FROM * 0.99 and felt[-1] > 0.95
            assert all(b >= a for a, b in itertools.pairwise(felt))
        elif segment.phase == "exhale":
            assert felt[0] > 0.95 and felt[-1] < 0.05
            assert all(b <= a for a, b in itertools.pairwise(felt))
        else:
            assert set(felt) == {0.0}, f"a {segment.phase} is still"


def test_the_spoken_parts_are_still_and_the_end_is_still():
    plan = plan_of()
    for part in plan.parts:
        if part.name == "breathe":
            continue
        after_taps = part.start + 2 * TAP_S + TAP_GAP_S + 0.01
        assert set(samples(plan, after_taps, part.stop)) == {0.0}, part.name
    assert touch_at(plan, plan.seconds) == 0.0 and touch_at(plan, plan.seconds + 60) == 0.0
    assert touch_at(plan, -1.0) == 0.0


def test_the_touch_follows_the_same_breaths_as_the_light():
    plan = plan_session(parse({"breathing": {"minutes": 1}}), SCRIPT,
                        {t: estimate_spoken(140)(t) for t in SCRIPT.texts()})
    breathe = plan.part_named("breathe")
    for segment in breathe.segments[1:]:
        mid = segment.start + segment.seconds / 2
        rising = plan.lightness_at(mid + 0.01) > plan.lightness_at(mid)
        touch_rising = touch_at(plan, mid + 0.01) > touch_at(plan, mid)
        assert rising == touch_rising
