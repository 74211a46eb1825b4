"""The Speaker, as the session uses it: prepare, say at a sample, hush, survive missing parts."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audio import cache
from audio.mixer import Mixer
from audio.speaker import FADE_OUT_S, Speaker
from device.core.voice import Line

RATE = 16000
TEXTS = ["You are not alone.", "Breathe in as the light grows.", "And out, slowly."]
LINES = [Line(f"test.{n}", text) for n, text in enumerate(TEXTS)]


def first_loud(x: np.ndarray, threshold: float = 0.01) -> int:
    return int(np.flatnonzero(np.abs(x) > threshold)[0])


def ebbtide_records(caplog, level: int = logging.WARNING) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("ebbtide") and r.levelno >= level]


def test_prepare_returns_the_spoken_length_of_every_text() -> None:
    speaker = Speaker(mixer=Mixer(RATE))
    lengths = speaker.prepare(LINES)
    assert list(lengths) == TEXTS
    assert all(0.5 < seconds < 5.0 for seconds in lengths.values())
    assert lengths[TEXTS[1]] > lengths[TEXTS[2]]
    assert speaker.rate == RATE


def test_say_places_the_speech_at_the_sample_heard_just_after_its_time() -> None:
    mixer = Mixer(RATE)
    speaker = Speaker(mixer=mixer)
    lengths = speaker.prepare(LINES)
    assert speaker.say(TEXTS[0], at=0.5) == lengths[TEXTS[0]]
    at = RATE // 2 + round(0.002 * RATE)  # a hair late, never early
    out = mixer.render(RATE * 4)[:, 0]
    assert np.all(out[:at] == 0.0)
    speech = np.flatnonzero(np.abs(out) > 0.01)
    spoken = np.flatnonzero(np.abs(speaker.clip_or_make(TEXTS[0]).samples) > 0.01)
    assert speech[0] == at + spoken[0]  # the clip begins exactly on its sample
    assert speech[-1] - speech[0] == spoken[-1] - spoken[0]  # all of it, nothing cut


def test_hush_silences_the_voice() -> None:
    mixer = Mixer(RATE)
    speaker = Speaker(mixer=mixer)
    speaker.say(TEXTS[1], at=0)
    speech = mixer.render(RATE // 2)[:, 0]
    assert np.max(np.abs(speech)) > 0.1
    speaker.hush()
    rest = mixer.render(RATE)[:, 0]
    assert np.all(rest[round(FADE_OUT_S * RATE) :] == 0.0)
    steps = np.abs(np.diff(np.concatenate([speech[-1:], rest])))
    assert steps.max() <= np.abs(np.diff(speech)).max(), "faded, never cut with a click"
    assert not mixer.busy


def test_unprepared_text_is_made_on_the_spot(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="ebbtide")
    speaker = Speaker(mixer=Mixer(RATE))
    assert speaker.say("Something new.") > 0.3
    assert any("not prepared" in r.getMessage() for r in ebbtide_records(caplog, logging.DEBUG))


def test_missing_device_runs_light_only_with_one_log_line(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ebbtide")
    speaker = Speaker(device="no-such-device")
    speaker.prepare(LINES)
    assert speaker.open() is None
    assert speaker.say(TEXTS[0]) > 0.5  # the session keeps its timing
    speaker.hush()
    speaker.close()
    records = ebbtide_records(caplog)
    assert len(records) == 1
    assert "light only" in records[0].getMessage()
    assert "no-such-device" in records[0].getMessage()
    assert not speaker.mixer.busy  # nothing piles up for a later session


@pytest.mark.audio
def test_live_session_opens_speaks_and_closes() -> None:
    speaker = Speaker()
    speaker.prepare(LINES[:1])
    delay = speaker.open()
    if not delay:
        pytest.skip("no audio output device here")
    mixer = speaker.mixer
    # The first word waits past PortAudio's start-up burst: never sooner than its latency.
    assert delay >= speaker._stream.latency
    try:
        assert speaker.say(TEXTS[0]) > 0.5
        assert mixer.busy
        deadline = time.monotonic() + 5.0
        while mixer.position < 0.3 * mixer.rate and time.monotonic() < deadline:
            time.sleep(0.01)  # real audio: let the device get into its stride mid-sentence
    finally:
        mid_sentence = mixer.position
        speaker.close()  # fades the voice out, lets the device play the fade, then releases it
    played = mixer.position - mid_sentence
    assert played >= 0.05 * mixer.rate, "the fade reached the device before it was closed"
    assert played < 1.0 * mixer.rate, "and the rest of the sentence did not"
    assert not mixer.busy


MISSING_LIBRARIES = """
import logging, pathlib, sys
sys.modules["sounddevice"] = None  # as on a machine without PortAudio
logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(message)s")
from audio.speaker import Speaker
from device.core.voice import Line
no_engines = [sys.executable, "-c", "import sys; sys.modules['pyttsx3'] = None; "
              "sys.modules['piper'] = None; from audio.voice_child import main; sys.exit(main())"]
