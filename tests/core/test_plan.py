"""The session plan: parts in order, breathing that slows, pauses long enough, light ending at 0."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.core.config import DEFAULT_PARTS, Config
from device.core.config_schema import parse
from device.core.part_builder import CUE_GRACE, FIRST_GLOW
from device.core.part_plans import sense_pause
from device.core.plan import build_plan, estimate_spoken, plan_session, voice_lines
from device.core.script import ScriptError
from device.files.script_file import load_script

SCRIPT = load_script()
SPOKEN = estimate_spoken(140)


def plan_for(document: dict | None = None, spoken=SPOKEN):
    return build_plan(parse(document or {}), SCRIPT, spoken)


def breaths(part):
    """(inhale seconds, exhale seconds, inhale start) for each whole breath of a part."""
    out = []
    segs = [s for s in part.segments if s.phase]
    for i, s in enumerate(segs):
        if s.phase == "inhale" and (i == 0 or segs[i - 1].phase != "inhale"):
            inhale = sum(x.seconds for x in segs[i:] if x.phase == "inhale"
                         and x.start < next((y.start for y in segs[i:] if y.phase != "inhale"),
                                            math.inf))
            exhale = next(x.seconds for x in segs[i:] if x.phase == "exhale")
            out.append((inhale, exhale, s.start))
    return out


def test_parts_come_in_order_back_to_back():
    plan = plan_for()
    assert tuple(p.name for p in plan.parts) == DEFAULT_PARTS
    assert plan.parts[0].start == 0
    for before, after in zip(plan.parts, plan.parts[1:], strict=False):
        assert math.isclose(before.stop, after.start, abs_tol=1e-9)
    for part in plan.parts:
        segs = part.segments
        assert math.isclose(segs[0].start, part.start, abs_tol=1e-9)
        assert math.isclose(segs[-1].stop, part.stop, abs_tol=1e-9)
        for a, b in itertools.pairwise(segs):
            assert math.isclose(a.stop, b.start, abs_tol=1e-9), (part.name, a, b)


def test_default_session_is_six_to_twelve_minutes():
    assert 6 * 60 <= plan_for().seconds <= 12 * 60


def test_light_glows_at_once_and_ends_at_zero():
    plan = plan_for()
    assert plan.lightness_at(0.0) == FIRST_GLOW > 0
    assert plan.segments[-1].end == 0.0
    assert plan.lightness_at(plan.seconds - 1e-6) < 1e-6
    assert plan.lightness_at(plan.seconds) == 0.0


def test_light_never_jumps():
    plan = plan_for()
    t, step, last = 0.0, 0.02, plan.lightness_at(0.0)
    while t < plan.seconds:
        t += step
        now = plan.lightness_at(t)
        assert abs(now - last) < 0.03, t
        last = now


def test_paced_exhale_slows_from_start_to_target_with_long_exhales():
    plan = plan_for({"breathing": {"start_rate": 8, "target_rate": 6, "minutes": 4}})
    found = breaths(plan.part_named("breathe"))
    rates = [60 / (i + e) for i, e, _ in found]
    assert math.isclose(rates[0], 8, rel_tol=1e-9)
    assert math.isclose(rates[-1], 6, rel_tol=1e-9)
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(rates))
    # the ramp takes about two minutes
    at_target = next(start for (i, e, start) in found if math.isclose(60 / (i + e), 6))
    assert 100 <= at_target - plan.part_named("breathe").start <= 130
    assert all(e / i >= 1.8 for i, e, _ in found)


def test_breathing_cues_speak_first_then_step_back():
    plan = plan_for()
    part = plan.part_named("breathe")
    inhales = [s.start for s in part.segments if s.phase == "inhale"]
    exhales = [s.start for s in part.segments if s.phase == "exhale"]
    cue_at = {round(c.at, 6): c.text for c in part.cues}
    for k in range(SCRIPT.cue_breaths):
        assert cue_at[round(inhales[k], 6)] in SCRIPT.inhale
        assert cue_at[round(exhales[k], 6)] in SCRIPT.exhale
    later = [c for c in part.cues if c.at > exhales[SCRIPT.cue_breaths - 1]]
    assert later, "an occasional reminder follows"
    assert all(c.text in SCRIPT.reminders for c in later)
    assert all(any(math.isclose(c.at, e) for e in exhales) for c in later)
    gaps = [b.at - a.at for a, b in itertools.pairwise(later)]
    assert all(g >= SCRIPT.reminder_seconds for g in gaps)
    # In the script's order, each once before any comes again: first that tears are all
    # right (someone may be crying from the start), then gently, not deeply.
    said = [c.text for c in later]
    assert said[:2] == list(SCRIPT.reminders[:2]) and "tears" in said[0]
    assert len(set(said[:len(SCRIPT.reminders)])) == min(len(said), len(SCRIPT.reminders))


@pytest.mark.parametrize("wpm", [110, 140, 180])
def test_a_reminder_too_long_for_its_breath_gives_way_to_the_next_not_a_repeat(wpm):
    script = replace(SCRIPT, reminders=("A very long reminder " * 8, *SCRIPT.reminders[1:]))
    plan = plan_session(parse({"voice": {"rate": wpm}}), script, {})
    part = plan.part_named("breathe")
    said = [c.text for c in part.cues if c.text in script.reminders]
    assert said and script.reminders[0] not in said
    assert all(a != b for a, b in itertools.pairwise(said)), said


def test_grounding_pauses_meet_their_minimums_and_five_waits_longest():
    long_voice = lambda text: len(text) / 8  # noqa: E731 - a slow voice stretches the part
    for spoken in (SPOKEN, long_voice):
        plan = build_plan(Config(), SCRIPT, spoken)
        ground = plan.part_named("ground")
        cues = ground.cues
        sense_cues = cues[1:]
        assert [c.text for c in sense_cues] == [s.text for s in SCRIPT.senses]
        ends = [c.at for c in sense_cues[1:]] + [ground.stop]
        for cue, sense, next_start in zip(sense_cues, SCRIPT.senses, ends, strict=True):
            pause = next_start - (cue.at + cue.seconds)
            assert pause >= sense_pause(sense.count) - 1e-9 >= 8 - 1e-9
        assert sense_pause(5) > sense_pause(1)


def assert_words_fit(plan):
    """No two lines overlap, every line ends inside its part, and a breathing cue ends
    with its phase (give or take CUE_GRACE)."""
    cues = plan.cues
    for a, b in itertools.pairwise(cues):
        assert a.at + a.seconds <= b.at + 1e-9, (a, b)
    for part in plan.parts:
        for cue in part.cues:
            assert part.start <= cue.at and cue.at + cue.seconds <= part.stop + 1e-9, cue
    breathe = plan.part_named("breathe")
    phase_cues = {*SCRIPT.inhale, *SCRIPT.exhale, *SCRIPT.hold}
    for cue in breathe.cues:
        if cue.text in phase_cues:
            kind = next(s for s in breathe.segments if abs(s.start - cue.at) < 1e-9).phase
            end = next((s.start for s in breathe.segments
                        if s.start > cue.at and s.phase != kind), breathe.stop)
            assert cue.at + cue.seconds <= end + CUE_GRACE + 1e-9, cue


def test_spoken_lines_never_overlap_and_fit_their_phases():
    assert_words_fit(plan_for())


@pytest.mark.parametrize(("document", "rate"), [
    ({"breathing": {"pattern": "cyclic-sigh", "minutes": 5.75}}, 80),
    ({"breathing": {"start_rate": 12, "target_rate": 12}}, 140),
    ({"breathing": {"pattern": "box"}}, 80),
])
def test_slow_voices_and_fast_breaths_still_fit(document, rate):
    plan = plan_for(document, estimate_spoken(rate))
    assert_words_fit(plan)
    breathe = plan.part_named("breathe")
    assert any(c.text in SCRIPT.exhale for c in breathe.cues)


def test_four_seven_eight_stops_after_four_cycles():
    plan = plan_for({"breathing": {"pattern": "4-7-8", "minutes": 10}})
    found = breaths(plan.part_named("breathe"))
    assert len(found) == 4
    holds = [s for s in plan.part_named("breathe").segments if s.phase == "hold"]
    assert [s.seconds for s in holds] == [7.0] * 4


def test_cyclic_sigh_tops_up_then_exhales_twice_as_long():
    part = plan_for({"breathing": {"pattern": "cyclic-sigh"}}).part_named("breathe")
    phases = [s for s in part.segments if s.phase][:3]
    assert [s.phase for s in phases] == ["inhale", "inhale", "exhale"]
    assert phases[1].seconds < phases[0].seconds
    assert phases[0].end < phases[1].end
    assert math.isclose(phases[2].seconds, 2 * (phases[0].seconds + phases[1].seconds))


rates = st.floats(3.4, 12, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    pattern=st.sampled_from(["paced-exhale", "cyclic-sigh", "4-7-8", "resonance", "box"]),
    minutes=st.floats(1, 50, allow_nan=False),
    pair=st.tuples(rates, rates).map(sorted),
    words_per_minute=st.integers(80, 250),
    drawl=st.floats(0.5, 2.0),
)
def test_any_config_within_bounds_gives_a_sound_plan(pattern, minutes, pair, words_per_minute,
                                                      drawl):
    target, start = pair
    guess = estimate_spoken(words_per_minute)
    plan = build_plan(
        parse({"breathing": {"pattern": pattern, "minutes": minutes,
                             "start_rate": start, "target_rate": target}}),
        SCRIPT, lambda text: guess(text) * drawl)
    assert_words_fit(plan)
    assert tuple(p.name for p in plan.parts) == DEFAULT_PARTS
    for a, b in zip(plan.parts, plan.parts[1:], strict=False):
        assert math.isclose(a.stop, b.start, abs_tol=1e-6)
    assert 60 <= plan.seconds <= 60 * 60
    assert plan.segments[-1].end == 0.0 and plan.lightness_at(plan.seconds) == 0.0
    for s in plan.segments:
        assert s.seconds > 0 and 0 <= s.begin <= 1 and 0 <= s.end <= 1
    found = breaths(plan.part_named("breathe"))
    if pattern == "paced-exhale":
        got = [60 / (i + e) for i, e, _ in found]
        assert math.isclose(got[0], start) and all(
            a >= b - 1e-9 for a, b in itertools.pairwise(got))
        assert all(e / i >= 1.8 for i, e, _ in found)
    for i, e, _ in found:
        assert 1 <= i <= 8 and 1 <= e <= 12
    ground = plan.part_named("ground")
    ends = [c.at for c in ground.cues[2:]] + [ground.stop]
    for cue, sense, nxt in zip(ground.cues[1:], SCRIPT.senses, ends, strict=True):
        assert nxt - (cue.at + cue.seconds) >= sense_pause(sense.count) - 1e-9


def test_a_session_longer_than_an_hour_is_refused_with_a_clear_message(tmp_path):
    from device.core.config import ConfigError
    from device.core.plan import plan_session
    from device.files.config_file import load

    path = tmp_path / "long.toml"
    path.write_text("[breathing]\nminutes = 50\n")
    config = load(path)
    slow_voice = {text: 25.0 for text in SCRIPT.texts()}  # a script read very slowly
    with pytest.raises(ConfigError) as caught:
        plan_session(config, SCRIPT, slow_voice)
    message = str(caught.value)
    assert str(path) in message and "breathing.minutes = 50" in message
    assert "within 60 min" in message
    assert plan_session(config, SCRIPT, {}).seconds <= 60 * 60


def test_every_line_of_the_parts_that_run_goes_to_the_voice_maker_with_room_for_a_recording():
    config = parse({"breathing": {"pattern": "box"}})
    lines = voice_lines(config, SCRIPT)
    assert [(ln.id, ln.text) for ln in lines] == [
        (i, t) for i, t in SCRIPT.lines if not i.startswith("partner.")
        and i != "breathe.own_pace"], "partner is off, and there is no breath sensor"
    with_partner = parse({"session": {"parts": [*DEFAULT_PARTS[:-1], "partner", "close"]},
                          "sensor": {"kind": "mpu6050"}})
    assert [(ln.id, ln.text) for ln in voice_lines(with_partner, SCRIPT)] == list(SCRIPT.lines)
    assert ("breathe.own_pace", SCRIPT.own_pace) in [
        (ln.id, ln.text) for ln in voice_lines(config, SCRIPT, sensed=True)], "--breather"
    # ...and the journal's "N of M lines ready" counts it where it is made (demo --breather
    # said 40 of 39)
    from device.commands.run import session_lines

    assert session_lines(config, SCRIPT, sensed=True) == session_lines(config, SCRIPT) + 1
    limit = {ln.id: ln.max_seconds for ln in lines}
    assert limit["breathe.inhale.in"] == pytest.approx(4.0 + CUE_GRACE)  # box: 4 s phases
    assert limit["breathe.hold.hold"] == pytest.approx(4.0 + CUE_GRACE)
    see = next(ln for ln in lines if ln.id == "ground.senses.see")
    assert see.max_seconds > 3 * estimate_spoken(140)(see.text)  # room for a slow reader


def test_the_default_session_names_the_feeling_after_the_breathing_in_quiet():
    plan = plan_for()
    feel = plan.part_named("feel")
    assert [p.name for p in plan.parts].index("feel") == 2  # right after breathe
    assert [c.text for c in feel.cues] == list(SCRIPT.feel)
    for cue, after in itertools.pairwise([*feel.cues, None]):
        end = after.at if after else feel.stop
        assert end - (cue.at + cue.seconds) >= SCRIPT.feel_pause - 1e-9, "quiet to notice"
    assert "partner" not in [p.name for p in plan.parts], "off by default"


def test_session_parts_choose_and_order_the_parts():
    breathing_only = plan_session(parse({"session": {"parts": ["arrive", "breathe",
                                                               "close"]}}), SCRIPT, {})
    assert [p.name for p in breathing_only.parts] == ["arrive", "breathe", "close"]
    assert breathing_only.lightness_at(breathing_only.seconds - 1e-6) < 0.01
    assert {c.text for c in breathing_only.cues} <= {*SCRIPT.arrive, *SCRIPT.inhale,
                                                     *SCRIPT.exhale, *SCRIPT.reminders,
                                                     *SCRIPT.close}
    everything = parse({"session": {"parts": ["arrive", "breathe", "feel", "ground", "body",
                                              "aftercare", "partner", "close"]}})
    plan = plan_session(everything, SCRIPT, {})
    assert [c.text for c in plan.part_named("partner").cues] == list(SCRIPT.partner)
    assert plan.seconds > plan_for().seconds > breathing_only.seconds


def test_a_part_the_script_has_no_words_for_is_refused_by_name(tmp_path):
    from importlib import resources

    text = resources.files("device.words").joinpath("script.toml").read_text()
    older = text[:text.index("[feel]")] + text[text.index("[ground]"):]  # before feel existed
    (tmp_path / "old.toml").write_text(older)
    script = load_script(tmp_path / "old.toml")
    assert script.feel == ()
    with pytest.raises(ScriptError, match=r"old.toml: \[session\] parts has feel, but the "
                                          r"script has no \[feel.lines\]"):
        plan_session(Config(), script, {})
    no_feel = parse({"session": {"parts": ["arrive", "breathe", "ground", "close"]}})
    assert [p.name for p in plan_session(no_feel, script, {}).parts][-2:] == ["ground", "close"]


@pytest.mark.parametrize("wpm", range(80, 251, 10))
def test_every_cued_breath_has_its_cues_within_its_phases_at_every_voice_rate(wpm):
    """However slowly the voice is set to speak, each phase of the first breaths gets a cue
    (a shorter one if the longest does not fit), and no cue runs past its phase."""
    config = parse({"voice": {"rate": wpm}})
    plan = plan_session(config, SCRIPT, {})
    breathe = plan.part_named("breathe")
    phases = [s for s in breathe.segments if s.phase]
    cued = phases[:2 * SCRIPT.cue_breaths]  # paced-exhale: inhale, exhale
    for segment in cued:
        [cue] = [c for c in breathe.cues if math.isclose(c.at, segment.start, abs_tol=1e-6)]
        assert cue.at + cue.seconds <= segment.stop + CUE_GRACE + 1e-9


@pytest.mark.parametrize("pause", [math.nan, math.inf, 1e300, 1e6])
def test_the_planner_refuses_a_plan_past_its_bound_before_building_it(pause):
    """A script the loader would refuse, given to the planner directly: it stops within its
    bound and says so, instead of adding light until memory runs out (1e300) or ending the
    part at once with its lines at no time at all (nan)."""
    import tracemalloc

    from device.core.config import ConfigError

    script = replace(SCRIPT, feel_pause=pause)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"the session would last more than 240 min with "
                                              r"breathing.minutes = 4 and the built-in script"):
            plan_session(Config(), script, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 ** 2
