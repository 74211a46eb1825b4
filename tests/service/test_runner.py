"""The runner on a simulated clock: the light over time, the words and when, and the light
ending at 0 on every path."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from audio.chime import soft_chime
from audio.mixer import Mixer
from audio.speaker import FADE_OUT_S, Speaker
from device.commands.render import OfflineSound
from device.core.config import Config
from device.core.config_schema import parse
from device.core.plan import build_plan, voice_lines
from device.files.script_file import load_script
from device.service.clock import SimulatedClock
from device.service.controller import DEBOUNCE, Controller
from device.service.runner import SLOWEST_TICKS, STEP, TICK_HZ, Outcome, Runner
from device.service.wiring import speaker_for
from hardware.button import ButtonEdges
from hardware.light import Light
from hardware.lightness import lightness_for
from hardware.motor import Motor

SCRIPT = load_script()
RATE = 16000


class BreakingSound(OfflineSound):
    """The real sound, until its device fails at `fail_after` (fault injection)."""

    fail_after = math.inf

    def _at(self, at: float | None) -> float | None:
        if self._clock.now() >= self.fail_after:
            raise OSError("device unplugged")
        return super()._at(at)


class Recording:
    """Collects the mixed sound, as a WAV file would."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []

    def write(self, samples: np.ndarray) -> None:
        self.blocks.append(samples[:, 0].copy())


class FailingLight(Light):
    """A real Light whose driver breaks at a given time."""

    def __init__(self, *args, clock, fail_at, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock, self.fail_at = clock, fail_at

    def show(self, lightness):
        if self.clock.now() >= self.fail_at:
            raise RuntimeError("PWM write failed")
        return super().show(lightness)


@dataclass
class Rig:
    clock: SimulatedClock
    runner: Runner
    speaker: Speaker
    controller: Controller
    pin: object
    led_pin: object
    plan: object
    events: list = field(default_factory=list)
    button: ButtonEdges | None = None
    sound: OfflineSound | None = None
    recording: Recording | None = None
    epoch: float = 0.0

    def lights(self):
        return [(t, f["value"], f["lightness"]) for t, e, f in self.events if e == "light"]

    def of(self, kind):
        return [(t, f) for t, e, f in self.events if e == kind]

    def said(self):
        return [(t, f["text"]) for t, f in self.of("clip")]

    def audio(self, until: float | None = None) -> np.ndarray:
        """Everything heard from the start of the session until `until` (default: now)."""
        self.sound.mix_until(self.clock.now() if until is None else until)
        return np.concatenate(self.recording.blocks)

    def loudness(self, start: float, stop: float) -> float:
        """The peak level heard between two clock times."""
        audio = self.audio(stop + 0.1)
        first, last = (round((t - self.epoch) * self.speaker.rate) for t in (start, stop))
        return float(np.abs(audio[first:last]).max(initial=0.0))


def make_rig(pins, voice_cache, config: Config | None = None, light_cls=Light,
             epoch: float = 0.0, sound_cls=OfflineSound, **light_kwargs) -> Rig:
    config = config or Config()
    clock = SimulatedClock(epoch)
    events: list = []
    controller = Controller(clock, config.button.hold_seconds)
    button = ButtonEdges(config.button.pin, controller.edge, pin_factory=pins)
    light = light_cls(config.light.pin, max_brightness=config.light.max_brightness,
                      pin_factory=pins, **light_kwargs)
    speaker = speaker_for(config, Mixer(RATE), voice_cache)
    lengths = speaker.prepare(voice_lines(config, SCRIPT))
    recording = Recording()
    sound = sound_cls(speaker, clock, recording)
    runner = Runner(clock, light, sound, controller,
                    lambda e: events.append((clock.now(), e.kind, e.record())))
    plan = build_plan(config, SCRIPT, lengths.__getitem__)
    controller.session_began()
    return Rig(clock, runner, speaker, controller, pins.pin(config.button.pin),
               pins.pin(config.light.pin), plan, events, button, sound, recording, epoch)


def test_a_whole_session_plays_in_milliseconds_and_ends_dark(pins, voice_cache):
    rig = make_rig(pins, voice_cache)
    assert rig.runner.run(rig.plan) is Outcome.FINISHED
    assert math.isclose(rig.clock.now(), rig.plan.seconds)
    assert rig.led_pin.state == 0
    assert rig.lights()[-1][1] == 0.0
    assert [f["name"] for _, f in rig.of("part")] == [p.name for p in rig.plan.parts]


def test_the_light_follows_the_plan_on_the_cie_curve_in_steps_no_eye_can_see(pins,
                                                                            voice_cache):
    rig = make_rig(pins, voice_cache, parse({"light": {"max_brightness": 0.6}}))
    rig.runner.run(rig.plan)
    lights = rig.lights()
    for t, duty, lightness in lights[:-1]:
        assert math.isclose(lightness, round(rig.plan.lightness_at(t), 5), abs_tol=1e-5)
        assert math.isclose(lightness_for(duty) / 0.6, lightness, abs_tol=2e-5)
    # while the light moves, it is written at least 10 times a second (a write that leaves
    # the duty as it was is no event, hence twice that), at 50 Hz where it moves fastest;
    # a tick is left out only where the light moves slowly: no step a person could see
    breathe = rig.plan.part_named("breathe")
    inside = [(t, lightness) for t, _, lightness in lights if breathe.start <= t < breathe.stop]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(inside)]
    assert max(gaps) <= 2 * SLOWEST_TICKS / TICK_HZ + 1e-9
    assert max(abs(b[1] - a[1]) for a, b in itertools.pairwise(inside)
               if b[0] - a[0] > 1.5 / TICK_HZ) <= 2 * STEP  # under 1 L*
    assert sum(g > 1.5 / TICK_HZ for g in gaps) > len(gaps) / 10, "slow stretches skip ticks"


