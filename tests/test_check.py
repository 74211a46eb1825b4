"""`ebbtide check` reports each part of the device; missing hardware is only a warning."""

from __future__ import annotations

from device.check import report
from device.config import parse
from device.script import load_script


def test_reports_pattern_voice_audio_and_pins(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    script = load_script()
    assert report(parse({"breathing": {"minutes": 3}}), script) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["pattern", "voice", "voice cache",
                                                      "audio", "pins"]
    assert f"{tmp_path / 'state' / 'voice'}: all {len(script.texts())} lines ready" in lines[2]
    # The whole script is in the cache now, so the service starts without rendering.
    assert len(list((tmp_path / "state" / "voice").glob("*.wav"))) >= len(script.texts())
    assert "paced-exhale, 3 min of breathing" in lines[0]
    assert lines[1].startswith("voice: espeak-ng, voice ") and "140 words/min: ok" in lines[1]
    assert "light on GPIO18, button on GPIO17" in lines[4]


def test_four_seven_eight_is_reported_in_cycles(capsys, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    report(parse({"breathing": {"pattern": "4-7-8", "minutes": 10}}), load_script())
    assert "4-7-8, 4 cycles of breathing" in capsys.readouterr().out


def test_a_missing_audio_device_is_a_warning_not_a_failure(capsys, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert report(parse({"audio": {"device": "no-such-device"}}), load_script()) == 0
    audio = next(line for line in capsys.readouterr().out.splitlines()
                 if line.startswith("audio:"))
    assert "warning" in audio and "no-such-device" in audio and "light only" in audio
