"""Loudness levelling: BS.1770-4 readings (checked against pyloudnorm and the standard's own
reference figures), true peak, and spoken lines of any level brought to one loudness."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from audio.loudness import (
    CEILING_DBTP,
    TARGET_LUFS,
    integrated_loudness,
    normalised,
    true_peak,
)

RATES = (22050, 44100, 48000)
LINES = {
    "long": "Breathe in as it grows. Breathe out slowly as it fades.",
    "belly": "Your belly. Let it be soft, rising and falling on its own.",
    "hold": "Hold.",
}
PEAK_TOLERANCE_DB = 0.05

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed")


def reference_loudness(samples: np.ndarray, rate: int) -> float:
    """pyloudnorm's reading, the independent meter the tests compare with."""
    pyloudnorm = pytest.importorskip("pyloudnorm")
    return float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(samples, np.float64)))


def sine(freq: float, seconds: float, rate: int, dbfs: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)


def resampled(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling through the FFT, with silence after the clip to avoid wrap."""
    if new_rate == rate:
        return x
    n = len(x) + rate // 10
    m = round(n * new_rate / rate)
    return np.fft.irfft(np.fft.rfft(x, n), m)[: round(len(x) * new_rate / rate)] * (m / n)


def whole_blocks(x: np.ndarray, rate: int) -> np.ndarray:
    """Cut to a whole number of 100 ms steps after the first 400 ms block.

    pyloudnorm counts a part-filled last block where the standard counts only whole ones;
    cut like this, both meters gate the very same blocks.
    """
    block, step = round(0.4 * rate), round(0.1 * rate)
    return x[: block + (len(x) - block) // step * step]


def trimmed(x: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > threshold)
    return x[loud[0] : loud[-1] + 1]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[np.ndarray, int]]:
    """A few script lines spoken by espeak-ng, as floats at espeak's own rate."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    directory = tmp_path_factory.mktemp("espeak")
    lines = {}
    for name, text in LINES.items():
        path = directory / f"{name}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True,
                       timeout=60)
        with wave.open(str(path), "rb") as wav:
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
            rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        lines[name] = (pcm / 32768.0, rate)
    return lines


# --- the meter -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_sine_reads_the_standards_reference_figure(rate: int) -> None:
    # BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS, so -20 dBFS reads -23.01.
    tone = sine(997, 5.0, rate, -20.0)
    assert integrated_loudness(tone, rate) == pytest.approx(-23.01, abs=0.05)
    assert integrated_loudness(tone, rate) == pytest.approx(reference_loudness(tone, rate),
                                                            abs=0.1)


def test_both_gates_leave_out_quiet_passages() -> None:
    # EBU Tech 3341 case 4 in mono: 10 s at -72, 10 s at -36, 60 s at -23, 10 s at -36 and
    # 10 s at -72 LUFS read -23.0 +- 0.1. The -72 parts fall under the absolute gate, the -36
    # parts under the relative one.
    rate = 22050
    parts = [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)]
    signal = np.concatenate([sine(1000, s, rate, lufs + 3.01) for lufs, s in parts])
    assert integrated_loudness(signal, rate) == pytest.approx(-23.0, abs=0.1)


@needs_espeak
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("line", ["long", "belly"])
def test_agrees_with_pyloudnorm_on_speech(speech, line: str, rate: int) -> None:
    x, espeak_rate = speech[line]
    x = whole_blocks(resampled(x, espeak_rate, rate), rate)
    assert integrated_loudness(x, rate) == pytest.approx(reference_loudness(x, rate), abs=0.1)


@needs_espeak
def test_reads_exactly_like_the_standards_48k_filter(speech) -> None:
    # pyloudnorm's "DeMan" filters reproduce the standard's 48 kHz coefficient table.
    pyloudnorm = pytest.importorskip("pyloudnorm")
    x, espeak_rate = speech["long"]
    x = whole_blocks(resampled(x, espeak_rate, 48000), 48000)
    meter = pyloudnorm.Meter(48000, filter_class="DeMan")
    assert integrated_loudness(x, 48000) == pytest.approx(meter.integrated_loudness(x), abs=0.005)


