"""The microphone and the playback of a take, through the real audio stack: PortAudio into
PulseAudio, where a null sink's monitor is the microphone and paplay is the person speaking.

Each test module gets a null sink of its own (in the tests' PulseAudio, see conftest.py), so
no other test's sound reaches the recording.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audio.clip import Clip
from audio.microphone import Microphone, play

pytestmark = pytest.mark.audio

RATE = 48000


@pytest.fixture(scope="module")
def sink(own_sink):
    return own_sink


class Listener:
    """parecord on the sink's monitor: it keeps the null sink awake (a null sink with nobody
    listening runs in 2-second steps) and hears what is played into the sink."""

    def __init__(self, sink: str, path: Path) -> None:
        self.path = path
        self._process = subprocess.Popen(
            ["parecord", f"--device={sink}.monitor", "--raw", "--format=float32le",
             f"--rate={RATE}", "--channels=1", "--latency-msec=10", str(path)],
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while (not path.exists() or path.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.05)

    def heard_since(self, offset: int) -> np.ndarray:
        return np.fromfile(self.path, dtype="<f4")[offset // 4 :]

    def size(self) -> int:
        return self.path.stat().st_size

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


@pytest.fixture
def listener(sink, tmp_path, monkeypatch):
    """The sink is the default input and output of this process, with a listener on it."""
    monkeypatch.setenv("PULSE_SOURCE", f"{sink}.monitor")
    monkeypatch.setenv("PULSE_SINK", sink)
    heard = Listener(sink, tmp_path / "monitor.raw")
    yield heard
    heard.stop()


def tone(freq: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * freq * t)


def sounding(x: np.ndarray, rate: int) -> tuple[float, float]:
    """Seconds the signal is clearly audible, and its strongest frequency."""
    loud = np.flatnonzero(np.abs(x) > 0.05)
    spectrum = np.abs(np.fft.rfft(x))
    freq = float(np.argmax(spectrum)) * rate / len(x)
    return ((loud[-1] - loud[0]) / rate if len(loud) else 0.0), freq


def test_a_take_holds_what_was_said_into_the_microphone(listener, sink, tmp_path) -> None:
    voice = tmp_path / "voice.wav"
    voice.write_bytes(Clip(tone(440, 1.0), RATE).to_wav_bytes())
    microphone = Microphone()
    microphone.start()
    time.sleep(0.2)  # real capture: the person takes a breath, speaks, then presses Enter
    subprocess.run(["paplay", f"--device={sink}", str(voice)], check=True, timeout=30)
    time.sleep(0.2)
    take = microphone.stop()
    assert not microphone.recording
    assert take.rate == microphone.rate
    seconds, freq = sounding(take.samples, take.rate)
    assert seconds == pytest.approx(1.0, abs=0.05), "the whole second, nothing lost"
    assert freq == pytest.approx(440, abs=2)
    assert microphone.overflows == 0


def test_a_take_stops_keeping_sound_at_its_limit(listener, sink, tmp_path) -> None:
    microphone = Microphone(max_seconds=0.3)
    microphone.start()
    time.sleep(0.6)
    take = microphone.stop()
    assert microphone.full
    assert take.seconds == pytest.approx(0.3, abs=1e-3)


def test_playback_is_heard_whole_before_it_returns(listener) -> None:
    clip = Clip(tone(660, 1.0, 22050), 22050)
    before = listener.size()
    started = time.monotonic()
    play(clip)
    took = time.monotonic() - started
    time.sleep(0.1)
    seconds, freq = sounding(listener.heard_since(before), RATE)
    assert took >= 0.95, "it returns once the clip has been played, not before"
    assert seconds == pytest.approx(1.0, abs=0.05), "the whole clip was heard"
    assert freq == pytest.approx(660, abs=2)


def test_no_microphone_and_no_speaker_say_so_plainly(tmp_path) -> None:
    """With no audio stack at all (PulseAudio out of reach and no sound card)."""
    code = (
        "from audio.clip import Clip\n"
        "from audio.microphone import Microphone, play\n"
        "from audio.stream import AudioUnavailable, list_output_devices\n"
        "import numpy as np, sounddevice as sd\n"
        "if any(d['max_input_channels'] for d in sd.query_devices()):\n"
        "    print('HAS-DEVICES')\n"
        "for attempt in (Microphone, lambda: play(Clip(np.ones(10) * 0.1, 48000))):\n"
        "    try:\n"
        "        attempt()\n"
        "    except AudioUnavailable as exc:\n"
        "        print(exc)\n"
    )
    env = dict(os.environ, PULSE_SERVER="none", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, cwd=Path(__file__).resolve().parents[2])
    if "HAS-DEVICES" in done.stdout:
        pytest.skip("this machine has sound hardware besides PulseAudio")
    assert done.returncode == 0, done.stderr
    microphone, speaker = done.stdout.splitlines()
    assert microphone.startswith("no microphone found: plug one in")
    assert speaker.startswith("no audio output device")
