"""bench.intelligibility: the word error rate is counted right, lines are cut where the
events say, and a real espeak session rendered through `ebbtide render` is partly understood
by pocketsphinx. The figure itself is not judged: espeak is hard for a machine to hear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ is not installed: `python -m bench...` runs from the root

from bench.intelligibility import (  # noqa: E402
    Errors,
    Line,
    clips,
    voice_only_config,
    word_errors,
    words,
)


def edits(said: str, heard: str) -> Errors:
    return word_errors(said.split(), heard.split())


def test_word_errors_counts_each_kind_of_edit() -> None:
    assert edits("a b c", "a b c") == Errors(0, 0, 0, 3)
    assert edits("the cat sat", "the bat sat on") == Errors(1, 0, 1, 3)
    assert edits("breathe in slowly", "breathe slowly") == Errors(0, 1, 0, 3)
    assert edits("rest well", "") == Errors(0, 2, 0, 2)
    assert edits("", "noise") == Errors(0, 0, 1, 0)
    assert edits("a b", "b a").errors == 2


def test_wer_is_edits_over_reference_words_and_adds_up() -> None:
    total = Errors(1, 0, 1, 4) + Errors(0, 2, 0, 6)
    assert total == Errors(1, 2, 1, 10)
    assert total.wer == 0.4


def test_words_are_normalised_the_same_way_on_both_sides() -> None:
    assert words("I'm here. You're not alone.") == words("i am here you are not alone")
    assert " ".join(words("You don't need to; let's rest.")) == "you do not need to let us rest"
    assert " ".join(words("That\u2019s all; it can't wait.")) == "that is all it can not wait"
    assert " ".join(words("<s> breathe(2) [NOISE] in <sil> </s>")) == "breathe in"
    assert " ".join(words("Slowly out, as it fades.")) == "slowly out as it fades"


def test_the_config_is_the_users_own_with_only_the_voice_left(tmp_path) -> None:
    source = tmp_path / "mine" / "config.toml"
    source.parent.mkdir()
    source.write_text('[voice]\nrate = 120\nscript = "lines.toml"\n[audio]\nchime = true\n'
                      '[breathing]\npattern = "slow"\nminutes = 3\n'
                      '[patterns.slow]\ninhale = 4\nexhale = 8\n')
    document = tomllib.loads(voice_only_config(source, "piper"))
    assert document["voice"] == {"rate": 120, "script": str(source.parent / "lines.toml"),
                                 "engine": "piper"}
    assert document["audio"] == {"chime": False, "tide": False}
    assert document["breathing"] == {"pattern": "slow", "minutes": 3}
    assert document["patterns"] == {"slow": {"inhale": 4, "exhale": 8}}
    default = tomllib.loads(voice_only_config(None, None))
    assert default == {"audio": {"chime": False, "tide": False},
                       "breathing": {"minutes": 1}}


def test_lines_are_cut_with_a_margin_that_stops_between_neighbours(tmp_path) -> None:
    rate = 48000
    audio = np.zeros(4 * rate, dtype="<i2")
    audio[rate:2 * rate] = 1000  # the first line, 1.0 to 2.0 s
    session = tmp_path / "session.wav"
    with wave.open(str(session), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.tobytes())
    lines = [Line(1.0, 1.0, "one"), Line(2.3, 0.7, "two"), Line(3.9, 0.5, "three")]
    first, second, third = list(clips(session, lines, margin_s=0.2))
    assert len(first) == round((2.15 - 0.8) * 16000)  # the gap of 0.3 s is shared
    assert len(second) == round((3.2 - 2.15) * 16000)
    assert len(third) == round((4.0 - 3.7) * 16000)  # the file ends first
    assert first.dtype == np.int16
    assert abs(int(first[len(first) // 2]) - 1000) <= 1  # the level survives the resampling


@pytest.mark.process
def test_a_rendered_espeak_session_is_partly_understood(tmp_path) -> None:
    out = tmp_path / "intelligibility.json"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "bench.intelligibility", "--engine", "espeak", "--json", str(out)],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    (engine,) = result["engines"]
    assert engine["engine"] == "espeak"
    assert engine["lines"] >= 10 and engine["words"] > engine["lines"]
    assert 0 <= engine["wer"] < 1.0
    assert any(words(line["heard"]) for line in engine["per_line"])
    assert len(engine["worst"]) == 5
    assert engine["worst"][0]["wer"] == max(line["wer"] for line in engine["per_line"])
    assert "WER" in done.stdout and "worst lines, espeak:" in done.stdout
    assert list(scratch.iterdir()) == []  # the render's home, cache and files are gone
