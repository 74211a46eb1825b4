"""A real session through the real audio stack: sounddevice -> PortAudio -> PulseAudio's
null sink, recorded from the sink's monitor with parecord and checked sample by sample.

Also the faults a speaker meets in the field: an output that will not open, and one that
goes away mid-session. Each leaves a light-only session that ends normally and dark.
"""

from __future__ import annotations

import datetime
import gc
import itertools
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from audio.speaker import Speaker
from device.core.config import Config
from device.core.config_schema import parse
from device.files.script_file import load_script
from device.service.appliance import Appliance
from device.service.clock import MonotonicClock
from device.service.wiring import speaker_for

pytestmark = [pytest.mark.audio, pytest.mark.process]

SCRIPT = load_script()
# Local noon: outside the quiet hours, so nothing is scaled down.
NOON = datetime.datetime(2026, 6, 1, 12, 0).astimezone()
SESSION_S = 26.0  # the arrival and the first breaths, cued on every phase
SEARCH_S = 0.1  # how far from its planned place a cue is looked for


def _pulse_ready() -> bool:
    if not (shutil.which("parecord") and shutil.which("pactl")):
        return False
    done = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True)
    return done.returncode == 0 and "\tnull\t" in done.stdout


@pytest.fixture(autouse=True)
def steady_collector():
    """The service's own garbage only. Earlier tests leave this process holding about 100,000
    objects the service never has (matplotlib's figures among them); one full collection of
    them takes 20-35 ms here, holding the GIL long enough to make the audio callback late
    or run dry. Collected once and frozen, they cost the collector nothing during the test.
    """
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture
def null_sink_monitor(null_sink):
    """The null sink's monitor; CI sets EBBTIDE_REQUIRE_AUDIO so a missing stack fails."""
    if not _pulse_ready():
        if os.environ.get("EBBTIDE_REQUIRE_AUDIO"):
            pytest.fail("PulseAudio with a null sink is required here but is not running")
        pytest.skip("no PulseAudio null sink on this machine")
    return "null.monitor"


class Recorder:
    """parecord on the monitor: float32 mono at the mixer's rate, so nothing is resampled."""

    def __init__(self, monitor: str, rate: int, path: Path) -> None:
        self.rate, self.path = rate, path
        self._process = subprocess.Popen(
            ["parecord", f"--device={monitor}", "--raw", "--format=float32le", f"--rate={rate}",
             "--channels=1", "--latency-msec=10", str(path)],
            stderr=subprocess.DEVNULL,
        )
        # A listener keeps the null sink running in small blocks; without one it sleeps in
        # 2-second blocks and a new stream waits for the next.
        deadline = time.monotonic() + 5
        while (not path.exists() or path.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> np.ndarray:
        self._process.send_signal(signal.SIGINT)
        self._process.wait(timeout=10)
        return np.fromfile(self.path, dtype="<f4")


def make_appliance(config: Config, speaker: Speaker, events: list) -> tuple[Appliance, object]:
    factory = MockFactory(pin_class=MockPWMPin)
    clock = MonotonicClock()
    device = Appliance(config, SCRIPT, clock=clock, pin_factory=factory, speaker=speaker,
                       listener=lambda e: events.append((clock.now(), e.kind, e.record())),
                       wall_clock=lambda: NOON)
    return device, factory


def run_session(device: Appliance, seconds: float) -> str:
    """One session, ended by a quit after `seconds` (as SIGTERM would); its outcome."""
    stopper = threading.Timer(seconds, device.controller.quit)
    stopper.start()
    try:
        outcome = device.session()
    finally:
        stopper.cancel()
    return outcome.value if outcome else "error"


def onset(recording: np.ndarray, clip: np.ndarray, near: int, spread: int) -> tuple[int, float]:
    """Where clip best matches the recording within `spread` samples of `near`, and how well
    (normalised correlation, 1.0 is the clip itself)."""
    lo = max(near - spread, 0)
    window = recording[lo : near + spread + len(clip)]
    n = len(window) + len(clip)
    size = 1 << (n - 1).bit_length()
    scores = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(clip, size)), size)
    scores = scores[: len(window) - len(clip) + 1]
    best = int(np.argmax(scores))
    segment = window[best : best + len(clip)]
    quality = scores[best] / (np.linalg.norm(clip) * np.linalg.norm(segment) + 1e-12)
    return lo + best, float(quality)


