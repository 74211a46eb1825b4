"""The plan grows breath by breath: each breath is a pure function of what had been sensed
by DECIDE_AHEAD_S before it, so laying the plan out again with more known never changes what
has begun; with nothing sensed (no sensor), the plan is today's."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.core.config_schema import parse
from device.core.pacer import (
    DECIDE_AHEAD_S,
    UNSENSED,
    LaidBreath,
    SensedBreath,
    Sensing,
    fixed_pace,
)
from device.core.part_builder import PlanTooLong
from device.core.plan import SessionPlan, build_plan, estimate_spoken
from device.files.script_file import load_script

SCRIPT = load_script()
SPOKEN = estimate_spoken(140)
CONFIG = parse({"breathing": {"minutes": 3}})


def follow(config, at: float, laid: tuple[LaidBreath, ...],
           known: tuple[SensedBreath, ...]) -> float:
    """A pacer that goes at the person's last sensed rate (blind: the fixed one's)."""
    if len(known) < 2:
        return fixed_pace(config, at, laid, known)
    return 60.0 / (known[-1].inhale_at - known[-2].inhale_at)


def plan_with(*breaths: SensedBreath, config=CONFIG, pacer=follow) -> SessionPlan:
    return build_plan(config, SCRIPT, SPOKEN, Sensing(tuple(breaths), pacer))


def inhales(plan: SessionPlan) -> list[float]:
    """Where each inhale of the breathing part begins (a sigh's top-up not counted)."""
    breathe = plan.part_named("breathe")
    segments = [s for s in breathe.segments if s.phase]
    return [s.start for n, s in enumerate(segments)
            if s.phase == "inhale" and (n == 0 or segments[n - 1].phase != "inhale")]


def person(first: float, every: float, count: int, latency: float = 1.0):
    """Breaths at a steady rate, each known `latency` seconds after it began."""
    return [SensedBreath(first + k * every, first + k * every + latency) for k in range(count)]


def test_with_nothing_sensed_the_plan_is_the_fixed_one():
    fixed = build_plan(CONFIG, SCRIPT, SPOKEN)
    assert plan_with() == fixed
    assert build_plan(CONFIG, SCRIPT, SPOKEN, UNSENSED) == fixed
    gaps = [b - a for a, b in itertools.pairwise(inhales(fixed))]
    assert gaps[0] == pytest.approx(60 / 8, abs=0.2) and gaps[-1] == pytest.approx(10.0)


def test_the_fixed_pacer_is_blind_to_what_is_sensed():
    start = build_plan(CONFIG, SCRIPT, SPOKEN).part_named("breathe").start
    sensed = person(start, 4.0, 20)
    assert plan_with(*sensed, pacer=fixed_pace) == build_plan(CONFIG, SCRIPT, SPOKEN)


def test_a_breath_follows_what_was_known_before_it_began():
    fixed = build_plan(CONFIG, SCRIPT, SPOKEN)
    start = fixed.part_named("breathe").start
    sensed = person(start + 2.0, 4.0, 40)  # 15 a minute, each known a second later
    grown = plan_with(*sensed)
    # their first two breaths are known at start + 3 and start + 7: the first breath
    # (decided before anything was known) is the fixed plan's, the second follows them
    begun = inhales(grown)
    assert begun[:2] == inhales(fixed)[:2]
    gaps = [b - a for a, b in itertools.pairwise(begun)]
    assert gaps[0] == pytest.approx(60 / 8)
    assert len(gaps) > 30 and all(gap == pytest.approx(4.0) for gap in gaps[1:])
    # the part after the breathing begins at its new end
    after = [p.name for p in grown.parts].index("breathe") + 1
    assert grown.parts[after].start == pytest.approx(grown.part_named("breathe").stop)
    assert grown.seconds != fixed.seconds
    assert grown.part_named("breathe").seconds == pytest.approx(begun[-1] + 4.0 - begun[0])


def test_breaths_sensed_before_the_breathing_part_set_its_first_breath():
    start = build_plan(CONFIG, SCRIPT, SPOKEN).part_named("breathe").start
    sensed = person(start - 10.0, 5.0, 40)  # 12 a minute, from the arrive part on
    begun = inhales(plan_with(*sensed))
    assert begun[1] - begun[0] == pytest.approx(5.0)


@pytest.mark.parametrize("late", [0.0, 0.01])
def test_a_breath_is_decided_by_what_was_known_decide_ahead_before_it(late):
    fixed = inhales(build_plan(CONFIG, SCRIPT, SPOKEN))
    n = 5
    known = fixed[n] - DECIDE_AHEAD_S + late
    begun = inhales(plan_with(SensedBreath(fixed[n] - 9.0, known),
                              SensedBreath(fixed[n] - 6.0, known)))  # 20 a minute
    assert begun[:n + 1] == fixed[:n + 1]
    if late:  # known too late for breath n: it is the fixed plan's; the next follows
        assert begun[n + 1] == pytest.approx(fixed[n + 1])
        assert begun[n + 2] - begun[n + 1] == pytest.approx(3.0)
    else:
        assert begun[n + 1] - begun[n] == pytest.approx(3.0)


def test_a_pacer_that_gives_no_number_is_refused_not_laid():
    with pytest.raises(PlanTooLong):
        plan_with(pacer=lambda *_: float("nan"))
    with pytest.raises(PlanTooLong):
        plan_with(pacer=lambda *_: 0.0)


def _begun_before(plan: SessionPlan, t: float):
    return ([s for s in plan.segments if s.start < t], [c for c in plan.cues if c.at < t])


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.floats(2.5, 15.0), min_size=2, max_size=40),
       latencies=st.lists(st.floats(0.0, 6.0), min_size=41, max_size=41),
       offset=st.floats(-20.0, 60.0), which=st.integers(0, 40), before=st.floats(0.0, 1.0))
def test_what_is_known_later_never_changes_what_has_begun(gaps, latencies, offset, which,
                                                           before):
    """The runner's guarantee: the plan laid out with what was known at `asked` (a moment
    before one more breath became known) and the one laid out later, with more, agree on
    everything that begins before asked + DECIDE_AHEAD_S (all the runner has handed over)."""
    start = build_plan(CONFIG, SCRIPT, SPOKEN).part_named("breathe").start + offset
    onsets = [start + sum(gaps[:k]) for k in range(len(gaps) + 1)]
    sensed = [SensedBreath(t, t + latency) for t, latency in zip(onsets, latencies,
                                                                  strict=False)]
    asked = sensed[min(which, len(sensed) - 1)].known_at - before
    then = plan_with(*(b for b in sensed if b.known_at <= asked))
    later = plan_with(*sensed)
    assert _begun_before(then, asked + DECIDE_AHEAD_S) == _begun_before(
        later, asked + DECIDE_AHEAD_S)
