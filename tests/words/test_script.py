"""The spoken words live in an editable TOML file and follow the tone guide."""

from __future__ import annotations

import re

import pytest

from device.core.script import ScriptError
from device.files.script_file import load_script

SCRIPT = load_script()


def test_every_part_has_words():
    assert SCRIPT.arrive and SCRIPT.inhale and SCRIPT.exhale and SCRIPT.reminders
    assert [s.count for s in SCRIPT.senses] == [5, 4, 3, 2, 1]
    assert len(SCRIPT.body_steps) == 4 and SCRIPT.aftercare and SCRIPT.close
    assert len(SCRIPT.texts()) == len(set(SCRIPT.texts()))


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_words_keep_the_tone(language):
    script = load_script(language)
    words = " ".join(script.texts()).lower()
    for banned in ("calm down", "don't cry", "sorry", "sex", "therap", "went wrong",
                   "beruhig", "tut mir leid", "schiefgegangen"):
        assert banned not in words
    for line in script.texts():
        for sentence in re.split(r"[.!?]\s*", line):
            assert len(sentence.split()) <= 16, sentence


def test_the_words_cover_what_helps_after_an_intense_night():
    """The design's list: someone here, naming the feeling (with no need to), no apology
    needed, words for the person beside you that ask for time, no need to work it out now,
    gently not deeply, and what that person can do (listening if the tears are about them).
    """
    words = " ".join(SCRIPT.texts()).lower()
    assert "here with you" in words and "gently" in words and "not deeply" in words
    feel = " ".join(SCRIPT.feel).lower()
    assert "name" in feel and "reason" in feel and "notice" in feel
    assert "nothing to apologise for" in words and "tears are allowed" in words
    assert "i need a little time" in words
    assert "right now" in words and "later" in words
    assert "many people" in words and "usually eases" in words
    partner = " ".join(SCRIPT.partner).lower()
    for thing in ("calm", "close", "fix", "water", "blanket", "snack", "held", "space",
                  "not about you", "listen"):
        assert thing in partner, thing


def test_no_line_assumes_open_eyes_and_the_tears_line_comes_first():
    """Many people cover their eyes: the rhythm is offered by light or by sound, and the
    reminder about tears is the first one, not the third."""
    for script in (SCRIPT, load_script("de")):
        for text in script.texts():
            lowered = text.lower()
            assert "follow the light" not in lowered and "light lead" not in lowered, text
            assert "dem licht folgen" not in lowered and "licht führen" not in lowered, text
    arrival = " ".join(SCRIPT.arrive).lower()
    assert "with the light, or with the sound" in arrival
    assert "tears" in SCRIPT.reminders[0].lower() and "tränen" in \
        load_script("de").reminders[0].lower()


def test_the_german_script_has_every_line_of_the_english_one():
    german = load_script("de")
    assert german.language == "de" and SCRIPT.language == "en"
    assert [i for i, _ in german.lines] == [i for i, _ in SCRIPT.lines]
    assert [s.count for s in german.senses] == [s.count for s in SCRIPT.senses]
    assert set(german.texts()).isdisjoint(SCRIPT.texts())


def test_the_body_scan_and_grounding_cover_what_the_design_asks():
    body = " ".join(SCRIPT.body_steps).lower()
    for place in ("jaw", "shoulders", "hands", "belly"):
        assert place in body
    ground = " ".join(s.text for s in SCRIPT.senses).lower()
    assert "shadows" in ground and "quiet" in ground and "think of a smell" in ground


def test_a_translated_script_can_be_loaded(tmp_path):
    from importlib import resources

    text = resources.files("device.words").joinpath("script.toml").read_text()
    copy = tmp_path / "script.toml"
    copy.write_text(text.replace("I'm here with you.", "Je suis là."))
    assert load_script(copy).arrive[0] == "Je suis là."


def test_a_broken_script_is_one_clear_error(tmp_path):
    broken = tmp_path / "script.toml"
    broken.write_text("[arrive]\nlines = []\n")
    with pytest.raises(ScriptError, match=r"script.toml: arrive.lines must be a non-empty list"):
        load_script(broken)
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "missing.toml")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_line_of_their_own_pace_offers_and_never_judges(language):
    """Said to someone out of step with the light: an offer, never that they failed."""
    line = load_script(language).own_pace.lower()
    assert line and ("own pace" in line or "eigenen tempo" in line)
    for judging in ("wrong", "fail", "try", "should", "must", "falsch", "musst", "solltest"):
        assert judging not in line


def test_a_script_from_before_the_line_of_their_own_pace_still_loads(tmp_path):
    from importlib import resources

    text = resources.files("device.words").joinpath("script.toml").read_text()
    older = tmp_path / "script.toml"
    older.write_text(re.sub(r"(?m)^own_pace = .*\n", "", text))
    script = load_script(older)
    assert script.own_pace == "" and "breathe.own_pace" not in dict(script.lines)
    assert len(script.lines) == len(SCRIPT.lines) - 1
