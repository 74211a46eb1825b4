"""Real espeak-ng rendering through pyttsx3, into memory."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np

from audio.tts import EspeakTTS

PROMPT = "You are not alone."
LONGER = "You are not alone. Follow the light: breathe in as it grows, and out as it fades."


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_short_prompt_renders_to_plausible_speech_without_printing(capfd) -> None:
    clip = EspeakTTS().render(PROMPT)
    assert clip.rate == 22050
    assert 0.5 < clip.seconds < 5.0
    assert rms(clip.samples) > 0.02
    assert np.max(np.abs(clip.samples)) <= 1.0
    out, _ = capfd.readouterr()
    assert out == ""  # the driver's "Audio saved to ..." stays off our stdout


def test_longer_text_gives_a_longer_clip() -> None:
    tts = EspeakTTS()
    assert tts.render(LONGER).seconds > tts.render(PROMPT).seconds + 1.0


def test_leading_silence_is_trimmed() -> None:
    clip = EspeakTTS().render(PROMPT)
    first_10ms = clip.samples[: round(0.01 * clip.rate)]
    assert np.max(np.abs(first_10ms)) > 0.01


def test_slower_rate_speaks_longer_even_when_instances_alternate() -> None:
    slow, fast = EspeakTTS(rate=100), EspeakTTS(rate=220)
    for _ in range(2):  # the engine is shared: settings must not leak between instances
        assert slow.render(LONGER).seconds > 1.5 * fast.render(LONGER).seconds


def test_empty_text_is_an_empty_clip() -> None:
    assert EspeakTTS().render("  ").seconds == 0.0


def test_known_voice_is_used() -> None:
    tts = EspeakTTS(voice="en-us")
    tts.render("a")
    assert tts.voice_in_use == "gmw/en-us"
    # American English says "alone" differently, so the length differs from the default.
    assert tts.render(LONGER).seconds != EspeakTTS().render(LONGER).seconds


def test_unknown_voice_warns_once_and_uses_the_default(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ebbtide")
    tts = EspeakTTS(voice="no-such-voice")
    first, second = tts.render(PROMPT), tts.render(LONGER)
    warnings = [r for r in caplog.records if r.name.startswith("ebbtide")]
    assert len(warnings) == 1
    assert "no-such-voice" in warnings[0].getMessage()
    assert first.seconds > 0.5 and second.seconds > first.seconds


def test_identity_changes_with_every_setting() -> None:
    base = EspeakTTS()
    others = [EspeakTTS(voice="gmw/en-us"), EspeakTTS(rate=150), EspeakTTS(volume=0.5)]
    identities = {base.identity} | {t.identity for t in others}
    assert len(identities) == 4
    assert "pyttsx3" in base.identity
    assert EspeakTTS().identity == base.identity


def test_first_rendering_after_engine_start_is_complete() -> None:
    # pyttsx3 2.99's first runAndWait() returns before espeak has finished; a fresh process
    # must still get the whole utterance every time.
    code = (
        "from audio.tts import EspeakTTS\n"
        "t = EspeakTTS()\n"
        f"print(*[len(t.render({LONGER!r}).samples) for _ in range(3)])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lengths = [int(n) for n in done.stdout.split()]
    assert len(lengths) == 3
    assert max(lengths) - min(lengths) < 0.01 * 22050
    assert min(lengths) > 3 * 22050