@pytest.mark.parametrize("rate", RATES)
def test_a_clip_shorter_than_a_block_reads_as_one_block_with_silence(rate: int) -> None:
    tone = sine(997, 0.3, rate, -20.0)
    padded = np.concatenate([tone, np.zeros(round(0.4 * rate) - len(tone))])
    # 0.3 s of a -23.01 LUFS tone spread over a 400 ms block
    assert integrated_loudness(tone, rate) == pytest.approx(-23.01 + 10 * math.log10(0.3 / 0.4),
                                                            abs=0.05)
    assert integrated_loudness(tone, rate) == pytest.approx(reference_loudness(padded, rate),
                                                            abs=0.1)


def test_loudness_does_not_depend_on_the_sample_type() -> None:
    tone = sine(440, 1.0, 22050, -12.0)
    assert integrated_loudness(tone.astype(np.float32), 22050) == pytest.approx(
        integrated_loudness(tone, 22050), abs=1e-4)


# --- true peak -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_true_peak_finds_the_peak_between_samples(rate: int) -> None:
    # A quarter-rate sine sampled 45 degrees off its crests: every sample is at 0.707 of the
    # peak, 3 dB under what the DAC will put out. Faded in and out, so the edges add nothing.
    tone = sine(rate / 4, 1.0, rate, -6.0, phase=math.pi / 4)
    fade = round(0.02 * rate)
    ramp = (1 - np.cos(np.pi * np.arange(fade) / fade)) / 2
    tone[:fade] *= ramp
    tone[-fade:] *= ramp[::-1]
    assert 20 * math.log10(np.max(np.abs(tone))) == pytest.approx(-9.01, abs=0.01)
    assert true_peak(tone, rate) == pytest.approx(-6.0, abs=0.05)