def test_every_inhale_rises_and_every_exhale_falls(pins, voice_cache):
    rig = make_rig(pins, voice_cache)
    rig.runner.run(rig.plan)
    lights = rig.lights()
    phases = rig.of("phase")
    assert len(phases) == len([s for s in rig.plan.segments if s.phase])
    for (t, f), (t_next, _) in itertools.pairwise(phases):
        inside = [d for (u, d, _) in lights if t <= u < t_next]
        if f["name"] in ("inhale", "exhale"):
            assert len(inside) >= TICK_HZ / SLOWEST_TICKS * (t_next - t) - 1, "10 Hz or more"
            assert inside[-1] != inside[0], t
        if f["name"] == "inhale":
            assert all(a < b for a, b in itertools.pairwise(inside)), t
        elif f["name"] == "exhale":
            assert all(a > b for a, b in itertools.pairwise(inside)), t


def test_phases_and_words_happen_exactly_on_their_planned_times(pins, voice_cache):
    rig = make_rig(pins, voice_cache)
    rig.runner.run(rig.plan)
    planned = [s.start for s in rig.plan.segments if s.phase]
    happened = [t for t, _ in rig.of("phase")]
    assert len(happened) == len(planned)
    assert max(abs(a - b) for a, b in zip(happened, planned, strict=True)) < 1e-6
    said = rig.said()
    assert [text for _, text in said] == [c.text for c in rig.plan.cues]
    for (t, _), cue in zip(said, rig.plan.cues, strict=True):
        assert abs(t - cue.at) < 1e-6
    clips = [f["seconds"] for _, f in rig.of("clip")]
    assert clips == [round(c.seconds, 3) for c in rig.plan.cues], "real clip lengths"


def test_a_short_press_moves_to_the_next_part_and_cuts_the_voice(pins, voice_cache):
    rig = make_rig(pins, voice_cache, parse({"audio": {"chime": False, "tide": False}}))
    line = rig.plan.part_named("breathe").cues[1]  # "And out, slowly."
    press = line.at + 0.1
    rig.clock.at(press, rig.pin.drive_low)
    rig.clock.at(press + 0.1, rig.pin.drive_high)
    assert rig.runner.run(rig.plan) is Outcome.FINISHED
    skip_at = press + 0.1 + DEBOUNCE  # the release counts once it has settled
    parts = rig.of("part")
    assert parts[2][1]["name"] == "feel"
    assert parts[2][0] == pytest.approx(skip_at)
    ground = rig.plan.part_named("feel")
    first_ground_line = next(t for t, text in rig.said() if text == ground.cues[0].text)
    assert math.isclose(first_ground_line, skip_at + ground.cues[0].at - ground.start)
    assert rig.loudness(line.at + 0.05, skip_at) > 0.1, "it was speaking at the skip"
    assert rig.loudness(skip_at + FADE_OUT_S + 0.01, first_ground_line) == 0.0, \
        "the line was cut at the skip (after a short fade), and nothing else sounded"
    assert rig.loudness(first_ground_line, first_ground_line + 0.5) > 0.1


