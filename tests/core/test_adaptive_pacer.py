"""The adaptive pacer meets the person where they are: it starts at their own rate, on their
next inhale, and slows toward the target only while they follow. Closed loops with
synthetic people (one who follows, one who ignores the light, nobody), all deterministic."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.core.config_schema import parse
from device.core.pacer import (
    ARRIVE_SENSING_S,
    DECIDE_AHEAD_S,
    FASTEST_BPM,
    FIRST_HEARD_S,
    FOLLOWED_MINUTES,
    OUT_OF_STEP_S,
    LaidBreath,
    SensedBreath,
    Sensing,
    adaptive_pace,
    followed_longer_by,
    in_step,
    own_rate,
    rate_bounds,
    session_sensing,
)
from device.core.plan import SessionPlan, build_plan, estimate_spoken
from device.files.script_file import load_script
from tests.core.test_pacer import _begun_before, inhales

SCRIPT = load_script()
SPOKEN = estimate_spoken(140)
CONFIG = parse({"breathing": {"minutes": 14}, "session": {"parts": ["arrive", "breathe",
                                                                   "close"]}})
LATENCY = 2.0  # a breath is heard this long after it began (the reader sees its top)

Person = Callable[[float, SessionPlan, random.Random], float]  # (last inhale, plan) -> next


def sensed_plan(known: list[SensedBreath], config=CONFIG, longer_by: float = 0.0) -> SessionPlan:
    return build_plan(config, SCRIPT, SPOKEN,
                      Sensing(tuple(known), adaptive_pace, True, longer_by))


def laid(plan: SessionPlan) -> list[LaidBreath]:
    """The breathing part's breaths as laid: where each begins, and its rate."""
    starts = inhales(plan)
    ends = [*starts[1:], plan.part_named("breathe").stop]
    return [LaidBreath(a, 60.0 / (b - a)) for a, b in zip(starts, ends, strict=True)]


def closed_loop(person: Person | None, seed: int = 1, config=CONFIG,
                longer_by: float = 0.0) -> tuple[SessionPlan, list[SensedBreath]]:
    """Play the session a second at a time: the person breathes, each breath is heard
    LATENCY later and known from the next second on, and the plan is laid out again when
    something new is known (as device/service/growing_plan.py lays it out)."""
    rng = random.Random(seed)
    known: list[SensedBreath] = []
    theirs = [rng.uniform(0, 3.0)]
    plan = sensed_plan(known, config, longer_by)
    now = 0.0
    while now < plan.seconds:
        if person is not None:
            while theirs[-1] <= now + 5:
                theirs.append(person(theirs[-1], plan, rng))
            heard = {b.inhale_at for b in known}
            new = [SensedBreath(t, now) for t in theirs
                   if t + LATENCY <= now and t not in heard]
            if new:
                known += new
                plan = sensed_plan(known, config, longer_by)
        now += 1.0
    return plan, known


def own_rhythm(bpm: float) -> Person:
    def breathe(last: float, plan: SessionPlan, rng: random.Random) -> float:
        return last + 60.0 / bpm * rng.uniform(0.93, 1.07)
    return breathe


def follower(bpm: float = 16.0) -> Person:
    """Breathes at `bpm` until the breathing part, then inhales with the light, a little late."""
    alone = own_rhythm(bpm)

    def breathe(last: float, plan: SessionPlan, rng: random.Random) -> float:
        paced = [t for t in inhales(plan) if t > last + 1.0]
        if not paced or plan.part_named("breathe").start > last + 60.0 / bpm:
            return alone(last, plan, rng)
        return paced[0] + rng.uniform(0.1, 0.5)
    return breathe


def test_nobody_sensed_is_todays_fixed_plan():
    fixed = build_plan(CONFIG, SCRIPT, SPOKEN)
    plan, known = closed_loop(None)
    assert not known and plan == fixed


def test_breaths_sensed_too_late_for_the_arrive_leave_the_fixed_plan():
    fixed = build_plan(CONFIG, SCRIPT, SPOKEN)
    later = fixed.part_named("breathe").start + 30
    assert sensed_plan([SensedBreath(later + 4 * k, later + 4 * k + 1) for k in range(50)]) \
        == fixed


def test_the_pacer_starts_at_their_own_rate_on_their_next_inhale():
    plan, known = closed_loop(follower(16.0))
    breaths = laid(plan)
    assert breaths[0].rate == pytest.approx(16.0, abs=1.0)
    start = plan.part_named("breathe").start
    natural = build_plan(CONFIG, SCRIPT, SPOKEN).part_named("breathe").start
    assert natural <= start <= max(natural, ARRIVE_SENSING_S) + 60 / 16
    # the arrive ends on their expected inhale: theirs is within a quarter breath of it
    assert in_step(start, breaths[0].rate, [b.inhale_at for b in known]) is not None


