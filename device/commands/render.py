"""`ebbtide render`: play a whole session offline, faster than real time, into files.

The real runner plays the plan on a simulated clock, against the real Light on a
mock pin and the real speaker and mixer, so the files show what the device would do
(by day, or as in the quiet hours of [night] when rendered `at` a time in them):
  session.wav  the audio mix at real time positions: voice, chime and tide
  light.csv    t_s,part,lightness,duty at 100 rows per second
  events.csv   t_s,kind,detail,duration_s for parts, phases and spoken lines
  levels.csv   t_s,mix_dbfs,tide_dbfs: the RMS level of the whole mix and of the tide alone,
               every 50 ms
  haptic.csv   t_s,part,strength,duty at 100 rows per second, when [haptic] has a pin
and returns the plan with a SessionTimeline of what was played, for the picture
(device/pictures/session.py) that `ebbtide render` draws from it.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from audio.clip import WavWriter
from audio.mixer import Mixer
from audio.speaker import Speaker
from device.commands import exit_codes
from device.core.config import Config, session_settings
from device.core.errors import EbbtideError
from device.core.events import Event, FadingOut, LineSpoken, PartBegan, PhaseBegan, TouchChanged
from device.core.listening import FRAME_S, ByEar, by_ear
from device.core.pacing import Swell
from device.core.plan import SessionPlan, plan_session, voice_lines
from device.core.script import Script
from device.core.sensed_session import SessionSensing
from device.core.text import minutes_text
from device.files.atomic_file import atomic_file
from device.pictures.session import SessionTimeline
from device.service.breath_listening import BreathListener, breathing_plan, laid_breaths
from device.service.breather import KINDS as BREATHER_KINDS
from device.service.breather import SEED as BREATHER_SEED
from device.service.breather import RecordedBreather, SimulatedBreather
from device.service.clock import SimulatedClock
from device.service.controller import Controller
from device.service.runner import Runner
from device.service.wiring import dress, light_for, motor_for, speaker_for
from hardware.light import Light, RGBLight
from hardware.pins import mock_factory

log = logging.getLogger("ebbtide")

ROWS_PER_SECOND = 100
RENDER_RATE = 48000
LEVEL_SECONDS = FRAME_S  # the sound's level is measured over blocks this long


@dataclass
class _Recording:
    """The light writes and events of one simulated session."""

    clock: SimulatedClock
    light_t: list[float] = field(default_factory=list)
    light_rows: list[tuple[float, float]] = field(default_factory=list)
    events: list[tuple[float, str, str, float]] = field(default_factory=list)
    touch_t: list[float] = field(default_factory=list)
    touches: list[tuple[float, float]] = field(default_factory=list)  # (touch, duty)

    def __call__(self, event: Event) -> None:
        match event:
            case TouchChanged():
                self.touch_t.append(event.at)
                self.touches.append((event.touch, event.value))
            case PartBegan() | FadingOut() | PhaseBegan():
                self.events.append((event.at, event.kind, event.name, event.seconds))
            case LineSpoken():
                self.events.append((event.at, "say", event.text, event.seconds))

    def parts_as_played(self, plan: SessionPlan) -> None:
        """Each part's length as it was played: a part is noted as it begins, when a plan
        that grows with the person (--breather) has not yet decided where it ends."""
        played = {part.name: round(part.seconds, 3) for part in plan.parts}
        self.events = [(t, kind, name, played.get(name, seconds) if kind == "part" else seconds)
                       for t, kind, name, seconds in self.events]


class _RecordedLight:
    """The real Light (one LED or an RGB one), with every write noted at its simulated time."""

    def __init__(self, light: Light | RGBLight, recording: _Recording) -> None:
        self._light = light
        self._recording = recording

    def show(self, lightness: float) -> float:
        duty = self._light.show(lightness)
        self._recording.light_t.append(self._recording.clock.now())
        self._recording.light_rows.append((lightness, duty))
        return duty

    def off(self) -> None:
        self._light.off()
        self._recording.light_t.append(self._recording.clock.now())
        self._recording.light_rows.append((0.0, 0.0))


class AudioSink(Protocol):
    def write(self, samples: np.ndarray) -> None: ...


class LevelMeter:
    """Passes the mix on to its sink, measuring the RMS level of every block as it goes
    (the whole mix is never held: a long session would not fit a Pi Zero's memory)."""

    def __init__(self, sink: AudioSink, rate: int, block_seconds: float = LEVEL_SECONDS) -> None:
        self._sink = sink
        self.block = round(rate * block_seconds)
        self.block_seconds = self.block / rate
        self._energy = 0.0
        self._filled = 0
        self.levels_db: list[float] = []

    def write(self, samples: np.ndarray) -> None:
        self._sink.write(samples)
        x = np.asarray(samples, dtype=np.float64)
        squares = (x * x).reshape(len(x), -1).mean(axis=1)  # mono or the channels' mean
        while len(squares):
            take = min(self.block - self._filled, len(squares))
            self._energy += float(squares[:take].sum())
            self._filled += take
            squares = squares[take:]
            if self._filled == self.block:
                self._finish_block()

    def close(self) -> None:
        """Count a last, part-filled block as if silence followed."""
        if self._filled:
            self._finish_block()

    def _finish_block(self) -> None:
        mean = self._energy / self.block
        self.levels_db.append(10 * math.log10(mean) if mean > 1e-12 else -120.0)
        self._energy, self._filled = 0.0, 0


@dataclass(frozen=True)
class Rendered:
    """A rendered session: its plan and what it did, for the table and the picture; and
    how well its breathing part can be followed by ear (None without one, or a tide)."""

    plan: SessionPlan
    timeline: SessionTimeline
    by_ear: ByEar | None = None
    # What the session knew of the simulated person (--breather); None without one.
    sensing: SessionSensing | None = None


class OfflineSound:
    """The real speaker on an offline mixer, mixed out to a sink as the session goes.

    Offline, sample n is heard at n / rate seconds after the clock's `origin`, so the mixer
    places every sound exactly as it would live. The mix is written out up to the present
    before each new sound, so the mixer holds only what is playing, as it would live, and
    a WAV is streamed to disk.
    """

    def __init__(self, speaker: Speaker, clock: SimulatedClock, sink: AudioSink) -> None:
        self.speaker = speaker
        self.lead = speaker.lead
        self.speaks = speaker.speaks
        self._clock = clock
        self._sink = sink
        self._origin = clock.now()
        self.tide: AudioSink | None = None  # where the tide alone goes, if anywhere

    def mix_until(self, t: float) -> None:
        """Write the mix (and the tide alone, if it is measured) out up to clock time t."""
        mixer = self.speaker.mixer
        sample = round((t - self._origin) * mixer.rate)
        while mixer.position < sample:
            frames = min(sample - mixer.position, mixer.rate)
            self._sink.write(mixer.render(frames))
            if self.tide is not None and self.speaker.tide_stem is not None:
                self.tide.write(self.speaker.tide_stem.render(frames))

    def _at(self, at: float | None) -> float | None:
        self.mix_until(self._clock.now())
        return None if at is None else at - self._origin

    def say(self, text: str, at: float | None = None) -> float:
        return self.speaker.say(text, self._at(at))

    def chime(self, at: float | None = None) -> None:
        self.speaker.chime(self._at(at))

    def pace(self, at: float, swell: Swell) -> None:
        self.mix_until(self._clock.now())
        self.speaker.pace(at - self._origin, swell)

    def hush(self) -> None:
        self._at(None)
        self.speaker.hush()


def render_session(config: Config, script: Script, out: Path,
                   at: datetime.time | None = None, breather: Breather | None = None,
                   seed: int = BREATHER_SEED) -> Rendered:
    """Write session.wav, light.csv, events.csv and levels.csv for one whole session into
    `out`, started by day, or at the time of day `at` (the quiet hours then apply). Each
    file replaces the one there only once it is whole (WriteFailed otherwise). With a
    `breather` ("follow", "ignore", or a recording's times and samples), a simulated person
    lies on the breath sensor and the session paces them as the device would (`seed`: which
    of the simulated people it is)."""
    out.mkdir(parents=True, exist_ok=True)
    speaker = speaker_for(config, Mixer(RENDER_RATE), language=script.language)
    speaker.tide_stem = Mixer(RENDER_RATE)
    speaker.tide_stem.anchor = (0, 0.0)
    spoken = speaker.prepare(voice_lines(config, script, sensed=breather is not None))
    plan = plan_session(config, script, spoken)
    settings = session_settings(config, at)

    clock = SimulatedClock()
    listener: BreathListener | None = None
    recording = _Recording(clock)
    pins = mock_factory()
    light = light_for(config, pins)
    dress(light, settings)
    motor = motor_for(config, pins)
    try:
        with atomic_file(out / "session.wav") as file, WavWriter(file, RENDER_RATE) as wav:
            meter = LevelMeter(wav, RENDER_RATE)
            tide = LevelMeter(_Nowhere(), RENDER_RATE)
            sound = OfflineSound(speaker, clock, meter)
            sound.tide = tide
            runner = Runner(clock, _RecordedLight(light, recording), sound,
                            Controller(clock, config.button.hold_seconds), recording,
                            motor=motor)
            speaker.tide_stem.fade_to(settings.volume)
            delay = speaker.open(settings.volume) or 0.0
            if breather is not None:
                listener = _listening(config, script, spoken, clock, runner, plan, breather,
                                      seed)
                plan = listener.first_plan()
            runner.run(plan, delay, source=listener)  # plays to the end
            if listener is not None and listener.plan is not None:
                plan = listener.plan  # the plan as it grew with the person
                recording.parts_as_played(plan)
            sound.mix_until(math.ceil(plan.seconds * RENDER_RATE) / RENDER_RATE)
            meter.close()
            tide.close()
    finally:
        light.close()
        if motor is not None:
            motor.close()
    shown = _sampled(plan, recording.light_t, recording.light_rows)
    _write_sampled(out / "light.csv", plan, ("lightness", "duty"), ("{:.5f}", "{:.6f}"), shown)
    touches = None
    if motor is not None:
        # The touch (0-1 of the configured strength) and the duty the motor was given.
        touches = _sampled(plan, recording.touch_t, recording.touches)
        _write_sampled(out / "haptic.csv", plan, ("strength", "duty"), ("{:.4f}", "{:.4f}"),
                       touches)
    _write_events(out / "events.csv", recording)
    _write_levels(out / "levels.csv", meter, tide)
    timeline = SessionTimeline(
        title=f"Ebbtide session ({config.breathing.pattern}, {minutes_text(plan.seconds)}): "
              "light, voice and breathing over time",
        seconds=plan.seconds, events=tuple(recording.events),
        light_t=[n / ROWS_PER_SECOND for n in range(len(shown))],
        lightness=[lightness for lightness, _ in shown],
        level_t=[n * meter.block_seconds for n in range(len(meter.levels_db))],
        level_db=meter.levels_db,
        tide_db=tide.levels_db if config.audio.tide else None,
        touch=None if touches is None else [touch for touch, _ in touches])
    return Rendered(plan, timeline, _by_ear(plan, tide) if config.audio.tide else None,
                    None if listener is None else listener.sensing(plan))


# A simulated person: "follow", "ignore", or a recording (times (N,), acceleration (N, 3)).
Breather = str | tuple[np.ndarray, np.ndarray]


def breather_from(value: str) -> Breather:
    """--breather's value: follow, ignore, or a recording's samples (a BreathFileError, one
    line, if the file cannot be read as one)."""
    from device.commands.breath import BreathFileError, read_recording

    if value in BREATHER_KINDS:
        return value
    if not Path(value).exists() and not Path(value).is_symlink():
        kinds = " or ".join(BREATHER_KINDS)
        raise BreathFileError(f"{value}: no such file (give {kinds}, or a recording's "
                              "t_s,ax,ay,az CSV file)")
    return read_recording(Path(value))


def sensed_summary(sensing: SessionSensing | None) -> str:
    """What the session knew of the simulated person, in one line ending `in step: N%`
    (None: the session has no breathing part)."""
    if sensing is None:
        return "the session has no breathing part ([session] parts): nothing was paced; " \
               "in step: none"
    if sensing.in_step_share is None:
        return "no breath was sensed: the breathing was paced as always; in step: none"
    own = "not read" if sensing.start_bpm is None else f"{sensing.start_bpm:.1f}/min"
    end = "not read" if sensing.end_bpm is None else f"{sensing.end_bpm:.1f}/min"
    paced = [b.rate_bpm for b in sensing.breaths]
    pacer = (f"the pacer {paced[0]:.1f} -> {paced[-1]:.1f}/min; " if paced else "")
    return (f"breathing sensed: their own rate {own} before, {end} at the end; {pacer}"
            f"in step: {sensing.in_step_share:.0%}")


def _listening(config: Config, script: Script, spoken: Mapping[str, float],
               clock: SimulatedClock, runner: Runner, plan: SessionPlan,
               breather: Breather, seed: int) -> BreathListener:
    """The breath listener the session grows by, hearing a simulated person on the sensor."""
    samples: SimulatedBreather | RecordedBreather
    listener: BreathListener | None = None

    def paced() -> list[float]:
        """The pacer's inhales on the clock, as the light shows them now."""
        shown = plan if listener is None or listener.plan is None else listener.plan
        if runner.started_at is None or "breathe" not in {p.name for p in shown.parts}:
            return []
        return [b.at + runner.started_at for b in laid_breaths(shown)]

    if isinstance(breather, str):
        samples = SimulatedBreather(breather, clock, paced, seed)
    else:
        samples = RecordedBreather(breather[0], breather[1], clock)
    listener = BreathListener(samples, clock, breathing_plan(config, script, spoken))
    return listener


class _Nowhere:
    """A sink that keeps nothing: the tide alone is only measured."""

    def write(self, samples: np.ndarray) -> None:
        pass


def _by_ear(plan: SessionPlan, tide: LevelMeter) -> ByEar | None:
    """How well the breathing part can be followed by the tide alone."""
    breathing = next((p for p in plan.parts if p.name == "breathe"), None)
    if breathing is None:
        return None
    phases = [(s.start, s.phase) for s in plan.segments if s.phase is not None]
    return by_ear(tide.levels_db, phases, breathing.start, breathing.stop,
                  tide.block_seconds)


def _write_levels(path: Path, mix: LevelMeter, tide: LevelMeter) -> None:
    with atomic_file(path, text=True) as f:
        writer = csv.writer(f)
        writer.writerow(["t_s", "mix_dbfs", "tide_dbfs"])
        for n, (whole, alone) in enumerate(zip(mix.levels_db, tide.levels_db, strict=False)):
            writer.writerow([f"{n * mix.block_seconds:.2f}", f"{whole:.2f}", f"{alone:.2f}"])


def _sampled(plan: SessionPlan, times: list[float],
             values: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """One pair per 10 ms: the last values written at or before that instant (the device
    writes at its own tick rate, and on every phase boundary)."""
    samples = []
    for n in range(round(plan.seconds * ROWS_PER_SECOND) + 1):
        k = bisect.bisect_right(times, n / ROWS_PER_SECOND + 1e-9) - 1
        samples.append(values[k] if k >= 0 else (0.0, 0.0))
    return samples


def _write_sampled(path: Path, plan: SessionPlan, names: tuple[str, str],
                   formats: tuple[str, str], samples: list[tuple[float, float]]) -> None:
    with atomic_file(path, text=True) as f:
        writer = csv.writer(f)
        writer.writerow(["t_s", "part", *names])
        for n, pair in enumerate(samples):
            t = n / ROWS_PER_SECOND
            writer.writerow([f"{t:.2f}", plan.part_at(t).name,
                             *(form.format(v) for form, v in zip(formats, pair, strict=True))])


def _write_events(path: Path, recording: _Recording) -> None:
    with atomic_file(path, text=True) as f:
        writer = csv.writer(f)
        writer.writerow(["t_s", "kind", "detail", "duration_s"])
        for t, kind, detail, seconds in recording.events:
            writer.writerow([f"{t:.3f}", kind, detail, f"{seconds:.3f}"])


def cmd_render(args: argparse.Namespace) -> int:
    """Render the session offline into --out, print what was written; the exit code."""
    from device.commands.config_and_script import load
    from device.files.atomic_file import WriteFailed
    from device.pictures.picture import PictureError, check_path, require
    from device.pictures.session import write_session_picture

    config, script = load(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        log.error("--out %s is a file, not a folder: give a folder for the session's files "
                  "(it is made if it does not exist)", out)
        return exit_codes.USAGE
    at = None
    if args.at is not None:
        try:
            at = datetime.time.fromisoformat(args.at)
        except ValueError:
            log.error("--at %s is not a time of day: give it as HH:MM, for example 23:30",
                      args.at)
            return exit_codes.USAGE
    breather = None
    if args.breather is not None:
        try:
            breather = breather_from(args.breather)
        except EbbtideError as error:
            log.error("--breather %s", error)
            return exit_codes.USAGE
    drawing = Path(args.plot) if args.plot else out / "session.png"
    try:
        check_path(drawing)
        if args.plot:
            require()  # asked for by name: say at once when it cannot be drawn
    except PictureError as error:
        log.error("%s", error)
        return exit_codes.USAGE
    try:
        rendered = render_session(config, script, out, at, breather)
    except WriteFailed as error:
        log.error("%s", error)
        return exit_codes.FAILED
    except OSError as error:
        log.error("cannot write to %s: %s", out, error.strerror or error)
        return exit_codes.FAILED
    plan = rendered.plan
    print(f"{'part':<10} {'starts':>9}  {'lasts':>8}  lines")
    for part in plan.parts:
        print(f"{part.name:<10} {part.start:7.1f} s  {part.seconds:6.1f} s  "
              f"{len(part.cues):5d}")
    print(f"{'total':<10} {'':>9}  {plan.seconds:6.1f} s  ({plan.seconds / 60:.1f} min)")
    if at is not None:
        print(f"started at {at:%H:%M}: " + ("in the quiet hours ([night]), quieter and dimmer"
                                            if config.night.active(at) else "by day"))
    ear = rendered.by_ear
    if ear is not None:
        print(f"by ear, through the breathing: the tide is heard in {ear.present:.1%} of it, "
              f"and rises and falls with the breath in {ear.direction:.1%} of it")
    if breather is not None:
        print(sensed_summary(rendered.sensing))
    touch = f", {out / 'haptic.csv'}" if config.haptic.pin is not None else ""
    print(f"wrote {out / 'session.wav'}, {out / 'light.csv'}, {out / 'events.csv'}, "
          f"{out / 'levels.csv'}{touch}")
    try:
        write_session_picture(rendered.timeline, drawing, sensing=rendered.sensing)
    except PictureError as error:
        # The files are written; only the picture is missing. Asked for by name, that is a
        # failure; by default, a note.
        if args.plot:
            log.error("%s", error)
            return exit_codes.FAILED
        print(f"no picture: {error}")
        return exit_codes.OK
    print(f"drew {drawing}")
    return exit_codes.OK
