"""A real-time session, side by side with gpiozero's pulse() breathing the same pattern.

Ours is the whole appliance on the monotonic clock, with its sound on the null sink. The
baseline is `PWMLED.pulse(fade_in_time, fade_out_time)` on its own mock pin, started at the
same moment. Both are timed by when each phase boundary was written, against its plan.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
from dataclasses import dataclass, replace

from gpiozero import PWMLED

from audio.speaker import Speaker
from bench.pins import recording_factory
from bench.press import BASELINE_FADE, NOON, SETTLE_S
from device.core.config import Config
from device.core.events import Event, PhaseBegan, SoundReport, TouchChanged
from device.core.haptic import TAP_GAP_S, TAP_S
from device.core.script import Script
from device.service.appliance import Appliance
from device.service.clock import MonotonicClock

MOTOR_PIN = 12
SAME_MOMENT_S = 0.001  # a cue and a phase boundary planned this close belong together


@dataclass(frozen=True)
class SessionTiming:
    seconds: float  # how long the session was measured
    ours_phase_error_ms: list[float]
    haptic_phase_error_ms: list[float]  # the touch, on the same boundaries
    ours_drift_ms_per_10min: float
    cue_vs_light_ms: list[float]
    baseline_phase_error_ms: list[float]
    baseline_drift_ms_per_10min: float
    underflows: int | None = None  # blocks the output ran dry (None: no sound output)
    latest_sound_ms: float | None = None  # the most any sound was heard after its moment
    gc_pauses_ms: tuple[float, ...] = ()  # each garbage collection during the session


def measure_session(config: Config, script: Script, speaker: Speaker,
                    seconds: float) -> SessionTiming:
    """Run ours and the baseline together for `seconds` of real time; ours with a motor
    (on a pin of its own), so the touch is timed too."""
    factory = recording_factory()
    phases: list[float] = []  # when each phase boundary was written
    touches: list[float] = []  # when each change of the touch was written
    sound: list[SoundReport] = []

    def note(event: Event) -> None:
        if isinstance(event, PhaseBegan):
            phases.append(time.monotonic())
        elif isinstance(event, TouchChanged):
            touches.append(time.monotonic())
        elif isinstance(event, SoundReport):
            sound.append(event)

    collecting: list[float] = []
    pauses: list[float] = []

    def timed(phase: str, info: dict) -> None:
        """gc.callbacks: how long each collection held the interpreter (and the callback)."""
        if phase == "start":
            collecting[:] = [time.perf_counter()]
        elif collecting:
            pauses.append((time.perf_counter() - collecting[0]) * 1000)

    if config.haptic.pin is None:
        config = replace(config, haptic=replace(config.haptic, pin=MOTOR_PIN))
    appliance = Appliance(
        config, script, clock=MonotonicClock(), pin_factory=factory, speaker=speaker,
        listener=note, log_tracebacks=False, wall_clock=lambda: NOON)
    thread = threading.Thread(target=appliance.serve, name="bench-session")
    thread.start()
    gc.callbacks.append(timed)
    time.sleep(SETTLE_S)
    baseline_factory = recording_factory()
    baseline = PWMLED(config.light.pin, pin_factory=baseline_factory)
    try:
        button = factory.pin(config.button.pin)
        button.drive_low()
        baseline.pulse(*BASELINE_FADE)
        time.sleep(0.1)
        button.drive_high()
        time.sleep(seconds - 0.1)
        heard = speaker.heard()
    finally:
        appliance.controller.quit()
        thread.join(timeout=10)
        gc.callbacks.remove(timed)
        baseline.close()
        appliance.close()
    t0 = appliance.runner.started_at or 0.0
    planned = [t0 + s.start for s in appliance.plan.segments if s.phase]
    ours = [(w - p) * 1000 for w, p in zip(phases, planned, strict=False)]
    elapsed = planned[len(ours) - 1] - t0
    writes = baseline_factory.pin(config.light.pin).writes
    baseline_errors, baseline_elapsed = _pulse_errors(writes)
    factory.close()
    baseline_factory.close()
    breathe = appliance.plan.part_named("breathe")
    after_taps = breathe.start + 2 * TAP_S + TAP_GAP_S
    boundaries = [t0 + s.start for s in breathe.segments
                  if s.phase and s.start > after_taps and t0 + s.start < touches[-1]]
    haptic = [(next(w for w in touches if w >= b - 0.0005) - b) * 1000 for b in boundaries]
    return SessionTiming(
        seconds=seconds,
        ours_phase_error_ms=ours,
        haptic_phase_error_ms=haptic,
        ours_drift_ms_per_10min=ours[-1] * 600 / elapsed,
        cue_vs_light_ms=_cue_vs_light(appliance, t0, phases, heard),
        baseline_phase_error_ms=baseline_errors,
        baseline_drift_ms_per_10min=baseline_errors[-1] * 600 / baseline_elapsed,
        underflows=sound[-1].underflows if sound else None,
        latest_sound_ms=sound[-1].late_ms if sound else None,
        gc_pauses_ms=tuple(round(p, 3) for p in pauses),
    )


def _pulse_errors(writes: list[tuple[float, float]]) -> tuple[list[float], float]:
    """pulse()'s boundaries (each top at 1.0, each return to 0) against a perfect clock
    started at its first write; the errors in ms, and the time from start to the last."""
    start = writes[0][0]
    fade_in, fade_out = BASELINE_FADE
    period = fade_in + fade_out
    errors, tops, bottoms, last = [], 0, 0, 0.0
    for (_, before), (t, value) in itertools.pairwise(writes):
        if value == 1.0 and before < 1.0:
            planned = start + fade_in + period * tops
            tops += 1
        elif value == 0.0 and before > 0.0:
            bottoms += 1
            planned = start + period * bottoms
        else:
            continue
        errors.append((t - planned) * 1000)
        last = planned - start
    return errors, last


def _cue_vs_light(appliance: Appliance, t0: float, phases: list[float],
                  heard: list[tuple[float | None, float]]) -> list[float]:
    """For each cue planned on a phase boundary: when it was heard minus when that light
    phase was written, in ms."""
    segments = [s for s in appliance.plan.segments if s.phase]
    written = dict(zip((s.start for s in segments), phases, strict=False))
    values = []
    for cue in appliance.plan.cues:
        boundary = next((b for b in written if abs(b - cue.at) < SAME_MOMENT_S), None)
        if boundary is None:
            continue
        meant = t0 + cue.at
        actual = next((a for asked, a in heard
                       if asked is not None and abs(asked - meant) < 0.005), None)
        if actual is not None:
            values.append((actual - written[boundary]) * 1000)
    return values