def test_it_slows_to_the_target_no_faster_than_a_breath_a_minute_each_minute_with_a_follower():
    plan, known = closed_loop(follower(16.0))
    breaths = laid(plan)
    for a, b in itertools.pairwise(breaths):
        assert b.rate <= a.rate + 1e-9
        assert a.rate - b.rate <= (b.at - a.at) / 60 + 1e-9
    assert breaths[-1].rate == pytest.approx(CONFIG.breathing.target_rate)
    stop = plan.part_named("breathe").stop
    figures = session_sensing(breaths, known, plan.part_named("breathe").start, stop)
    assert figures.in_step_share is not None and figures.in_step_share >= 0.8
    assert figures.start_bpm == pytest.approx(16.0, abs=1.0)
    assert figures.end_bpm == pytest.approx(6.0, abs=0.5)


def test_it_holds_its_rate_when_they_do_not_follow():
    plan, _ = closed_loop(own_rhythm(16.0), seed=3)
    breaths = laid(plan)
    start = breaths[0].rate
    assert start == pytest.approx(16.0, abs=1.0)
    assert min(b.rate for b in breaths) >= start - 2.0
    # it held for most of the part: nowhere near the target
    assert breaths[-1].rate > CONFIG.breathing.target_rate + 6


def test_never_faster_than_twenty_a_minute():
    plan, _ = closed_loop(own_rhythm(26.0), config=SHORT)
    assert laid(plan)[0].rate == pytest.approx(FASTEST_BPM)
    assert rate_bounds(CONFIG.pattern()) == pytest.approx((60 / 18, 20.0))


def test_someone_slower_than_the_target_is_met_at_the_target():
    config = parse({"breathing": {"minutes": 3, "target_rate": 8},
                    "session": {"parts": ["arrive", "breathe", "close"]}})
    plan, _ = closed_loop(own_rhythm(7.0), config=config)
    assert laid(plan)[0].rate == pytest.approx(8.0)


def test_someone_too_slow_to_read_in_the_arrive_is_paced_as_always():
    """Four breaths at 5 a minute take longer than the arrive waits: the fixed pacer."""
    plan, known = closed_loop(own_rhythm(5.0))
    assert known
    assert laid(plan)[0].rate == pytest.approx(CONFIG.breathing.start_rate)


def test_in_step_is_a_window_a_quarter_of_the_period_wide_just_after_the_pacers_inhale():
    # At 6 a minute (10 s): from 0.625 s before the pacer's inhale to 1.875 s after
    assert in_step(10.0, 6.0, [11.875]) == 11.875
    assert in_step(10.0, 6.0, [11.9]) is None
    assert in_step(10.0, 6.0, [9.375]) == 9.375
    assert in_step(10.0, 6.0, [9.35]) is None
    assert in_step(10.0, 6.0, [7.5, 9.5, 11.0]) == 9.5  # the nearest of those in it
    assert in_step(10.0, 6.0, [9.8, 10.1]) == 10.1


def test_someone_at_their_own_pace_is_in_step_about_a_quarter_of_the_time():
    """A window half a period wide would hold half of all moments: someone ignoring the light
    would look like a follower half the time."""
    rng = random.Random(5)
    theirs = list(itertools.accumulate(rng.uniform(3.2, 4.4) for _ in range(3000)))
    paced = [k * 60 / 14 for k in range(int(theirs[-1] * 14 / 60))]
    share = sum(in_step(t, 14.0, theirs) is not None for t in paced) / len(paced)
    assert 0.2 < share < 0.3
    assert own_rate([0.0, 4.0, 8.0], 10.0) is None  # three breaths are not enough
    assert own_rate([0.0, 4.0, 8.0, 12.0], 12.0) == pytest.approx(15.0)


def test_a_session_with_nothing_sensed_has_no_figures():
    figures = session_sensing([LaidBreath(0.0, 6.0)], [], 0.0, 60.0)
    assert (figures.start_bpm, figures.end_bpm, figures.in_step_share) == (None, None, None)


@settings(max_examples=100, deadline=None)
@given(gaps=st.lists(st.floats(2.5, 15.0), min_size=2, max_size=40),
       latencies=st.lists(st.floats(0.0, 6.0), min_size=41, max_size=41),
       first=st.floats(0.0, 40.0), which=st.integers(0, 40), before=st.floats(0.0, 1.0))
