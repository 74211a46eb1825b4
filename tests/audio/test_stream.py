"""A real sounddevice stream into whatever output exists here (PulseAudio's null sink in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from audio.mixer import Mixer
from audio.stream import (
    AudioUnavailable,
    SoundStream,
    describe_output,
    list_output_devices,
    output_rate,
)

pytestmark = pytest.mark.audio


@pytest.fixture
def default_output() -> str:
    try:
        return describe_output(None)
    except AudioUnavailable as exc:
        pytest.skip(f"no audio output device here: {exc}")


def test_plays_a_clip_and_leaves_no_thread_behind(default_output: str) -> None:
    threads_before = set(threading.enumerate())
    stream = SoundStream(Mixer(output_rate()))
    stream.start()
    try:
        assert stream.rate == output_rate()
        clip = np.sin(np.arange(stream.rate // 5) * 0.05).astype(np.float32) * 0.2
        stream.mixer.schedule(clip)
        deadline = time.monotonic() + 5.0
        while stream.mixer.busy and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not stream.mixer.busy  # the device pulled the whole clip through the mixer
        assert stream.mixer.position >= len(clip)
        assert stream.failure is None
        assert stream.mixer.anchor is not None, "the callback said when its blocks are heard"
    finally:
        stream.close()
    assert set(threading.enumerate()) == threads_before


def test_missing_device_names_the_ones_that_exist(default_output: str) -> None:
    stream = SoundStream(Mixer(44100), device="no-such-device")
    with pytest.raises(AudioUnavailable) as raised:
        stream.start()
    message = str(raised.value)
    assert "no-such-device" in message
    for name in list_output_devices():
        assert name in message


def test_default_output_is_described(default_output: str) -> None:
    assert "Hz" in default_output
    assert any(name in default_output for name in list_output_devices())
    named = list_output_devices()[0]
    assert describe_output(named).startswith(named)
    with pytest.raises(AudioUnavailable, match="not found"):
        describe_output("no-such-device")


def test_no_output_device_is_a_clear_error() -> None:
    # PortAudio reads the device list once, at import, so look from a fresh process that
    # cannot reach PulseAudio.
    code = (
        "from audio.stream import AudioUnavailable, describe_output, list_output_devices\n"
        "if list_output_devices():\n"
        "    print('HAS-DEVICES')\n"
        "else:\n"
        "    try:\n"
        "        describe_output(None)\n"
        "    except AudioUnavailable as exc:\n"
        "        print(exc)\n"
    )
    env = dict(os.environ, PULSE_SERVER="none")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    if "HAS-DEVICES" in done.stdout:
        pytest.skip("this machine has sound hardware besides PulseAudio")
    assert done.stdout.strip().startswith("no audio output device")


def test_a_stream_that_fails_in_an_unexpected_way_is_said_as_it_is() -> None:
    """Whatever opening a stream raises is the reason given (light only), not a silence
    reported later as a sound system that did not answer."""
    from audio.stream import AudioUnavailable, started_stream

    def make() -> None:
        raise RuntimeError("the device went away")

    with pytest.raises(AudioUnavailable) as raised:
        started_stream(make, lambda error: AudioUnavailable(f"no audio output: {error}"))
    assert str(raised.value) == "no audio output: the device went away"
