"""The voice cache: renders once, then serves clips from memory and disk."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import numpy as np

from audio.cache import ClipCache, default_cache_dir
from audio.clip import Clip
from audio.tts import EspeakTTS

TEXTS = ["Breathe in.", "And out, slowly.", "You can rest here."]


def test_second_cache_on_the_same_directory_loads_from_disk_without_rendering(tmp_path) -> None:
    first = ClipCache(EspeakTTS(), tmp_path)
    rendered = first.get(TEXTS[0])
    assert first.renders == 1

    second = ClipCache(EspeakTTS(), tmp_path)
    loaded = second.get(TEXTS[0])
    assert second.renders == 0
    assert loaded.rate == rendered.rate
    assert np.array_equal(loaded.samples, rendered.samples)


def test_each_line_is_rendered_once_then_read_from_disk(tmp_path) -> None:
    cache = ClipCache(EspeakTTS(), tmp_path)
    first, again = cache.get(TEXTS[1]), cache.get(TEXTS[1])
    assert cache.renders == 1
    assert first is not again, "not held in memory: read from disk when needed"
    assert np.array_equal(first.pcm, again.pcm)


def test_key_changes_with_voice_and_rate(tmp_path) -> None:
    ClipCache(EspeakTTS(), tmp_path).get(TEXTS[0])
    for tts in (EspeakTTS(rate=180), EspeakTTS(voice="gmw/en-us")):
        other = ClipCache(tts, tmp_path)
        other.get(TEXTS[0])
        assert other.renders == 1  # a different voice or pace is never served stale
    assert len(list(tmp_path.glob("*.wav"))) == 3


def test_unwritable_directory_still_speaks_and_warns_once(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ebbtide")
    (tmp_path / "afile").write_text("not a directory")
    cache = ClipCache(EspeakTTS(), tmp_path / "afile" / "sub")
    clips = [cache.get(text) for text in TEXTS]
    assert all(clip.seconds > 0.3 for clip in clips)
    warnings = [r for r in caplog.records if r.name.startswith("ebbtide")]
    assert len(warnings) == 1
    assert "afile" in warnings[0].getMessage()


def test_no_directory_works_in_memory(tmp_path) -> None:
    cache = ClipCache(EspeakTTS(), None)
    assert cache.get(TEXTS[0]).seconds > 0.3
    assert cache.path_for(TEXTS[0]) is None


def test_files_are_complete_private_wavs_with_no_leftovers(tmp_path) -> None:
    directory = tmp_path / "new" / "voice"
    cache = ClipCache(EspeakTTS(), directory)
    for text in TEXTS:
        cache.get(text)
    files = sorted(p.name for p in directory.iterdir())
    assert len(files) == len(TEXTS)
    assert all(name.endswith(".wav") for name in files)  # no temporary files left behind
    for text in TEXTS:
        path = cache.path_for(text)
        assert path is not None
        assert Clip.from_wav_bytes(path.read_bytes()).seconds == cache.get(text).seconds
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700


def test_damaged_cache_file_is_rendered_again(tmp_path) -> None:
    ClipCache(EspeakTTS(), tmp_path).get(TEXTS[0])
    (path,) = tmp_path.glob("*.wav")
    path.write_bytes(b"RIFF\x00\x00")
    cache = ClipCache(EspeakTTS(), tmp_path)
    assert cache.get(TEXTS[0]).seconds > 0.3
    assert cache.renders == 1
    assert Clip.from_wav_bytes(path.read_bytes()).seconds > 0.3


def test_default_cache_dir_follows_systemd_then_xdg_then_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CACHE_DIRECTORY", "/var/cache/ebbtide:/var/cache/other")
    assert default_cache_dir() == Path("/var/cache/ebbtide")
    monkeypatch.delenv("CACHE_DIRECTORY")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "ebbtide" / "voice"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "ebbtide" / "voice"


def test_a_clip_at_the_output_rate_is_resampled_once_and_kept_on_disk(tmp_path) -> None:
    first = ClipCache(EspeakTTS(), tmp_path)
    native = first.get(TEXTS[1])
    at_48k = first.get(TEXTS[1], 48000)
    assert at_48k.rate == 48000 and native.rate == 22050
    assert abs(at_48k.seconds - native.seconds) < 1e-3
    assert first.path_for(TEXTS[1], 48000) != first.path_for(TEXTS[1])
    assert first.path_for(TEXTS[1], 48000).stat().st_mode & 0o777 == 0o600

    second = ClipCache(EspeakTTS(), tmp_path)
    loaded = second.get(TEXTS[1], 48000)
    assert second.renders == 0
    assert np.allclose(loaded.samples, at_48k.samples, atol=1 / 32767)
