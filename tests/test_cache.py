"""The voice cache's files: plain WAVs that know when they are damaged, written whole."""

from __future__ import annotations

import os
import stat
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from audio import cache
from audio.clip import Clip


def speech_like(seconds: float = 1.5, rate: int = 22050) -> Clip:
    t = np.arange(round(seconds * rate)) / rate
    return Clip(0.4 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)), rate)


def test_a_written_clip_reads_back_exactly_and_any_player_can_play_it(tmp_path) -> None:
    clip = speech_like()
    path = tmp_path / "line.wav"
    cache.write(path, clip)
    back = cache.read(path)
    assert back.rate == clip.rate and np.array_equal(back.pcm, clip.pcm)
    with wave.open(str(path)) as wav:  # an ordinary WAV for `aplay` or an editor
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        assert wav.getnframes() == len(clip.pcm)
    assert [p.name for p in tmp_path.iterdir()] == ["line.wav"]  # no temporary file left


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "garbage", "flipped", "empty"])
def test_a_file_damaged_on_the_card_is_known_when_read(tmp_path, damage) -> None:
    path = tmp_path / "line.wav"
    cache.write(path, speech_like())
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "zeroed":  # a block of the card reads back as zeros
        raw[4096:8192] = bytes(4096)
    elif damage == "garbage":
        raw = bytearray(np.random.default_rng(1).integers(0, 256, len(raw), dtype=np.uint8))
    elif damage == "flipped":  # one bit of one sample
        raw[len(raw) // 2] ^= 0x10
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    with pytest.raises(cache.DamagedClip):
        cache.read(path)


def test_a_missing_file_is_not_damage(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        cache.read(tmp_path / "none.wav")


def test_stale_clips_go_and_current_or_recent_ones_stay(tmp_path) -> None:
    now = time.time()
    for name, age_days in [("current.wav", 90), ("recent.wav", 3), ("old.wav", 30)]:
        path = tmp_path / name
        cache.write(path, speech_like(0.1))
        os.utime(path, (now - age_days * 86400,) * 2)
    (tmp_path / "models.json").write_text("{}")
    dead = tmp_path / ".x.tmp"
    dead.write_bytes(b"half")
    os.utime(dead, (now - 7200,) * 2)
    removed = cache.remove_stale(tmp_path, {"current.wav"}, now=now)
    assert sorted(removed) == [".x.tmp", "old.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.wav", "models.json",
                                                          "recent.wav"]


def test_private_folders_are_made_0700(tmp_path) -> None:
    directory = tmp_path / "new" / "voice"
    cache.make_private_dirs(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700
    (tmp_path / "afile").write_text("")
    with pytest.raises(OSError):
        cache.make_private_dirs(tmp_path / "afile" / "voice")


def test_default_cache_dir_follows_systemd_then_xdg_then_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/ebbtide:/var/lib/other")
    assert cache.default_cache_dir() == Path("/var/lib/ebbtide/voice")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("CACHE_DIRECTORY", "/var/cache/ebbtide:/var/cache/other")
    assert cache.default_cache_dir() == Path("/var/cache/ebbtide")
    monkeypatch.delenv("CACHE_DIRECTORY")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "ebbtide" / "voice"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_cache_dir() == tmp_path / "home" / ".cache" / "ebbtide" / "voice"