def test_each_new_part_begins_with_the_chime_under_its_first_words(pins, voice_cache):
    rig = make_rig(pins, voice_cache, parse({"audio": {"tide": False}}))
    rig.runner.run(rig.plan)
    audio = rig.audio(rig.plan.seconds)
    for part in rig.plan.parts[1:]:
        start = round(part.start * RATE)
        heard = audio[start : start + round(0.3 * RATE)]
        assert np.array_equal(audio[start - round(0.05 * RATE) : start], np.zeros(round(
            0.05 * RATE), dtype=np.float32)) or part.name == "breathe", part.name
        if part.cues and part.cues[0].at > part.start + 0.3:  # the chime alone, at first
            expected = soft_chime(RATE)[: len(heard)]
            assert np.allclose(heard[round(0.002 * RATE):], expected[: len(heard) - round(
                0.002 * RATE)], atol=2e-4), part.name


def test_a_broken_sound_leaves_a_light_only_session_that_finishes(pins, voice_cache, caplog):
    rig = make_rig(pins, voice_cache, sound_cls=BreakingSound)
    rig.sound.fail_after = 20.0
    assert rig.runner.run(rig.plan) is Outcome.FINISHED
    assert rig.said() and all(t < 20.0 + rig.sound.lead for t, _ in rig.said())
    assert rig.led_pin.state == 0
    assert rig.lights()[-1][1] == 0.0
    failures = [r for r in caplog.records if "sound failed" in r.getMessage()]
    assert len(failures) == 1
    assert "light only" in failures[0].getMessage()


def test_a_skip_at_the_top_of_a_breath_glides_down_into_the_next_part(pins, voice_cache):
    rig = make_rig(pins, voice_cache)
    breathe = rig.plan.part_named("breathe")
    peak = next(s.stop for s in breathe.segments if s.phase == "inhale" and s.start > 40)
    rig.clock.at(peak - DEBOUNCE - 0.2, rig.pin.drive_low)
    rig.clock.at(peak - DEBOUNCE, rig.pin.drive_high)  # the skip lands on the peak
    rig.runner.run(rig.plan)
    lights = [(t, lightness) for t, _, lightness in rig.lights()]
    before = [v for t, v in lights if t < peak][-1]
    assert before > 0.95
    assert rig.plan.part_named("ground").segments[0].begin < 0.2
    after = [v for t, v in lights if peak <= t <= peak + 1.5]
    assert after[-1] < 0.3, "it reached the new part's light"
    assert max(abs(b - a) for a, b in itertools.pairwise([before, *after])) < 0.05


@pytest.mark.parametrize("stop_at", [2.6, 3.1, 14.4, 62.0, 201.7])
@pytest.mark.parametrize("epoch", [0.0, 1e6])
def test_a_hold_at_any_moment_fades_to_off_on_any_clock(pins, voice_cache, stop_at, epoch):
    rig = make_rig(pins, voice_cache, epoch=epoch)
    rig.clock.at(epoch + stop_at - 2.0, rig.pin.drive_low)
    assert rig.runner.run(rig.plan) is Outcome.STOPPED
    assert rig.clock.now() == pytest.approx(epoch + stop_at + 2.0)
    assert rig.led_pin.state == 0


def test_a_whole_session_on_a_clock_far_from_zero(pins, voice_cache):
    rig = make_rig(pins, voice_cache, epoch=1e6)
    assert rig.runner.run(rig.plan) is Outcome.FINISHED
    assert rig.clock.now() == pytest.approx(1e6 + rig.plan.seconds)


def test_holding_ends_the_session_voice_at_once_light_within_three_seconds(pins, voice_cache):
    rig = make_rig(pins, voice_cache)
    rig.clock.at(60.0, rig.pin.drive_low)
    rig.clock.at(70.0, rig.pin.drive_high)
    assert rig.runner.run(rig.plan) is Outcome.STOPPED
    assert all(t <= 62.0 for t, _ in rig.said())
    assert rig.said(), "it was speaking before the hold"
    assert rig.loudness(62.0 + FADE_OUT_S + 0.001, 65.0) == 0.0, "the sound stopped at the hold"
    lights = rig.lights()
    assert lights[-1][1] == 0.0 and lights[-1][0] <= 65.0
    fading = [d for t, d, _ in lights if t >= 62.0]
    assert all(a >= b for a, b in itertools.pairwise(fading))
    assert rig.led_pin.state == 0


def test_quit_turns_the_light_off_at_once(pins, voice_cache):
    rig = make_rig(pins, voice_cache)
    rig.clock.at(100.0, rig.controller.quit)
    assert rig.runner.run(rig.plan) is Outcome.INTERRUPTED
    assert rig.lights()[-1][:2] == (100.0, 0.0)
    assert rig.led_pin.state == 0


