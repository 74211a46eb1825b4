"""The voice cache's files: plain WAVs that know when they are damaged, written whole."""

from __future__ import annotations

import os
import stat
import threading
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


def test_a_swapped_or_renamed_file_is_known_when_read(tmp_path) -> None:
    """The check covers the file's name (the line's key): two files swapped would make the
    session open with its goodbye."""
    first, second = tmp_path / "first.wav", tmp_path / "second.wav"
    cache.write(first, speech_like(1.0))
    cache.write(second, speech_like(2.0))
    first.rename(tmp_path / "swap")
    second.rename(first)
    (tmp_path / "swap").rename(second)
    for path in (first, second):
        with pytest.raises(cache.DamagedClip, match="another line's file"):
            cache.read(path)


def test_an_edited_sample_rate_is_known_when_read(tmp_path) -> None:
    """A changed rate field passed the first version's check, and the line dropped out."""
    path = tmp_path / "line.wav"
    cache.write(path, speech_like())
    raw = bytearray(path.read_bytes())
    raw[24] ^= 0x01  # the rate, in the fmt chunk after "fmt " and its size
    path.write_bytes(bytes(raw))
    with pytest.raises(cache.DamagedClip):
        cache.read(path)


def short_fmt_file() -> bytes:
    """A cache file whose fmt chunk is 4 bytes, not 16, with its samples' checksums right
    (both the first version's, of the samples only, and today's): only the header is wrong."""
    import zlib

    data = bytes(4)
    body = b"WAVE" + b"fmt " + (4).to_bytes(4, "little") + bytes(4)
    body += b"data" + (4).to_bytes(4, "little") + data
    for name in (b"ebck", b"ebc2"):
        body += name + (8).to_bytes(4, "little") + zlib.crc32(data).to_bytes(4, "little")
        body += (2).to_bytes(4, "little")
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_a_short_fmt_chunk_is_damage_not_a_crash(tmp_path) -> None:
    path = tmp_path / "line.wav"
    path.write_bytes(short_fmt_file())
    with pytest.raises(cache.DamagedClip, match="header"):
        cache.read(path)


def read_within(path: Path, seconds: float = 5.0) -> BaseException | None:
    """What cache.read(path) raised, asserting it returned within `seconds` (a FIFO must
    never block it); in a thread, so an old reader that blocks fails the test."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            cache.read(path)
            outcome.append(None)
        except BaseException as error:  # handed to the test
            outcome.append(error)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"reading {path.name} blocked"
    return outcome[0]


@pytest.mark.parametrize("kind", ["fifo", "device link", "link", "folder"])
def test_only_a_regular_file_is_read_and_never_blocks(tmp_path, kind) -> None:
    path = tmp_path / "line.wav"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device link":
        path.symlink_to("/dev/zero")  # read to the end, this would fill the memory
    elif kind == "link":
        cache.write(tmp_path / "other.wav", speech_like())
        path.symlink_to(tmp_path / "other.wav")
    else:
        path.mkdir()
    error = read_within(path)
    assert isinstance(error, cache.DamagedClip), error
    said = {"fifo": "named pipe", "device link": "symbolic link", "link": "symbolic link",
            "folder": "folder"}[kind]
    assert said in str(error)


def test_a_file_beyond_the_bound_is_refused_unread(tmp_path) -> None:
    path = tmp_path / "line.wav"
    with open(path, "wb") as file:
        file.truncate(cache.MAX_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(cache.DamagedClip, match="more than the 32 MB"):
        cache.read(path)


def test_a_symlink_at_the_target_is_replaced_never_written_through(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    path = tmp_path / "line.wav"
    path.symlink_to(victim)
    cache.write(path, speech_like())
    assert victim.read_bytes() == b"precious" and not path.is_symlink()
    assert cache.read(path).seconds == pytest.approx(1.5)