def test_what_is_known_later_never_changes_what_has_begun(gaps, latencies, first, which,
                                                           before):
    """The runner's guarantee holds for the adaptive pacer, the arrive that waits, the
    breathing that goes on while they follow and the line of their own pace."""
    config = parse({"breathing": {"minutes": 3}})
    longer_by = followed_longer_by(config, 60.0)
    onsets = [first + sum(gaps[:k]) for k in range(len(gaps) + 1)]
    sensed = [SensedBreath(t, t + latency) for t, latency in zip(onsets, latencies,
                                                                  strict=False)]
    asked = sensed[min(which, len(sensed) - 1)].known_at - before
    then = sensed_plan([b for b in sensed if b.known_at <= asked], config, longer_by)
    later = sensed_plan(sensed, config, longer_by)
    assert _begun_before(then, asked + DECIDE_AHEAD_S) == _begun_before(
        later, asked + DECIDE_AHEAD_S)


def test_a_short_arrive_waits_for_a_first_breath_then_paces_as_always():
    """Words over in 15 s: the first breath can only be heard after the reader's first 15 s,
    so the floor rests until FIRST_HEARD_S; nothing heard, the breathing is today's."""
    quick = estimate_spoken(220)
    fixed = build_plan(CONFIG, SCRIPT, quick)
    natural = fixed.part_named("breathe").start
    assert natural < FIRST_HEARD_S
    waited = build_plan(CONFIG, SCRIPT, quick, Sensing((), adaptive_pace, True))
    start = waited.part_named("breathe").start
    assert FIRST_HEARD_S <= start < FIRST_HEARD_S + 0.5
    assert [b.rate for b in laid(waited)] == pytest.approx([b.rate for b in laid(fixed)])
    # a person heard in time is read, and met
    heard = [SensedBreath(1.0 + 4.0 * k, 16.5) for k in range(4)]  # 15 a minute
    met = build_plan(CONFIG, SCRIPT, quick, Sensing(tuple(heard), adaptive_pace, True))
    assert laid(met)[0].rate == pytest.approx(15.0)
    assert (met.part_named("breathe").start - 1.0) % 4.0 == pytest.approx(0.0, abs=1e-6)


SHORT = parse({"session": {"parts": ["arrive", "breathe", "close"]}})  # 4 minutes of breathing
SHORT_LONGER_BY = followed_longer_by(SHORT, 60.0)


def said(plan: SessionPlan, text: str) -> list[float]:
    return [c.at for c in plan.cues if c.text == text]


def test_with_a_follower_the_breathing_goes_on_past_its_minutes_until_the_target():
    """From 16 to 6 a minute at a breath a minute each minute is ten minutes: the default
    four would end the breathing at about 12."""
    plan, _ = closed_loop(follower(16.0), config=SHORT, longer_by=SHORT_LONGER_BY)
    breathing = plan.part_named("breathe")
    breaths = laid(plan)
    assert breaths[0].rate == pytest.approx(16.0, abs=1.5)
    assert breaths[-1].rate == pytest.approx(SHORT.breathing.target_rate)
    assert 4 * 60 < breathing.seconds <= FOLLOWED_MINUTES * 60
    # and it ends once the target is reached: no more than a breath at the target after
    assert sum(b.rate == pytest.approx(6.0) for b in breaths) <= 2
    assert not said(plan, SCRIPT.own_pace), "a follower is never told about their own pace"


def test_without_a_follower_the_breathing_keeps_its_minutes_and_says_their_pace_is_fine():
    plan, _ = closed_loop(own_rhythm(14.0), config=SHORT, longer_by=SHORT_LONGER_BY)
    breathing = plan.part_named("breathe")
    assert breathing.seconds == pytest.approx(4 * 60, abs=5)
    [at] = said(plan, SCRIPT.own_pace)
    assert breathing.start + OUT_OF_STEP_S < at < breathing.stop
    # on an exhale, and not over another line
    exhale = next(s for s in plan.segments if s.start <= at < s.stop)
    assert exhale.phase == "exhale" and exhale.start == pytest.approx(at)
    spoken = sorted((c.at, c.at + c.seconds) for c in plan.cues)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spoken))


def test_nobody_sensed_hears_no_line_of_their_own_pace_and_the_breathing_keeps_its_minutes():
    plan, _ = closed_loop(None, config=SHORT, longer_by=SHORT_LONGER_BY)
    assert plan == build_plan(SHORT, SCRIPT, SPOKEN)
    assert not said(plan, SCRIPT.own_pace)


def test_the_breathing_goes_on_only_as_far_as_the_hour_allows():
    assert followed_longer_by(SHORT, 60.0) == pytest.approx((FOLLOWED_MINUTES - 4) * 60)
    long = parse({"breathing": {"minutes": 20}})
    assert followed_longer_by(long, 60.0) == 0.0  # already longer than FOLLOWED_MINUTES
    # the rest of the session takes 55 min: 4 + 1 left, less a breath at the fastest pace
    assert followed_longer_by(SHORT, 55 * 60) == pytest.approx(60 - 3)
    assert followed_longer_by(SHORT, 57 * 60) == 0.0
