"""Home recordings: what a household's WAV files become, and why a bad one is refused."""

from __future__ import annotations

import os
import re
import stat
import struct
import wave
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from audio.clip import Clip
from audio.loudness import TARGET_LUFS
from audio.recording import RecordingError, clean, load_recording, save_recording, usable

RNG_SEED = 7


def speech_like(seconds: float, rate: int, seed: int = RNG_SEED, peak: float = 0.5) -> np.ndarray:
    """Voiced syllables (a gliding pitch with harmonics) and a hiss of fricatives, about four
    syllables a second: close enough to speech for trimming, levels and clipping."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    pitch = 140.0 + 25.0 * np.sin(2 * np.pi * 0.6 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 15))
    syllables = 0.25 + 0.75 * np.abs(np.sin(2 * np.pi * 2.0 * t))
    hiss = rng.standard_normal(len(t)) * 0.25 * (np.sin(2 * np.pi * 1.3 * t) > 0.7)
    x = voiced * syllables + hiss
    # A 15 ms rise and fall, so the words start and stop at a known sample.
    ramp = min(len(x) // 2, round(0.015 * rate))
    x[:ramp] *= np.linspace(0.0, 1.0, ramp)
    x[len(x) - ramp :] *= np.linspace(1.0, 0.0, ramp)
    return peak * x / np.abs(x).max()


def room(seconds: float, rate: int, level_db: float = -65.0, seed: int = 1) -> np.ndarray:
    """A quiet room's noise."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(round(seconds * rate)) * 10.0 ** (level_db / 20.0)


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int = 2,
              extensible: bool = False) -> Path:
    """Integer PCM WAV of `width` bytes a sample; samples (frames,) or (frames, channels)."""
    frames = samples if samples.ndim == 2 else samples[:, np.newaxis]
    channels = frames.shape[1]
    full = float(1 << (8 * width - 1))
    ints = np.clip(np.round(frames * full), -full, full - 1).astype(np.int64).reshape(-1)
    if width == 3:
        data = (ints & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        data = ints.astype({2: "<i2", 4: "<i4"}[width]).tobytes()
    if not extensible:
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(channels)
            wav.setsampwidth(width)
            wav.setframerate(rate)
            wav.writeframes(data)
        return path
    # WAVE_FORMAT_EXTENSIBLE with the PCM sub-format: what Audacity and sox write for 24-bit.
    pcm_guid = struct.pack("<IHH", 1, 0, 0x0010) + bytes.fromhex("800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * channels * width,
                      channels * width, 8 * width, 22, 8 * width, 3) + pcm_guid
    return _riff(path, fmt, data)


def _riff(path: Path, fmt: bytes, data: bytes) -> Path:
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def float_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """A 32-bit floating-point WAV, as many phone apps and DAWs save by default."""
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    return _riff(path, fmt, samples.astype("<f4").tobytes())


def loudness(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pyloudnorm.Meter(rate).integrated_loudness(pcm / 32768.0)


# -- what comes out of a good recording --


def test_silence_around_the_words_is_trimmed_and_the_dc_offset_removed(tmp_path) -> None:
    rate = 44100
    words = speech_like(1.6, rate)
    x = np.concatenate((room(0.6, rate), words + room(1.6, rate, seed=2),
                        room(0.9, rate, seed=3))) + 0.08  # a cheap microphone's offset
    clip = load_recording(write_wav(tmp_path / "take.wav", x, rate))
    assert clip.rate == rate
    assert abs(float(clip.samples.mean())) < 2e-3, "centred on zero"
    # The words start 0.6 s in; find where they landed in the trimmed clip.
    lead = _offset_of(words, clip.samples, rate)
    tail = clip.seconds - lead - 1.6
    print(f"trimmed: {lead * 1000:.0f} ms kept before the words, {tail * 1000:.0f} ms after")
    assert 0.0 < lead <= 0.04, "a few ms before the first sound"
    assert 0.0 < tail <= 0.15, "a short tail after the last"


def _offset_of(words: np.ndarray, clip: np.ndarray, rate: int) -> float:
    """Seconds from the clip's start to where `words` best match it."""
    n = len(clip) + len(words)
    size = 1 << (n - 1).bit_length()
    scores = np.fft.irfft(np.fft.rfft(clip, size) * np.conj(np.fft.rfft(words, size)), size)
    lag = int(np.argmax(scores))
    return (lag if lag < size // 2 else lag - size) / rate


def test_nothing_of_the_words_is_cut_in_a_noisy_room(tmp_path) -> None:
    rate = 16000
    words = speech_like(1.2, rate)
    x = np.concatenate((room(0.5, rate, -40.0), words + room(1.2, rate, -40.0, seed=2),
                        room(0.5, rate, -40.0, seed=3)))
    clip = load_recording(write_wav(tmp_path / "take.wav", x, rate))
    assert 1.2 <= clip.seconds <= 1.2 + 0.2


def test_a_key_click_after_the_words_is_left_out(tmp_path) -> None:
    rate = 48000
    click = np.zeros(round(0.02 * rate))
    click[:40] = np.hanning(40) * 0.6
    x = np.concatenate((room(0.4, rate), speech_like(1.0, rate), room(0.7, rate, seed=2),
                        click, room(0.2, rate, seed=3)))
    clip = load_recording(write_wav(tmp_path / "take.wav", x, rate))
    assert clip.seconds < 1.0 + 0.2, "the click 0.7 s after the words is not part of the line"


@pytest.mark.parametrize(("width", "extensible"), [(2, False), (3, False), (3, True), (4, False)])
def test_16_24_and_32_bit_stereo_files_load_as_mono(tmp_path, width, extensible) -> None:
    rate = 22050
    words = np.concatenate((np.zeros(2205), speech_like(1.0, rate), np.zeros(2205)))
    stereo = np.stack((words, 0.5 * words), axis=1)
    clip = load_recording(write_wav(tmp_path / "take.wav", stereo, rate, width, extensible))
    assert clip.rate == rate
    assert 1.0 <= clip.seconds <= 1.1
    # The channels are averaged: 0.75 of the words.
    assert float(np.abs(clip.samples).max()) == pytest.approx(0.75 * 0.5, abs=0.01)


def test_cleaning_twice_changes_nothing_that_matters() -> None:
    """A saved take is cleaned again when Ebbtide speaks it; it must not lose its ends."""
    rate = 48000
    x = np.concatenate((room(0.5, rate), speech_like(1.5, rate), room(0.5, rate, seed=2)))
    once = clean(Clip(x, rate))
    twice = clean(once)
    assert abs(twice.seconds - once.seconds) < 0.02


def test_a_recording_levelled_to_full_scale_is_not_called_clipped(tmp_path) -> None:
    rate = 44100
    x = np.concatenate((room(0.3, rate), speech_like(1.5, rate, peak=1.0), room(0.3, rate)))
    assert load_recording(write_wav(tmp_path / "loud.wav", np.clip(x, -1, 1), rate)).seconds > 1.5


# -- refusals, each saying what to do --


def refusal(path: Path, max_seconds: float | None = None) -> str:
    with pytest.raises(RecordingError) as caught:
        load_recording(path, max_seconds)
    message = str(caught.value)
    assert "Traceback" not in message and len(message) < 400
    return message


def test_an_empty_file_is_refused(tmp_path) -> None:
    message = refusal(write_wav(tmp_path / "empty.wav", np.zeros(0), 48000))
    assert "empty" in message and "record the line again" in message


def test_a_silent_file_is_refused(tmp_path) -> None:
    message = refusal(write_wav(tmp_path / "silent.wav", np.zeros(48000), 48000))
    assert "silent" in message and "microphone" in message and "not muted" in message


def test_a_file_of_only_room_noise_is_refused(tmp_path) -> None:
    message = refusal(write_wav(tmp_path / "hiss.wav", room(2.0, 48000, -30.0), 48000))
    assert "background noise" in message and "record the line again" in message


def test_a_clipped_file_is_refused_with_advice(tmp_path) -> None:
    rate = 44100
    x = np.clip(4.0 * speech_like(1.5, rate), -1.0, 1.0)
    message = refusal(write_wav(tmp_path / "hot.wav", x, rate))
    assert "clipped" in message and "further from the microphone" in message


def test_garbage_is_not_a_wav_file(tmp_path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(3).bytes(5000))
    assert "not a WAV file" in refusal(path) and "16-bit PCM WAV" in refusal(path)
    path.write_bytes(b"")
    assert "not a WAV file" in refusal(path)


def test_a_float_wav_says_to_save_it_as_16_bit_pcm(tmp_path) -> None:
    message = refusal(float_wav(tmp_path / "float.wav", speech_like(1.0, 48000), 48000))
    assert "floating-point" in message and "save it as a 16-bit PCM WAV" in message


def test_a_compressed_wav_says_to_save_it_as_16_bit_pcm(tmp_path) -> None:
    fmt = struct.pack("<HHIIHH", 0x0002, 1, 8000, 4096, 256, 4)  # Microsoft ADPCM
    message = refusal(_riff(tmp_path / "adpcm.wav", fmt, b"\0" * 4096))
    assert "compressed" in message and "save it as a 16-bit PCM WAV" in message


def test_a_missing_file_cannot_be_read(tmp_path) -> None:
    assert "cannot be read" in refusal(tmp_path / "nowhere.wav")


def test_a_recording_far_too_long_for_its_place_says_how_long_and_the_most(tmp_path) -> None:
    rate = 16000
    x = np.concatenate((np.zeros(8000), speech_like(5.0, rate), np.zeros(16000)))
    path = write_wav(tmp_path / "long.wav", x, rate)
    message = refusal(path, max_seconds=3.0)
    assert re.search(r"it is 5\.[01] seconds long", message), "how long it is"
    assert "at most 3.0 seconds" in message
    assert load_recording(path, max_seconds=6.0).seconds < 5.1, "the silence does not count"


def test_a_take_from_the_microphone_is_checked_the_same_way() -> None:
    with pytest.raises(RecordingError, match="silent"):
        usable(Clip(np.zeros(44100, dtype=np.float32), 44100))
    take = np.concatenate((room(0.3, 44100), speech_like(1.0, 44100), room(0.3, 44100)))
    assert 1.0 <= usable(Clip(take, 44100)).seconds <= 1.1


# -- saving --


def test_saving_writes_private_48_khz_16_bit_mono_at_the_target_loudness(tmp_path) -> None:
    rate = 22050
    take = np.concatenate((room(0.5, rate), 0.1 * speech_like(2.0, rate), room(0.5, rate)))
    folder = tmp_path / "voice"
    path = folder / "arrive.here.wav"
    save_recording(path, Clip(take, rate))
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (48000, 2, 1)
        seconds = wav.getnframes() / 48000
    assert 2.0 <= seconds <= 2.1, "trimmed"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    measured = loudness(path)
    print(f"saved take: {measured:.2f} LUFS (target {TARGET_LUFS})")
    assert abs(measured - TARGET_LUFS) <= 1.0
    assert os.listdir(folder) == ["arrive.here.wav"], "no temporary file is left behind"
    # The saved take loads as it is: its ends are not trimmed a second time.
    assert load_recording(path).seconds == pytest.approx(seconds, abs=0.02)


def test_saving_again_replaces_the_take_and_keeps_it_private(tmp_path) -> None:
    path = tmp_path / "line.wav"
    path.write_bytes(b"old")
    path.chmod(0o644)
    save_recording(path, Clip(speech_like(1.0, 48000), 48000))
    assert path.read_bytes()[:4] == b"RIFF"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_take_that_would_be_refused_is_not_saved(tmp_path) -> None:
    path = tmp_path / "line.wav"
    with pytest.raises(RecordingError, match="silent"):
        save_recording(path, Clip(np.zeros(48000, dtype=np.float32), 48000))
    assert not path.exists() and os.listdir(tmp_path) == []


# -- what a household's folder may hold --


def cut_off(rate: int) -> np.ndarray:
    """Room noise, then words stopped mid-syllable: no decay, no quiet after them."""
    words = speech_like(3.0, rate)
    return np.concatenate((room(0.5, rate), words[: round(1.37 * rate)]))


def test_a_take_that_ends_mid_speech_is_refused_with_what_to_do(tmp_path) -> None:
    rate = 44100
    message = refusal(write_wav(tmp_path / "cut.wav", cut_off(rate), rate))
    assert message.startswith("it ends mid-speech") and "record the line again" in message
    with pytest.raises(RecordingError, match="mid-speech"):
        usable(Clip(cut_off(rate), rate))
    # The same words with their ending and the room after them are a good take.
    whole = np.concatenate((room(0.5, rate), speech_like(1.37, rate), room(0.5, rate, seed=2)))
    assert load_recording(write_wav(tmp_path / "whole.wav", whole, rate)).seconds > 1.3


def test_a_saved_take_loads_again_and_is_not_called_cut_off(tmp_path) -> None:
    rate = 48000
    take = np.concatenate((room(0.3, rate), speech_like(1.5, rate), room(0.3, rate, seed=2)))
    path = tmp_path / "voice" / "arrive.here.wav"
    save_recording(path, Clip(take, rate))
    assert load_recording(path).seconds > 1.4


def test_a_ten_minute_recording_is_refused_in_bounded_memory(tmp_path) -> None:
    """A 10-minute take (55 MB) made the voice maker peak at 936 MB; now its header says it
    is too long before its samples are decoded."""
    import tracemalloc

    rate = 48000
    path = tmp_path / "long.wav"
    minute = (room(60.0, rate, -30.0) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        for _ in range(10):
            wav.writeframes(minute)
    tracemalloc.start()
    try:
        message = refusal(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "far too long for one line" in message and "at most 120 seconds" in message
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MB to refuse it"


def test_two_minutes_of_words_is_the_most_and_still_loads(tmp_path) -> None:
    rate = 16000
    x = np.concatenate((room(1.0, rate), speech_like(115.0, rate), room(1.0, rate, seed=2)))
    assert load_recording(write_wav(tmp_path / "long.wav", x, rate)).seconds > 114
    y = np.concatenate((x, room(5.0, rate, seed=3)))
    assert "2:02 long" in refusal(write_wav(tmp_path / "longer.wav", y, rate))


def refusal_within(path: Path, seconds: float = 5.0) -> str:
    """refusal(path), asserting it came within `seconds`: a FIFO must never block the read
    (in a thread, so a reader that blocks fails the test instead of hanging it)."""
    import threading

    said: list[str] = []
    worker = threading.Thread(target=lambda: said.append(refusal(path)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert said, f"reading {path.name} blocked"
    return said[0]


@pytest.mark.parametrize(("kind", "expected"), [
    ("fifo", "it is a named pipe (FIFO), not a file, so it is not read; put a WAV file there"),
    ("device link", "it is a link to /dev/zero, outside its folder; put the recording itself "
                    "in the folder"),
    ("device", "it is a device, not a file, so it is not read; put a WAV file there"),
    ("folder", "it is a folder, not a file, so it is not read; put a WAV file there"),
])
def test_only_a_regular_file_is_read_and_never_blocks(tmp_path, kind, expected) -> None:
    path = tmp_path / "arrive.here.wav"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device link":
        path.symlink_to("/dev/zero")  # read to the end, this filled the memory
    elif kind == "device":
        path = Path("/dev/zero")
    else:
        path.mkdir()
    assert refusal_within(path) == expected


def test_a_link_to_a_take_in_the_same_folder_is_followed(tmp_path) -> None:
    rate = 44100
    take = np.concatenate((room(0.4, rate), speech_like(1.2, rate), room(0.4, rate, seed=2)))
    write_wav(tmp_path / "take-3.wav", take, rate)
    (tmp_path / "arrive.here.wav").symlink_to("take-3.wav")
    assert load_recording(tmp_path / "arrive.here.wav").seconds > 1.1
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "arrive.here.wav").symlink_to(tmp_path / "take-3.wav")
    assert "outside its folder" in refusal(outside / "arrive.here.wav")