def test_a_broken_light_still_ends_dark_and_the_error_is_raised(pins, voice_cache):
    rig = make_rig(pins, voice_cache, light_cls=FailingLight, clock=None, fail_at=45.0)
    rig.runner.light.clock = rig.clock
    with pytest.raises(RuntimeError, match="PWM write failed"):
        rig.runner.run(rig.plan)
    assert rig.led_pin.state == 0


def test_keyboard_interrupt_mid_session_leaves_the_light_off(pins, voice_cache):
    rig = make_rig(pins, voice_cache)

    def interrupt():
        raise KeyboardInterrupt

    rig.clock.at(50.0, interrupt)
    with pytest.raises(KeyboardInterrupt):
        rig.runner.run(rig.plan)
    assert rig.led_pin.state == 0


def test_the_tide_rises_in_falls_out_steps_back_for_words_and_never_clicks(pins, voice_cache):
    """The tide alone (a second mixer hears only it), played by the runner: louder at the
    end of each free inhale than at its start and the other way round on an exhale; softer
    while a line is spoken; and as smooth across each phase edge as within a phase."""
    rig = make_rig(pins, voice_cache, parse({"audio": {"chime": False}}))
    rig.speaker.tide_stem = Mixer(RATE)
    rig.speaker.tide_stem.anchor = (0, 0.0)
    rig.sound.tide = alone = Recording()
    rig.runner.run(rig.plan)
    rig.sound.mix_until(rig.plan.seconds)
    tide = np.concatenate(alone.blocks)

    def level(start: float, stop: float) -> float:
        piece = tide[round(start * RATE):round(stop * RATE)]
        return 10 * math.log10(float(np.mean(piece**2)))

    spoken = [(c.at - 0.5, c.at + c.seconds + 0.8) for c in rig.plan.cues]
    breathe = rig.plan.part_named("breathe")
    free, ducked = [], []  # the tide at the top of each exhale: with words over it, or not
    for s in breathe.segments:
        if s.phase not in ("inhale", "exhale"):
            continue
        early, late = (level(s.start + s.seconds * a, s.start + s.seconds * (a + 0.2))
                       for a in (0.1, 0.7))
        if any(a < s.stop and s.start < b for a, b in spoken):
            if s.phase == "exhale" and any(a <= s.start and s.start + 0.7 <= b
                                           for a, b in spoken):
                ducked.append(level(s.start + 0.1, s.start + 0.7))
            continue
        assert (late > early + 3) if s.phase == "inhale" else (early > late + 3), s
        if s.phase == "exhale":
            free.append(level(s.start + 0.1, s.start + 0.7))
    assert len(free) >= 10 and len(ducked) >= 3
    assert max(ducked) < min(free) - 4
    jumps = np.abs(np.diff(tide))

    def roughness(start: int, stop: int) -> float:
        """The largest step between samples, against the tide's level there: a click stands
        out of it; a louder tide (a duck let go, the top of an inhale) does not."""
        return float(jumps[start:stop].max() / np.sqrt(np.mean(tide[start:stop] ** 2)))

    # At the edges with no words near: where a line begins or ends the duck changes the
    # tide's colour (the wash taken out, the foam thinned) and with it the steps' size.
    edges = [s for s in breathe.segments[1:]
             if not any(a - 1.0 < s.start < b + 1.0 for a, b in spoken)]
    assert len(edges) >= 20
    for s in edges:
        edge = round(s.start * RATE)
        assert roughness(edge - 240, edge + 240) < 1.5 * roughness(edge - RATE, edge - 480), s


@pytest.mark.parametrize("ending", ["quit", "crash"])
def test_the_runner_stills_the_motor_however_the_session_ends(pins, voice_cache, ending):
    """Quit mid-inhale, or the light failing mid-session: the motor ends still, by the
    runner itself (no appliance around it)."""
    rig = make_rig(pins, voice_cache)
    rig.runner.motor = Motor(12, pin_factory=pins)
    motor = pins.pin(12)
    inhale = next(s for s in rig.plan.part_named("breathe").segments[2:]
                  if s.phase == "inhale")
    moment = inhale.start + inhale.seconds / 2
    if ending == "quit":
        rig.clock.at(moment, rig.controller.quit)
        assert rig.runner.run(rig.plan) is Outcome.INTERRUPTED
    else:
        def fail(lightness: float) -> float:
            raise RuntimeError("PWM write failed")

        rig.clock.at(moment, lambda: setattr(rig.runner.light, "show", fail))
        with pytest.raises(RuntimeError):
            rig.runner.run(rig.plan)
    touched = [f["value"] for _, e, f in rig.events if e == "haptic"]
    assert max(touched) > 0.3 and touched[-1] == 0.0
    assert motor.state == 0
