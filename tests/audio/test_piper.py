"""The natural voice: Piper's pace from words per minute, its model checked, calm pauses,
long sentences made in pieces that keep their words and their pauses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio.piper import (
    LENGTH_SCALE_RANGE,
    PIECE_PHONEMES,
    SENTENCE_PAUSE_S,
    SMALLER_PIECE_PHONEMES,
    PiperTTS,
    PiperUnavailable,
    default_model,
    length_scale,
    model_problem,
    pieces,
)


def test_slower_speech_is_a_longer_length_scale_within_what_sounds_natural() -> None:
    scales = [length_scale(wpm) for wpm in (80, 110, 140, 180, 250)]
    assert scales == sorted(scales, reverse=True)
    assert length_scale(140) == pytest.approx(1.61, abs=0.01)  # the measured calm default
    assert LENGTH_SCALE_RANGE[0] <= min(scales) and max(scales) <= LENGTH_SCALE_RANGE[1]


# How an ONNX file opens (the joe voice's first bytes): ir_version 8, then producer_name.
ONNX_START = b"\x08\x08\x12\x07pytorch"


def test_a_model_needs_its_json_beside_it_with_a_sample_rate(tmp_path) -> None:
    model = tmp_path / "voice.onnx"
    assert "cannot read the voice model" in model_problem(model)
    model.write_bytes(ONNX_START)
    assert "needs its voice.onnx.json beside it" in model_problem(model)
    model.with_name("voice.onnx.json").write_text("{not json")
    assert "is not a Piper voice config" in model_problem(model)
    model.with_name("voice.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    assert model_problem(model) is None
    assert model_problem(default_model()) is None  # the joe voice, installed with [voice]


def test_sentences_are_joined_by_a_calm_pause() -> None:
    clip = PiperTTS(default_model()).render("Hold. Let it go.")
    loud = np.abs(clip.samples) > 0.01
    quiet_runs, run = [], 0
    for is_loud in loud:
        run = 0 if is_loud else run + 1
        quiet_runs.append(run)
    assert max(quiet_runs) / clip.rate >= SENTENCE_PAUSE_S  # a real breath between them
    assert loud[: round(0.02 * clip.rate)].any() and loud[-round(0.06 * clip.rate):].any()


def test_a_model_that_is_not_one_says_so(tmp_path) -> None:
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"not a model")
    model.with_name("voice.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    assert "is not an ONNX voice model" in model_problem(model)  # known without onnxruntime
    with pytest.raises(PiperUnavailable, match="is not an ONNX voice model"):
        PiperTTS(model).render("Hello.")
    model.write_bytes(ONNX_START + bytes(100))  # starts like one, and is not
    with pytest.raises(PiperUnavailable, match="cannot load the voice model"):
        PiperTTS(model).render("Hello.")


# A sentence as Piper's phonemizer gives it: one phoneme a character, words between spaces,
# a clause's punctuation at the end of its last word.
_SENTENCES = st.lists(st.text("abdeɪɾɚɹsˈuːnθ", min_size=1, max_size=14), min_size=1,  # noqa: RUF001
                      max_size=30).flatmap(lambda words: st.lists(
                          st.sampled_from(["", "", "", ",", ";", ":"]), min_size=len(words),
                          max_size=len(words)).map(lambda marks: " ".join(
                              w + m for w, m in zip(words, marks, strict=True)) + "."))


@settings(deadline=None)  # a loaded CI machine may take longer than 200 ms for one
@given(sentence=_SENTENCES, limit=st.integers(6, 80))
def test_pieces_are_bounded_and_keep_every_phoneme_in_order(sentence, limit) -> None:
    made = pieces(list(sentence), limit)
    assert " ".join("".join(p.phonemes) for p in made).split() == sentence.split()
    for piece in made:  # only a word longer than the limit may be longer (or its marks)
        said = "".join(piece.phonemes).rstrip(",;:.")
        assert len(said) <= limit or " " not in said
    assert made[-1].then == ""
    for piece in made[:-1]:  # a clause's pause after its punctuation, a word's gap elsewhere
        assert piece.then == ("clause" if piece.phonemes[-1] in ",;:" else "word")
    if len(sentence) <= limit:
        assert made == [pieces(list(sentence), 10_000)[0]]  # a sentence that fits is whole


def test_the_default_scripts_sentences_fit_the_pieces_of_a_small_machine() -> None:
    """What bounds the speech process's memory: no piece of the script is longer."""
    from device.core.config import Config
    from device.core.plan import voice_lines
    from device.files.script_file import load_script

    tts = PiperTTS(default_model())
    tts.load()
    voice = tts._voice
    longest = {limit: 0 for limit in (PIECE_PHONEMES, SMALLER_PIECE_PHONEMES)}
    for line in voice_lines(Config(), load_script()):
        for sentence in voice.phonemize(line.text):
            for limit in longest:
                longest[limit] = max(longest[limit], *(len(p.phonemes)
                                                       for p in pieces(sentence, limit)))
    for limit, piece in longest.items():  # bounded, and not much smaller than allowed
        assert limit - 12 <= piece <= limit, longest


def quiet_runs_s(samples: np.ndarray, rate: int) -> list[float]:
    """The lengths of the stretches of near-silence inside a clip, longest first."""
    quiet = np.abs(samples) < 0.01
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    return sorted(((b - a) / rate for a, b in zip(edges[::2], edges[1::2], strict=True)),
                  reverse=True)


def test_a_long_sentence_in_pieces_keeps_its_words_and_natural_pauses() -> None:
    """Cut at its commas and between words, a sentence still says every word (as an
    offline listener hears it), lasts about as long, and pauses at its commas as long as
    the voice does when it says the sentence whole."""
    from bench.intelligibility import Recogniser, _resample, word_errors, words

    text = "Later is soon enough to think it through, or to talk, if you want to."
    whole = PiperTTS(default_model(), piece_phonemes=10_000).render(text)
    cut = PiperTTS(default_model(), piece_phonemes=SMALLER_PIECE_PHONEMES).render(text)
    # Two makings of the same words differ by up to a tenth or so (Piper's noise): the
    # pieces' joins may add a little, not a pause's worth each.
    assert cut.seconds == pytest.approx(whole.seconds, rel=0.25)
    # The two commas' pauses: the voice makes 0.4 to 0.65 s of near-silence there.
    for clip in (whole, cut):
        commas = quiet_runs_s(clip.samples, clip.rate)[:2]
        assert all(0.35 <= pause <= 0.8 for pause in commas), commas
    listener = Recogniser()
    errors = {name: word_errors(words(text), words(listener.transcribe(
        _resample(clip.samples * 32767, clip.rate)))).errors
        for name, clip in (("whole", whole), ("cut", cut))}
    assert errors["cut"] <= errors["whole"] + 2, errors


def test_pieces_are_levelled_as_one_sentence() -> None:
    """No piece louder than the rest: the sentence's peak is the volume, and each piece
    reaches near it, as the same words said whole do."""
    text = "Later is soon enough to think it through, or to talk, if you want to."
    clip = PiperTTS(default_model(), volume=0.9,
                    piece_phonemes=SMALLER_PIECE_PHONEMES).render(text)
    assert np.max(np.abs(clip.samples)) == pytest.approx(0.9, abs=0.01)
