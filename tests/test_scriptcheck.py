"""`ebbtide script check`: a translated or edited script is checked before a person at 2 am
hears it: every key there, none unknown, breathing cues that fit, counts kept, and the tone."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pytest

from device.config import Config, parse
from device.scriptcheck import check_script, rendered_seconds

BUILT_IN = resources.files("device").joinpath("script.toml").read_text(encoding="utf-8")


def ebbtide(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "device.cli", *args], capture_output=True,
                          text=True, timeout=300)


def edited(tmp_path, old: str, new: str) -> str:
    assert old in BUILT_IN, old
    path = tmp_path / "script.toml"
    path.write_text(BUILT_IN.replace(old, new))
    return str(path)


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_shipped_script_passes_with_its_real_voice(language):
    report = check_script(Config(), language, rendered_seconds)
    assert report.errors == [] and report.warnings == []
    voice = "espeak-ng" if language == "de" else "piper"
    assert any(f"made with {voice}" in note for note in report.notes), report.notes


def test_a_missing_line_and_an_unknown_key_are_errors(tmp_path):
    path = str(tmp_path / "script.toml")
    text = BUILT_IN.replace('water = "If you can, take a sip of water."\n', "")
    text = text.replace("pause_seconds = 6", "pause_secnds = 6")
    (tmp_path / "script.toml").write_text(text)
    report = check_script(Config(), path)
    assert any("aftercare.lines.water is missing" in e for e in report.errors), report.errors
    assert any("unknown key feel.pause_secnds" in e and "Did you mean feel.pause_seconds?" in e
               for e in report.errors), report.errors


def test_a_breathing_cue_too_long_for_its_phase_is_an_error(tmp_path):
    path = edited(tmp_path, 'grows = "In, as it grows."',
                  'grows = "Breathe in softly, as the light grows brighter."')
    report = check_script(Config(), path)
    [error] = report.errors
    assert "breathe.inhale.grows takes" in error and "its inhale lasts 2.8 s" in error
    # A faster voice fits it.
    assert check_script(parse({"voice": {"rate": 250}}), path).errors == []


def test_a_grounding_prompt_must_say_its_count(tmp_path):
    path = edited(tmp_path, "Now four things you can touch", "Now some things you can touch")
    [error] = check_script(Config(), path).errors
    assert "ground.senses.touch has count = 4, but does not say it" in error


@pytest.mark.parametrize(("line", "found"), [
    ("Calm down now.", "Calm down"),
    ("You must breathe slowly.", "You must"),
    ("You should rest.", "should"),
    ("Sorry this is hard.", "Sorry"),
])
def test_wording_the_tone_rules_avoid_is_a_warning_with_the_reason(tmp_path, line, found):
    path = edited(tmp_path, "I'm here with you.", line)
    report = check_script(Config(), path)
    assert report.errors == []
    [warning] = report.warnings
    assert f'arrive.here: "{found}":' in warning


@pytest.mark.parametrize(("language", "key", "line", "found", "why"), [
    ("en", "arrive.here", "I'm here. You're not alone.", "not alone", "cannot know"),
    ("en", "arrive.here", "You're safe now.", "You're safe", "did go wrong"),
    ("en", "arrive.here", "Nothing went wrong.", "Nothing went wrong", "did go wrong"),
    ("en", "aftercare.common", "This happens, and it passes.", "it passes", "usually eases"),
    ("en", "partner.close", "Stay calm. Nothing needs fixing.", "Nothing needs", "cannot know"),
    ("en", "aftercare.no-apology", "This is your body's response.", "This is your body",
     "claims a cause"),
    ("en", "partner.tears", "It's the body letting go.", "letting go", "claims a cause"),
    ("en", "aftercare.words", "Say: I'm okay, just tired.", "I'm okay", "ask for time"),
    ("de", "arrive.here", "Ich bin da. Du bist nicht allein.", "nicht allein", "nicht wissen"),
    ("de", "arrive.here", "Du bist in Sicherheit.", "Du bist in Sicherheit", "nicht wissen"),
    ("de", "aftercare.common", "Es geht vorbei.", "geht vorbei", "Versprechen"),
    ("de", "aftercare.no-apology", "So reagiert dein Körper.", "So reagiert dein Körper",
     "Ursache"),
    ("de", "partner.tears", "So lässt der Körper los.", "lässt der Körper los", "Ursache"),
    ("de", "aftercare.words", "Sag: Ich bin okay.", "Ich bin okay", "um Zeit bitten"),
])
def test_a_claim_the_device_cannot_know_is_a_warning_with_its_reason(tmp_path, language, key,
                                                                    line, found, why):
    source = BUILT_IN if language == "en" else \
        resources.files("device").joinpath("script-de.toml").read_text(encoding="utf-8")
    group, name = key.rsplit(".", 1)
    start = source.index(f"[{group}.lines]")
    line_start = source.index(f"\n{name} = ", start) + 1
    line_end = source.index("\n", line_start)
    path = tmp_path / "script.toml"
    path.write_text(source[:line_start] + f'{name} = "{line}"' + source[line_end:])
    report = check_script(Config(), str(path))
    assert report.errors == []
    [warning] = report.warnings
    assert f'{key}: "{found}":' in warning and why in warning


def test_the_command_exits_two_on_errors_and_zero_with_warnings(tmp_path):
    bad = edited(tmp_path, "Now four things you can touch", "Now some things you can touch")
    result = ebbtide("script", "check", "--estimate", bad)
    assert result.returncode == 2
    assert "error: " in result.stdout and "script check: 1 error(s)" in result.stdout
    (tmp_path / "script.toml").write_text(BUILT_IN.replace("I'm here", "Sorry. I'm here"))
    result = ebbtide("script", "check", "--estimate", str(tmp_path / "script.toml"))
    assert result.returncode == 0 and "script check: usable, 1 warning(s)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unreadable_or_broken_file_is_one_error(tmp_path):
    result = ebbtide("script", "check", "--estimate", str(tmp_path / "none.toml"))
    assert result.returncode == 2 and "cannot read the script" in result.stdout
    (tmp_path / "broken.toml").write_text("[arrive\n")
    result = ebbtide("script", "check", "--estimate", str(tmp_path / "broken.toml"))
    assert result.returncode == 2 and "is not valid TOML" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
