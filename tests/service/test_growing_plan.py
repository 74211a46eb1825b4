"""A plan that grows as the session goes: the runner plays each breath as the plan stood when
it was handed over, learns nothing of sensors, and keeps playing if the source misbehaves."""

from __future__ import annotations

import itertools
import math

import pytest

from device.core.config_schema import parse
from device.core.pacer import DECIDE_AHEAD_S, SensedBreath, Sensing
from device.core.plan import build_plan, voice_lines
from device.files.script_file import load_script
from device.service.growing_plan import GrowingPlan
from device.service.runner import ASK_EVERY_S, Outcome
from tests.core.test_pacer import follow
from tests.service.test_runner import make_rig

SCRIPT = load_script()
CONFIG = parse({"breathing": {"minutes": 2}, "session": {"parts": ["arrive", "breathe",
                                                                   "close"]}})


def grown_rig(pins, voice_cache):
    rig = make_rig(pins, voice_cache, CONFIG)
    lengths = rig.speaker.prepare(voice_lines(CONFIG, SCRIPT))

    def lay_out(known: tuple[SensedBreath, ...]):
        return build_plan(CONFIG, SCRIPT, lengths.__getitem__, Sensing(known, follow))

    return rig, GrowingPlan(lay_out), lay_out


def as_planned(pins, voice_cache, rig) -> list:
    """The events of the fixed plan played alone, on a rig of its own (this one's pins let go)."""
    rig.button.close()
    rig.runner.light.close()
    alone, _, _ = grown_rig(pins, voice_cache)
    alone.runner.run(alone.plan)
    return alone.events


def inhales_played(rig) -> list[float]:
    phases = rig.of("phase")
    return [t for (t, f), (_, before) in zip(phases, [({}, {"name": ""}), *phases],
                                             strict=False)
            if f["name"] == "inhale" and before["name"] != "inhale"]


def test_the_breaths_follow_the_person_from_when_they_are_heard(pins, voice_cache):
    rig, source, lay_out = grown_rig(pins, voice_cache)
    breathe = rig.plan.part_named("breathe")
    for k in range(60):  # 15 a minute, from ten seconds into the breathing
        source.heard(breathe.start + 10.0 + 4.0 * k)
    assert rig.runner.run(rig.plan, source=source) is Outcome.FINISHED
    played = lay_out(source.known)  # the plan as it last stood: a function of what was known
    assert played != rig.plan and source.known
    # what happened is that plan, to the microsecond: phases, words, light, the end
    phases = [s.start for s in played.segments if s.phase]
    happened = [t for t, _ in rig.of("phase")]
    assert len(happened) == len(phases)
    assert max(abs(a - b) for a, b in zip(happened, phases, strict=True)) < 1e-6
    assert [text for _, text in rig.said()] == [c.text for c in played.cues]
    for t, _, lightness in rig.lights()[:-1]:
        assert math.isclose(lightness, round(played.lightness_at(t), 5), abs_tol=1e-5)
    assert math.isclose(rig.clock.now(), played.seconds)
    assert rig.led_pin.state == 0 and rig.lights()[-1][1] == 0.0
    # the first breaths are the fixed plan's (nothing heard yet); then every 4 s
    gaps = [b - a for a, b in itertools.pairwise(inhales_played(rig))
            if breathe.start <= a < played.part_named("breathe").stop - 1]
    fixed = [b - a for a, b in itertools.pairwise(
        s.start for s in rig.plan.part_named("breathe").segments if s.phase == "inhale")]
    assert gaps[:2] == pytest.approx(fixed[:2])
    assert gaps[3:] == pytest.approx([4.0] * len(gaps[3:]))
    # each breath heard became known at the first moment the runner asked after it
    assert all(b.inhale_at <= b.known_at < b.inhale_at + 10.0 for b in source.known)


def test_with_nothing_heard_the_session_is_the_fixed_one(pins, voice_cache):
    rig, source, _ = grown_rig(pins, voice_cache)
    rig.runner.run(rig.plan, source=source)
    assert rig.events == as_planned(pins, voice_cache, rig)


class Rewriting:
    """A broken source: from plan time 30 on, its plan changes breaths already begun."""

    def __init__(self, other):
        self.other, self.asked = other, []

    def revise(self, plan, now):
        self.asked.append(now)
        return self.other if now > 30 else plan


class Failing:
    def __init__(self):
        self.asked = []

    def revise(self, plan, now):
        self.asked.append(now)
        raise RuntimeError("the sensor's data is garbled")


@pytest.mark.parametrize("broken", ["rewrites", "fails"])
def test_a_source_that_misbehaves_is_dropped_and_the_session_plays_on(pins, voice_cache,
                                                                     caplog, broken):
    rig, _, lay_out = grown_rig(pins, voice_cache)
    assert rig.plan.part_named("breathe").start < 30
    slower = lay_out((SensedBreath(0.0, 0.0), SensedBreath(12.0, 0.0)))  # 5 a minute
    source = Rewriting(slower) if broken == "rewrites" else Failing()
    assert rig.runner.run(rig.plan, source=source) is Outcome.FINISHED
    assert rig.led_pin.state == 0
    assert rig.events == as_planned(pins, voice_cache, rig)  # as planned, to the end, dark
    said = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert said == [
        "the plan grew into what had already begun; the session goes on as planned"
        if broken == "rewrites" else
        "the plan could not grow (the sensor's data is garbled); the session goes on as planned"]
    # asked every second and just before each phase's tide is handed over, until it
    # misbehaved; never again
    if broken == "fails":
        assert source.asked == [0.0]
    else:
        before_phases = [s.start - rig.sound.lead for s in rig.plan.segments if s.phase]
        assert source.asked[-1] > 30 and all(t <= 30 for t in source.asked[:-1])
        assert set(before_phases) & {t for t in source.asked if t <= 30} == {
            t for t in before_phases if t <= 30}
        assert all(b - a <= ASK_EVERY_S + 0.11 for a, b in itertools.pairwise(source.asked))


def test_a_plan_cannot_grow_under_a_sound_handed_over_further_ahead(pins, voice_cache):
    rig, source, _ = grown_rig(pins, voice_cache)
    rig.sound.lead = DECIDE_AHEAD_S + 0.1
    with pytest.raises(ValueError, match=r"at most 0\.5 s ahead"):
        rig.runner.run(rig.plan, source=source)