@needs_espeak
def test_true_peak_of_speech_matches_fine_oversampling(speech) -> None:
    x, rate = speech["long"]
    n = 1 << (len(x) + rate // 10).bit_length()
    fine = np.fft.irfft(np.fft.rfft(x, n), 16 * n) * 16  # 16x band-limited interpolation
    exact = 20 * math.log10(np.max(np.abs(fine)))
    assert true_peak(x, rate) == pytest.approx(exact, abs=0.1)
    assert true_peak(x, rate) >= 20 * math.log10(np.max(np.abs(x)))


# --- levelling -------------------------------------------------------------------------------


@needs_espeak
def test_lines_of_very_different_levels_all_land_on_the_target(speech) -> None:
    x, rate = speech["long"]
    word = trimmed(speech["hold"][0])[: round(0.3 * rate)]  # a clipped 0.3 s "Hold."
    clips = [x * scale for scale in (0.01, 0.1, 0.5, 1.0)] + [word * 0.05, word]
    readings = []
    for clip in clips:
        out = normalised(clip, rate)
        assert out.dtype == np.float32 and out.shape == clip.shape
        assert np.max(np.abs(out)) <= 1.0
        assert true_peak(out, rate) <= CEILING_DBTP + PEAK_TOLERANCE_DB
        readings.append(integrated_loudness(out, rate))
        padded = np.concatenate([out, np.zeros(max(0, round(0.4 * rate) - len(out)))])
        assert reference_loudness(padded, rate) == pytest.approx(TARGET_LUFS, abs=1.0)
    assert max(readings) - min(readings) <= 1.0
    assert readings == pytest.approx([TARGET_LUFS] * len(readings), abs=0.5)


@needs_espeak
def test_levels_speech_at_48k_too(speech) -> None:
    x, rate = speech["belly"]
    x = resampled(x, rate, 48000) * 0.05
    out = normalised(x, 48000)
    assert integrated_loudness(out, 48000) == pytest.approx(TARGET_LUFS, abs=0.5)
    assert reference_loudness(out, 48000) == pytest.approx(TARGET_LUFS, abs=1.0)
    assert true_peak(out, 48000) <= CEILING_DBTP + PEAK_TOLERANCE_DB


@needs_espeak
def test_a_line_within_the_ceiling_is_only_scaled(speech) -> None:
    x, rate = speech["long"]
    out = normalised(x, rate, target=-30.0)
    gain = out[np.abs(x) > 0.01] / x[np.abs(x) > 0.01]
    assert np.ptp(gain) <= 1e-5 * np.mean(gain)  # one gain for the whole line, no limiting
    assert integrated_loudness(out, rate) == pytest.approx(-30.0, abs=0.1)


@needs_espeak
def test_a_loud_target_limits_speech_peaks_instead_of_missing_the_target(speech) -> None:
    x, rate = speech["long"]
    target = -15.0
    # turned down until its peaks fit, this line would fall short of the target by > 2 LU
    assert true_peak(x, rate) - integrated_loudness(x, rate) + target > CEILING_DBTP + 2.0
    out = normalised(x, rate, target=target)
    assert integrated_loudness(out, rate) == pytest.approx(target, abs=0.5)
    assert true_peak(out, rate) <= CEILING_DBTP + PEAK_TOLERANCE_DB


def test_a_peaky_clip_is_limited_gently_and_only_around_its_peaks() -> None:
    rate = 22050
    rng = np.random.default_rng(7)
    x = 0.01 * rng.standard_normal(3 * rate)  # a quiet bed with sharp clicks on it
    clicks = [rate // 2 * k for k in range(1, 6)]
    x[clicks] += 0.9
    assert true_peak(x, rate) - integrated_loudness(x, rate) + TARGET_LUFS > CEILING_DBTP + 10

    out = normalised(x, rate)
    assert integrated_loudness(out, rate) == pytest.approx(TARGET_LUFS, abs=0.5)
    assert true_peak(out, rate) <= CEILING_DBTP + PEAK_TOLERANCE_DB

    gain_db = 20 * np.log10(out / x)  # the bed never crosses zero at these levels here
    steady = np.ones(len(x), dtype=bool)
    for c in clicks:
        steady[c - round(0.05 * rate) : c + round(0.3 * rate)] = False
    # away from the clicks, one gain: the limiter only touched the peaks
    assert np.ptp(gain_db[steady]) < 0.01
    # and it moves smoothly: no step from one sample to the next, as a clipper would make
    audible = np.abs(x) > 0.005
    both = audible[1:] & audible[:-1]
    assert np.max(np.abs(np.diff(gain_db)[both])) < 0.1


# --- silence and bad input -------------------------------------------------------------------


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("length", [0, 100, 22050])
def test_silence_and_nothing_come_back_unchanged(length: int) -> None:
    silence = np.zeros(length)
    assert integrated_loudness(silence, 22050) == -math.inf
    assert true_peak(silence, 22050) == -math.inf
    out = normalised(silence, 22050)
    assert out.dtype == np.float32 and out.shape == (length,)
    assert not out.any()


@pytest.mark.filterwarnings("error")
def test_near_silence_under_the_absolute_gate_is_left_alone() -> None:
    hiss = (1e-5 * np.random.default_rng(1).standard_normal(22050)).astype(np.float32)
    assert integrated_loudness(hiss, 22050) == -math.inf
    assert math.isfinite(true_peak(hiss, 22050))
    np.testing.assert_array_equal(normalised(hiss, 22050), hiss)


@pytest.mark.parametrize(
    ("samples", "rate"),
    [(np.zeros((100, 2)), 22050), (np.array([0.1, math.nan, 0.2]), 22050), (np.zeros(10), 0)],
)
def test_bad_input_is_refused(samples: np.ndarray, rate: int) -> None:
    for call in (integrated_loudness, true_peak, normalised):
        with pytest.raises(ValueError):
            call(samples, rate)


def test_runs_on_numpy_alone() -> None:
    # scipy is 113 MB: too much for a Pi Zero 2 for two filters.
    code = "import sys, audio.loudness; print('scipy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], check=True, timeout=60)
    assert result.stdout.strip() == "False"
