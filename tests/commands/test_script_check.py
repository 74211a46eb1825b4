"""`ebbtide script check`: a translated or edited script is checked before a person at 2 am
hears it: every key there, none unknown, breathing cues that fit, counts kept, and the tone."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources

import pytest

from device.commands.script_check import check_script, rendered_seconds
from device.core.config import Config
from device.core.config_schema import parse

BUILT_IN = resources.files("device.words").joinpath("script.toml").read_text(encoding="utf-8")


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
        resources.files("device.words").joinpath("script-de.toml").read_text(encoding="utf-8")
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


@pytest.mark.process
def test_the_command_exits_two_on_errors_and_zero_with_warnings(tmp_path):
    bad = edited(tmp_path, "Now four things you can touch", "Now some things you can touch")
    result = ebbtide("script", "check", "--estimate", bad)
    assert result.returncode == 2
    assert "error: " in result.stdout and "script check: 1 error(s)" in result.stdout
    (tmp_path / "script.toml").write_text(BUILT_IN.replace("I'm here", "Sorry. I'm here"))
    result = ebbtide("script", "check", "--estimate", str(tmp_path / "script.toml"))
    assert result.returncode == 0 and "script check: usable, 1 warning(s)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.process
def test_an_unreadable_or_broken_file_is_one_error(tmp_path):
    result = ebbtide("script", "check", "--estimate", str(tmp_path / "none.toml"))
    assert result.returncode == 2 and "cannot read the script" in result.stdout
    (tmp_path / "broken.toml").write_text("[arrive\n")
    result = ebbtide("script", "check", "--estimate", str(tmp_path / "broken.toml"))
    assert result.returncode == 2 and "is not valid TOML" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def _bounded(*args: str) -> subprocess.CompletedProcess[str]:
    """`ebbtide ARGS` with its memory capped at 1 GB: work that grows without bound fails
    here within seconds instead of taking the machine's memory."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run([sys.executable, "-m", "device.cli", *args], capture_output=True,
                          text=True, timeout=120, preexec_fn=cap)


@pytest.mark.parametrize(("old", "new", "said"), [
    ('here = "I\'m here with you."', 'here = "..."',
     'arrive.here = "..." is not allowed: use a line with words to speak'),
    ('here = "I\'m here with you."', 'here = "I\'m here\\u0000 with you."',
     "arrive.here = \"I'm here\\x00 with you.\" is not allowed: use text without control "
     "characters (\\x00 is one)"),
    ('here = "I\'m here with you."', 'here = "' + "word " * 5000 + '"',
     "arrive.here = \"word word"),
    ('in = "Breathe in."', 'in = "' + "in " * 40 + '"', "breathe.inhale.in = \"in in"),
    ("pause_seconds = 6", "pause_seconds = 1e300",
     "feel.pause_seconds = 1e+300 is not allowed: use a number from 0 to 60 seconds"),
    ("pause_seconds = 6", "pause_seconds = nan", "feel.pause_seconds = nan is not allowed"),
    ("cue_breaths = 3", "cue_breaths = inf", "breathe.cue_breaths = inf is not allowed"),
    ("reminder_seconds = 45", "reminder_seconds = -inf",
     "breathe.reminder_seconds = -inf is not allowed: use a number from 0 to 600 seconds"),
], ids=["punctuation", "nul", "5000-words", "long-cue", "huge-pause", "nan-pause",
        "inf-cue-breaths", "minus-inf-reminders"])
@pytest.mark.process
def test_a_line_or_number_no_session_can_use_is_refused_by_every_command(tmp_path, old, new,
                                                                        said):
    """`script check` exits 2 naming the line or key (it said "usable", while the line went
    silent or the session allocated until memory ran out); `check` and `render` refuse the
    script in the same words, in bounded memory."""
    script = edited(tmp_path, old, new)
    config = tmp_path / "config.toml"
    config.write_text(f'[voice]\nscript = "{script}"\n')
    for command in (["script", "check", "--estimate", script], ["check"],
                    ["render", "--out", str(tmp_path / "out")]):
        result = _bounded(*command, "--config", str(config))
        shown = result.stdout + result.stderr
        assert result.returncode == 2, (command, shown)
        assert said in shown, (command, shown)
        assert len([line for line in shown.splitlines() if said in line]) == 1
        assert "Traceback" not in shown and "MemoryError" not in shown
    if "5000" in new:
        assert "at most 140 words here (about 60 s at 140 words/min; this one has 5,000)" in \
            shown


def test_the_duplicate_id_check_is_linear(tmp_path):
    """Every id once, checked as the lines are read: 50,000 lines load in moments (the
    count of each id among all the others took minutes), and a repeated id is still
    named."""
    import time

    from device.core.script import ScriptError
    from device.files.script_file import load_script

    many = "".join(f'line-{n} = "Line {n}."\n' for n in range(50_000))
    path = edited(tmp_path, "[arrive.lines]\n", "[arrive.lines]\n" + many)
    began = time.monotonic()
    assert len(load_script(path).arrive) == 50_003
    assert time.monotonic() - began < 5
    path = edited(tmp_path, 'id = "touch"', 'id = "see"')
    with pytest.raises(ScriptError, match=r"the line id ground\.senses\.see is used twice"):
        load_script(path)


@pytest.mark.process
def test_script_check_counts_and_times_the_session_as_check_does(tmp_path):
    """Both say the same session: script check said "44 lines; every part: 10.5 min"
    while the session is 9:39 (the partner part, off, counted in one and not the other)."""
    config = tmp_path / "config.toml"
    config.write_text("[breathing]\nminutes = 2\n")
    given = ["--config", str(config)]
    check = subprocess.run([sys.executable, "-m", "device.cli", "check", *given],
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"})
    assert check.returncode == 0, check.stderr
    [session] = [line for line in check.stdout.splitlines() if line.startswith("session: ")]
    script = ebbtide("script", "check", *given)
    assert script.returncode == 0, script.stdout
    assert ("  45 lines, 39 in this session (partner is not in [session] parts; "
            "breathe.own_pace is said only with a breath sensor, [sensor] kind)\n") in \
        script.stdout
    assert f"  {session} (with 2 min of breathing)\n" in script.stdout
    assert "  with partner too: " in script.stdout


def test_lines_whose_turn_never_comes_are_named(tmp_path):
    report = check_script(parse({"breathing": {"minutes": 1}}), "")
    [note] = [n for n in report.notes if n.startswith("not spoken in this session: ")]
    assert "breathe.reminders.gently" in note and "more minutes of breathing" in note
    assert "breathe.hold" not in note, "the pattern has no hold: said once, elsewhere"
    assert "partner" not in note, "not in this session's parts"
    assert "own_pace" not in note, "its turn comes only to someone out of step with the light"