def test_a_real_session_sounds_every_cue_on_time_into_the_null_sink(null_sink_monitor,
                                                                     tmp_path) -> None:
    config = parse({"breathing": {"minutes": 1},
                    "audio": {"volume": 1.0, "chime": False, "tide": False}})
    speaker = speaker_for(config)
    events: list = []
    device, factory = make_appliance(config, speaker, events)
    recorder = Recorder(null_sink_monitor, speaker.rate, tmp_path / "monitor.raw")
    try:
        outcome = run_session(device, SESSION_S)
    finally:
        recording = recorder.stop()
        device.close()
        factory.close()
    rate = speaker.rate
    assert outcome == "interrupted"
    started = next(t for t, e, f in events if e == "session")
    cues = [c for c in device.plan.cues if c.at + c.seconds < SESSION_S - 1.0]
    assert len(cues) >= 5
    [audio] = [f for _, e, f in events if e == "audio"]
    assert (audio["underflows"], audio["dropped"], audio["failure"]) == (0, 0, None), \
        "no underflows"
    print(f"sounds heard at most {audio['late_ms']} ms after their moment; first sound "
          f"{(audio['first_heard'] - started) * 1000:.1f} ms after the session began")
    # No sound late enough for a person to notice: sound after picture goes unnoticed up to
    # about 125 ms, sound before it up to 45 ms (ITU-R BT.1359); the stricter 45 ms is the
    # bound. Here it is 0 to 21 ms (a sound placed one or two 10.7 ms blocks late, as when a
    # pause of the collector held the callback up); the bench reports the figure itself.
    assert audio["late_ms"] < 45.0, "every sound reached the speaker in time"

    # Every spoken cue is in the recording, spaced as the plan spaces them.
    clips = [speaker.clip_or_make(c.text).samples for c in cues]
    first, quality = onset(recording, clips[0], len(recording) // 2, len(recording) // 2)
    assert quality > 0.9, "the first words are in the recording"
    errors_ms = []
    for cue, clip in zip(cues, clips, strict=True):
        planned = first + round((cue.at - cues[0].at) * rate)
        found, quality = onset(recording, clip, planned, round(SEARCH_S * rate))
        assert quality > 0.9, f"{cue.text!r} is in the recording"
        errors_ms.append((found - planned) / rate * 1000)
    print(f"cue onset error vs plan, ms: median {np.median(np.abs(errors_ms)):.2f}, "
          f"max {np.max(np.abs(errors_ms)):.2f}, all {np.round(errors_ms, 2).tolist()}")
    assert max(abs(e) for e in errors_ms) <= 20.0

    # Silence where the plan has silence: between one cue's end and the next one's start.
    for cue, following in itertools.pairwise(cues):
        quiet_from = first + round((cue.at + cue.seconds - cues[0].at + 0.05) * rate)
        quiet_to = first + round((following.at - cues[0].at - 0.05) * rate)
        if quiet_to > quiet_from:
            assert np.max(np.abs(recording[quiet_from:quiet_to])) < 1e-3, cue.text
    assert np.max(np.abs(recording[: max(first - round(0.05 * rate), 0)]), initial=0.0) < 1e-3

    # No sample clips, and the end is a fade, not a cut.
    assert np.max(np.abs(recording)) < 0.99
    assert np.max(np.abs(np.diff(recording))) < 0.5


def test_an_output_that_will_not_open_leaves_a_light_only_session(pins, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    config = parse({"breathing": {"minutes": 1}, "audio": {"device": "no-such-speaker"}})
    speaker = speaker_for(config)
    events: list = []
    device, factory = make_appliance(config, speaker, events)
    try:
        outcome = run_session(device, 3.0)
        lights = [f["value"] for _, e, f in events if e == "light"]
    finally:
        device.close()
        factory.close()
    assert outcome == "interrupted"
    assert max(lights) > 0 and lights[-1] == 0.0, "the light breathed, then ended off"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ebbtide")]
    assert len(lines) == 1 and "no-such-speaker" in lines[0] and "light only" in lines[0]


def test_an_output_that_goes_away_mid_session_leaves_the_light_to_finish(
        null_sink_monitor, pulseaudio_control, tmp_path, caplog):
    """PulseAudio is killed mid-session, as when a USB speaker is pulled out."""
    caplog.set_level(logging.WARNING)
    config = parse({"breathing": {"minutes": 1}})
    speaker = speaker_for(config)
    events: list = []
    device, factory = make_appliance(config, speaker, events)
    threads = set(threading.enumerate())
    kill_pulseaudio, start_pulseaudio = pulseaudio_control
    killer = threading.Timer(3.0, kill_pulseaudio)
    try:
        killer.start()
        outcome = run_session(device, 6.0)
        lights = [f["value"] for _, e, f in events if e == "light"]
        began, ended = (t for t, e, _ in events if e == "session")
    finally:
        killer.join()
        device.close()
        factory.close()
    assert outcome == "interrupted"
    assert ended - began >= 5.9, "the session went on after the sound went"
    assert max(lights) > 0 and lights[-1] == 0.0, "and the light ended off"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ebbtide")]
    assert len(lines) == 1, lines
    assert "light only" in lines[0]
    audio = [f for _, e, f in events if e == "audio"]
    assert audio and audio[0]["failure"], "the trace says why the sound stopped"
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) <= threads, "no thread left behind"
    # The next session tries the output again, and it plays.
    assert speaker.open() is None, "no server: light only"
    speaker.close()
    start_pulseaudio()
    assert speaker.open() is not None, "the server is back: sound again"
    speaker.close()
