"""`ebbtide check` reports each part of the device; missing hardware is only a warning."""

from __future__ import annotations

import re

from audio import cache
from audio.voicemaker import VoiceMaker
from device.commands.check import report
from device.core.config import Config
from device.core.config_schema import parse
from device.core.plan import voice_lines
from device.core.voice import VoiceSettings
from device.files.script_file import load_script


def _carried_on(out: str) -> list[str]:
    """The lines a person reads, after checking that a warning did not stop the check: no
    line is an error and it went on to its last line, the breath sensor's."""
    lines = out.splitlines()
    assert not [line for line in lines if ": error:" in line], out
    assert lines[-1].startswith("sensor: "), out
    return lines


def test_reports_pattern_voice_audio_and_pins(capsys, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    script = load_script()
    report(parse({"breathing": {"minutes": 3}}), script)
    lines = _carried_on(capsys.readouterr().out)
    assert [line.split(":")[0] for line in lines] == ["pattern", "voice", "voice cache",
                                                      "session", "audio", "pins", "sensor"]
    assert lines[1].startswith("voice: piper 1.8") and "en_US-joe-medium.onnx" in lines[1]
    assert lines[1].endswith("140 words/min")
    spoken = {line.text for line in voice_lines(Config(), script)}  # partner is off
    assert f"{cache.default_cache_dir()}: {len(spoken)} lines ready (" in lines[2]
    assert re.search(r"(\d+ made now|all were made before; checked) in \d+\.\d s; "
                     r"0 from recordings\)", lines[2]), lines[2]
    # The whole script is in the cache now, so the service starts without making any line.
    again = VoiceMaker(VoiceSettings(), cache.default_cache_dir()).fill(
        voice_lines(Config(), script), 48000)
    assert again.rendered == 0 and len(again.lines) == len(spoken)
    assert "paced-exhale, 3 min of breathing" in lines[0]
    assert re.fullmatch(r"session: arrive 0:\d\d, breathe 2:\d\d, feel 0:\d\d, ground \d:\d\d, "
                        r"body \d:\d\d, aftercare \d:\d\d, close 0:\d\d; \d+:\d\d in all",
                        lines[3]), lines[3]
    assert "light on GPIO18, button on GPIO17" in lines[5]
    assert lines[6] == ('sensor: none configured ([sensor] kind = "none"): sessions are paced '
                        "without sensing the breath")


def test_a_voice_that_cannot_speak_is_a_warning(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python"))
    report(parse({"voice": {"engine": "espeak"}}), load_script())
    out = "\n".join(_carried_on(capsys.readouterr().out))
    assert "voice: warning: the voice maker could not start" in out
    assert "sessions run with the light only" in out


def test_four_seven_eight_is_reported_in_cycles(capsys, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    report(parse({"breathing": {"pattern": "4-7-8", "minutes": 10}}), load_script())
    assert "4-7-8, 4 cycles of breathing" in capsys.readouterr().out


def test_a_missing_audio_device_is_a_warning_not_a_failure(capsys, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    report(parse({"audio": {"device": "no-such-device"}}), load_script())
    audio = next(line for line in _carried_on(capsys.readouterr().out)
                 if line.startswith("audio:"))
    assert "warning" in audio and "no-such-device" in audio and "light only" in audio
