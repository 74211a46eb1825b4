"""Clips: WAV round trips, resampling and trimming behave as a listener would expect."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from audio.clip import Clip, WavWriter


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def zero_crossings(x: np.ndarray) -> int:
    return int(np.count_nonzero(np.signbit(x[1:]) != np.signbit(x[:-1])))


def test_wav_round_trip_keeps_rate_length_and_sound() -> None:
    clip = Clip(tone(440, 0.25, 22050), 22050)
    back = Clip.from_wav_bytes(clip.to_wav_bytes())
    assert back.rate == 22050
    assert len(back.samples) == len(clip.samples)
    assert back.samples.dtype == np.float32
    assert np.max(np.abs(back.samples - clip.samples)) < 1 / 32767 + 1e-6


def test_seconds_is_length_over_rate() -> None:
    assert Clip(np.zeros(11025, dtype=np.float32), 22050).seconds == pytest.approx(0.5)


def test_resampling_keeps_duration_and_pitch() -> None:
    clip = Clip(tone(440, 1.0, 22050), 22050)
    up = clip.resampled(48000)
    assert up.rate == 48000
    assert up.seconds == pytest.approx(clip.seconds, abs=1e-4)
    # 440 Hz is 880 zero crossings a second at any rate.
    assert zero_crossings(up.samples) == pytest.approx(zero_crossings(clip.samples), abs=2)
    assert clip.resampled(22050) is clip


def test_trim_removes_leading_silence_and_keeps_a_short_tail() -> None:
    rate = 22050
    quiet = np.zeros(rate // 2, dtype=np.float32)
    voice = tone(300, 0.2, rate)
    clip = Clip(np.concatenate([quiet, voice, quiet]), rate)
    trimmed = clip.trimmed()
    loud = np.flatnonzero(np.abs(trimmed.samples) > 0.01)
    assert loud[0] / rate < 0.006  # the voice starts within a few ms
    tail = (len(trimmed.samples) - loud[-1]) / rate
    assert 0.02 < tail < 0.04  # ~30 ms kept so the last sound decays naturally
    assert trimmed.seconds == pytest.approx(0.2 + 0.005 + 0.03, abs=0.005)


def test_trim_of_silence_is_empty() -> None:
    assert Clip(np.zeros(1000, dtype=np.float32), 8000).trimmed().seconds == 0.0


def test_a_clip_cannot_be_changed_by_its_users_or_its_maker() -> None:
    source = np.zeros(10, dtype=np.float32)
    clip = Clip(source, 8000)
    with pytest.raises(ValueError):
        clip.pcm[0] = 1
    clip.samples[0] = 1.0  # a fresh float copy for each user
    source[0] = 0.5  # the caller's own array stays theirs
    assert clip.samples[0] == 0.0 and clip.pcm.dtype == np.int16


def test_wav_writer_stores_a_stereo_mix(tmp_path) -> None:
    mix = np.stack([tone(440, 0.1, 16000), -tone(440, 0.1, 16000)], axis=1)
    path = tmp_path / "mix.wav"
    with WavWriter(path, 16000) as wav:
        wav.write(mix)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (2, 16000, 1600)
        assert wav.getsampwidth() == 2


def test_wav_writer_clips_out_of_range_samples(tmp_path) -> None:
    path = tmp_path / "loud.wav"
    with WavWriter(path, 8000) as wav:
        wav.write(np.array([2.0, -2.0, 0.0], dtype=np.float32))
    back = Clip.from_wav_bytes(path.read_bytes())
    assert back.samples.tolist() == pytest.approx([1.0, -1.0, 0.0])


def test_wav_writer_streams_a_long_mix_block_by_block(tmp_path) -> None:
    path = tmp_path / "session.wav"
    blocks = [tone(220, 0.5, 16000)[:, np.newaxis] for _ in range(6)]
    with WavWriter(path, 16000) as wav:
        for block in blocks:
            wav.write(block)
    back = Clip.from_wav_bytes(path.read_bytes())
    assert back.seconds == pytest.approx(3.0)
    assert np.max(np.abs(back.samples - np.concatenate(blocks)[:, 0])) < 1e-4


def test_wav_writer_refuses_a_channel_change_and_closes_empty(tmp_path) -> None:
    with WavWriter(tmp_path / "a.wav", 8000, channels=2) as wav, pytest.raises(ValueError):
        wav.write(np.zeros(10, dtype=np.float32))
    with WavWriter(tmp_path / "empty.wav", 8000):
        pass
    assert Clip.from_wav_bytes((tmp_path / "empty.wav").read_bytes()).seconds == 0.0
