"""The spoken words live in an editable TOML file and follow the tone guide."""

from __future__ import annotations

import re

import pytest

from device.script import ScriptError, load_script

SCRIPT = load_script()


def test_every_part_has_words():
    assert SCRIPT.arrive and SCRIPT.inhale and SCRIPT.exhale and SCRIPT.reminders
    assert [s.count for s in SCRIPT.senses] == [5, 4, 3, 2, 1]
    assert len(SCRIPT.body_steps) == 4 and SCRIPT.aftercare and SCRIPT.close
    assert len(SCRIPT.texts()) == len(set(SCRIPT.texts()))


def test_the_words_keep_the_tone():
    words = " ".join(SCRIPT.texts()).lower()
    for banned in ("calm down", "don't cry", "sorry", "apolog", "sex", "therap"):
        assert banned not in words
    assert "not alone" in words and "gently" in words and "not deeply" in words
    for line in SCRIPT.texts():
        for sentence in re.split(r"[.!?]\s*", line):
            assert len(sentence.split()) <= 16, sentence


def test_the_body_scan_and_grounding_cover_what_the_design_asks():
    body = " ".join(SCRIPT.body_steps).lower()
    for place in ("jaw", "shoulders", "hands", "belly"):
        assert place in body
    ground = " ".join(s.text for s in SCRIPT.senses).lower()
    assert "shadows" in ground and "quiet" in ground and "think of a smell" in ground


def test_a_translated_script_can_be_loaded(tmp_path):
    from importlib import resources

    text = resources.files("device").joinpath("script.toml").read_text()
    copy = tmp_path / "script.toml"
    copy.write_text(text.replace("I'm here. You're not alone.", "Je suis là."))
    assert load_script(copy).arrive[0] == "Je suis là."


def test_a_broken_script_is_one_clear_error(tmp_path):
    broken = tmp_path / "script.toml"
    broken.write_text("[arrive]\nlines = []\n")
    with pytest.raises(ScriptError, match=r"script.toml: arrive.lines must be a non-empty list"):
        load_script(broken)
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "missing.toml")