speaker = Speaker(cache_dir=pathlib.Path(sys.argv[1]), maker_command=no_engines)
print("prepare", speaker.prepare([Line("x", "Hello.")]))
print("open", speaker.open())
print("say", speaker.say("Hello."))
speaker.hush()
speaker.close()
"""


def test_without_speech_engine_or_portaudio_the_session_still_runs(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MISSING_LIBRARIES, str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "prepare {}" in done.stdout
    assert "open None" in done.stdout
    assert "say 0.0" in done.stdout
    logs = [line for line in done.stderr.splitlines() if line.startswith("LOG ")]
    assert len(logs) == 2, logs  # one line for the voice, one for the output
    assert "pyttsx3" in logs[0] and "0 of 1 lines are ready" in logs[0]
    assert "libportaudio2" in logs[1]


def test_the_sound_side_loads_no_speech_engine_and_no_portaudio() -> None:
    code = (
        "import sys, audio.clip, audio.cache, audio.mixer, audio.stream, audio.speaker, "
        "audio.voicemaker, device.service.appliance\n"
        "print(sorted({'pyttsx3', 'piper', 'onnxruntime', 'sounddevice', '_hashlib'}"
        " & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_clip_damaged_before_a_session_is_made_again_never_silent(caplog) -> None:
    speaker = Speaker(mixer=Mixer(RATE))
    lengths = speaker.prepare(LINES)
    (path,) = [p for p in cache.default_cache_dir().glob("*.wav")
               if p == speaker._cached[TEXTS[1]]]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # the card lost the end of it
    caplog.set_level(logging.WARNING, logger="ebbtide")
    assert speaker.say(TEXTS[1], at=0.0) == pytest.approx(lengths[TEXTS[1]])
    said = ebbtide_records(caplog)
    assert len(said) == 1 and "making it again" in said[0].getMessage()
    assert cache.read(path).seconds == pytest.approx(lengths[TEXTS[1]])


def test_an_engine_that_crashes_leaves_its_line_silent_and_the_rest_spoken(
        tmp_path, caplog, crashing_engine) -> None:
    caplog.set_level(logging.WARNING, logger="ebbtide")
    speaker = Speaker(mixer=Mixer(RATE), cache_dir=tmp_path / "voice",
                      maker_command=crashing_engine("'light' in text"))
    lengths = speaker.prepare(LINES)
    assert set(lengths) == {TEXTS[0], TEXTS[2]}
    said = ebbtide_records(caplog)
    assert len(said) == 1 and "signal 11" in said[0].getMessage()
    assert "2 of 3 lines are ready" in said[0].getMessage()
    started = time.monotonic()
    assert speaker.say(TEXTS[1]) == 0.0  # silent, and not tried again mid-session
    assert time.monotonic() - started < 0.1
    assert speaker.say(TEXTS[2]) == pytest.approx(lengths[TEXTS[2]])


def test_no_output_device_at_all_runs_light_only() -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING, format='LOG %(message)s')\n"
        "from audio.stream import list_output_devices\n"
        "from audio.speaker import Speaker\n"
        "if list_output_devices():\n"
        "    print('HAS-DEVICES'); sys.exit()\n"
        "speaker = Speaker()\n"
        "print('open', speaker.open(), 'say', speaker.say('Hello.') > 0)\n"
    )
    env = dict(os.environ, PULSE_SERVER="none")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    if "HAS-DEVICES" in done.stdout:
        pytest.skip("this machine has sound hardware besides PulseAudio")
    assert "open None say True" in done.stdout
    logs = [line for line in done.stderr.splitlines() if line.startswith("LOG ")]
    assert len(logs) == 1
    assert "no audio output device" in logs[0] and "light only" in logs[0]


HUNG_SERVER_CHILD = """
import logging, sys, time
logging.basicConfig(level=logging.WARNING, format="LOG %(message)s")
from audio.speaker import Speaker
speaker = Speaker(cache_dir=sys.argv[1], chime=False, speaks=False)
started = time.monotonic()
delay = speaker.open()
print("open", delay, round(time.monotonic() - started, 1), flush=True)
"""


def test_a_sound_server_that_never_answers_leaves_the_session_light_only(tmp_path) -> None:
    """PulseAudio hung: it takes the connection and never answers. PortAudio would wait for
    good (on loading, and on opening a stream); the speaker gives up after ANSWER_S and says
    so in one line, so the session goes on with the light instead of hanging."""
    from audio.stream import ANSWER_S

    if not list(Path("/usr/share/alsa/alsa.conf.d").glob("*pulse*.conf")):
        pytest.skip("ALSA here does not go through PulseAudio (no pulse plugin config)")
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(str(tmp_path / "hung-server"))
    hung.listen(8)  # connections are taken (by the kernel), never answered
    try:
        done = subprocess.run(
            [sys.executable, "-c", HUNG_SERVER_CHILD, str(tmp_path / "voice")],
            env=dict(os.environ, PULSE_SERVER=f"unix:{tmp_path / 'hung-server'}"),
            capture_output=True, text=True, timeout=60)
    finally:
        hung.close()
    assert done.returncode == 0, done.stderr
    _, delay, seconds = done.stdout.split()
    assert delay == "None", "no sound this session"
    assert float(seconds) < 2 * ANSWER_S, "given up after ANSWER_S, not at the watchdog"
    logs = [line for line in done.stderr.splitlines() if line.startswith("LOG ")]
    assert len(logs) == 1, logs
    assert "did not answer within 3 s" in logs[0] and "light only" in logs[0]
