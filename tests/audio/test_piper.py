"""The natural voice: Piper's pace from words per minute, its model checked, calm pauses."""

from __future__ import annotations

import numpy as np
import pytest

from audio.piper import (
    LENGTH_SCALE_RANGE,
    SENTENCE_PAUSE_S,
    PiperTTS,
    PiperUnavailable,
    default_model,
    length_scale,
    model_problem,
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
