"""The mixer, driven exactly as an audio callback drives it: block after block of fill()."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

from audio.mixer import Mixer

RATE = 8000


def drive(mixer: Mixer, frames: int, blocks: tuple[int, ...] = (256,)) -> np.ndarray:
    """Call fill() with fresh callback-style buffers of the given sizes, in turn."""
    parts = []
    sizes = itertools.cycle(blocks)
    done = 0
    while done < frames:
        n = min(next(sizes), frames - done)
        out = np.full((n, mixer.channels), np.nan, dtype=np.float32)  # garbage in
        mixer.fill(out)
        parts.append(out)
        done += n
    return np.concatenate(parts)[:, 0]


def dc(level: float, n: int) -> np.ndarray:
    return np.full(n, level, dtype=np.float32)


@pytest.mark.parametrize("blocks", [(256,), (1,), (7, 333, 64), (1000,), (97, 3)])
@pytest.mark.parametrize("at", [0, 255, 256, 257, 1234])
def test_clip_starts_exactly_at_its_sample(blocks: tuple[int, ...], at: int) -> None:
    mixer = Mixer(RATE)
    clip = np.linspace(0.1, 0.5, 300, dtype=np.float32)
    mixer.schedule(clip, at=at)
    out = drive(mixer, 2000, blocks)
    expected = np.zeros(2000, dtype=np.float32)
    expected[at : at + 300] = clip
    assert np.array_equal(out, expected)


def test_overlapping_clips_sum() -> None:
    mixer = Mixer(RATE)
    mixer.schedule(dc(0.25, 400), at=100)
    mixer.schedule(dc(0.25, 400), at=300)
    out = drive(mixer, 1000, (128,))
    assert np.all(out[100:300] == 0.25)
    assert np.all(out[300:500] == 0.5)
    assert np.all(out[500:700] == 0.25)
    assert np.all(out[700:] == 0.0)


def test_late_clip_starts_at_once_with_its_head_intact() -> None:
    mixer = Mixer(RATE)
    drive(mixer, 1000, (100,))
    clip = np.linspace(0.1, 0.5, 50, dtype=np.float32)
    mixer.schedule(clip, at=10)  # long past
    out = drive(mixer, 100, (100,))
    assert np.array_equal(out[:50], clip)


def test_unspecified_start_plays_in_the_next_block() -> None:
    mixer = Mixer(RATE)
    drive(mixer, 500, (100,))
    mixer.schedule(dc(0.3, 10))
    out = drive(mixer, 100, (100,))
    assert np.all(out[:10] == np.float32(0.3)) and np.all(out[10:] == 0.0)


def test_position_and_busy_follow_the_mix() -> None:
    mixer = Mixer(RATE)
    assert not mixer.busy
    mixer.schedule(dc(0.1, 150), at=200)
    assert mixer.busy  # pending counts as busy
    drive(mixer, 300, (100,))
    assert mixer.position == 300
    assert mixer.busy
    drive(mixer, 100, (100,))
    assert mixer.position == 400
    assert not mixer.busy


def test_hush_fades_without_a_click_and_ends_in_silence_within_the_fade() -> None:
    mixer = Mixer(RATE)
    mixer.schedule(dc(0.8, 5 * RATE), at=0)
    mixer.schedule(dc(0.3, RATE), at=RATE)  # pending, not started yet: dropped
    before = drive(mixer, 1000, (64,))
    mixer.hush(fade_s=0.05)
    after = drive(mixer, 2 * RATE, (64,))
    fade = round(0.05 * RATE)
    whole = np.concatenate([before, after])
    assert np.max(np.abs(np.diff(whole))) <= 0.8 / fade + 1e-6
    assert after[0] == pytest.approx(0.8)
    assert np.all(after[fade:] == 0.0)
    assert not mixer.busy


def test_clip_scheduled_after_hush_still_plays() -> None:
    mixer = Mixer(RATE)
    mixer.schedule(dc(0.5, RATE), at=0)
    drive(mixer, 100)
    mixer.hush()
    mixer.schedule(dc(0.2, 100), at=1000)
    out = drive(mixer, 2000)
    assert np.all(out[900 + 100 : 1100 - 100] == np.float32(0.2))


def test_mix_never_leaves_full_scale_and_quiet_sound_is_untouched() -> None:
    mixer = Mixer(RATE)
    t = np.arange(RATE) / RATE
    for phase in range(5):
        mixer.schedule((0.9 * np.sin(2 * np.pi * 220 * t + phase / 5)).astype(np.float32), 0)
    loud = drive(mixer, RATE, (333,))
    assert np.max(np.abs(loud)) <= 1.0
    assert np.max(np.abs(loud)) > 0.9  # limited, not silenced

    quiet = (0.7 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    mixer.schedule(quiet, at=mixer.position)
    assert np.array_equal(drive(mixer, RATE, (333,)), quiet)


def test_every_channel_gets_the_mono_mix() -> None:
    mixer = Mixer(RATE, channels=2)
    mixer.schedule(dc(0.4, 10), at=0)
    out = np.zeros((20, 2), dtype=np.float32)
    mixer.fill(out)
    assert np.all(out[:10] == np.float32(0.4)) and np.all(out[10:] == 0.0)


def test_more_clips_than_slots_are_dropped_and_counted() -> None:
    mixer = Mixer(RATE, max_clips=2)
    for _ in range(3):
        mixer.schedule(dc(0.1, 1000), at=0)  # all three still sound at the block's end
    out = drive(mixer, 2000)
    assert mixer.dropped == 1
    assert np.all(out[:1000] == np.float32(0.2))  # the third never starts, so never clicks


def test_a_whole_session_can_be_scheduled_before_mixing() -> None:
    mixer = Mixer(RATE, max_clips=8)
    starts = [i * 500 + 7 for i in range(30)]  # far more clips than playing slots
    for start in reversed(starts):
        mixer.schedule(dc(0.2, 100), at=start)
    out = mixer.render(30 * 500)[:, 0]
    onsets = np.flatnonzero(np.diff((out > 0).astype(np.int8)) == 1) + 1
    assert onsets.tolist() == starts
    assert mixer.dropped == 0


def test_offline_render_is_one_long_mix() -> None:
    mixer = Mixer(RATE)
    mixer.schedule(dc(0.3, 10), at=RATE * 3 + 5)
    out = mixer.render(RATE * 4)
    assert out.shape == (RATE * 4, 1)
    assert np.flatnonzero(out[:, 0])[0] == RATE * 3 + 5
    assert mixer.position == RATE * 4


def test_fill_allocates_no_arrays_in_steady_state() -> None:
    mixer = Mixer(RATE)
    out = np.zeros((4096, 1), dtype=np.float32)
    for at in (0, 300, 700):
        mixer.schedule(np.full(RATE * 4, 0.45, dtype=np.float32), at=at)  # limiter active
    mixer.fill(out)
    mixer.fill(out)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(5):
            mixer.fill(out)
        mixer.hush(5.0)
        for _ in range(5):
            mixer.fill(out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # numpy's call machinery keeps a few hundred bytes of small objects; a single array the
    # size of this block would be 16 kB.
    assert peak - base < 4096


def timed_drive(mixer: Mixer, blocks: int, frames: int, heard_at, jitter=()) -> None:
    """fill() as a live callback calls it: each block says when its first sample is heard."""
    noise = itertools.cycle(jitter or (0.0,))
    for _ in range(blocks):
        out = np.zeros((frames, 1), dtype=np.float32)
        mixer.fill(out, heard_at(mixer.position) + next(noise))


def test_clock_times_map_to_the_samples_heard_then() -> None:
    mixer = Mixer(RATE)
    assert mixer.sample_at(1.0) is None and mixer.earliest() is None
    timed_drive(mixer, 10, 100, lambda pos: 500.0 + pos / RATE)
    assert mixer.sample_at(500.0) == 0
    assert mixer.sample_at(500.5) == RATE // 2
    assert mixer.sample_at(500.5 + 0.1 / RATE) == RATE // 2 + 1, "never a sample early"
    assert mixer.time_at(RATE) == pytest.approx(501.0)
    assert mixer.earliest() == pytest.approx(500.0 + 1100 / RATE), "after the next block"


def test_jittery_dac_reports_are_averaged_and_a_stall_is_followed_at_once() -> None:
    mixer = Mixer(RATE)
    timed_drive(mixer, 400, 100, lambda pos: 10.0 + pos / RATE, jitter=(0.002, -0.002, 0.001))
    assert mixer.time_at(0) == pytest.approx(10.0, abs=0.0005)
    # The device stalled for a second: everything from now on is heard one second later.
    timed_drive(mixer, 5, 100, lambda pos: 11.0 + pos / RATE)
    assert mixer.time_at(mixer.position) == pytest.approx(11.0 + mixer.position / RATE)


def test_a_fade_in_rises_smoothly_to_the_volume_and_stays() -> None:
    mixer = Mixer(RATE)
    mixer.fade_to(0.0)
    mixer.fade_to(0.5, 0.25)
    mixer.schedule(dc(0.8, RATE))
    out = drive(mixer, RATE, (97, 256))
    ramp = out[: RATE // 4]
    assert ramp[0] < 0.01 and np.all(np.diff(ramp) > 0), "rising from silence"
    assert np.max(np.diff(ramp)) < 0.4 / (RATE // 4) * 1.01, "by even, tiny steps"
    assert np.allclose(out[RATE // 4 :], 0.4), "then steady at the volume"


@pytest.mark.parametrize("volume", [1.0, 0.6, 0.25])
def test_the_volume_scales_everything(volume: float) -> None:
    mixer = Mixer(RATE)
    mixer.fade_to(volume)
    clip = np.sin(np.arange(2000) * 0.05).astype(np.float32) * 0.5
    mixer.schedule(clip, at=0)
    assert np.allclose(drive(mixer, 2000), clip * volume, atol=1e-6)


def test_a_stop_fades_out_within_its_time_without_a_click() -> None:
    mixer = Mixer(RATE)
    mixer.schedule(dc(0.7, RATE))
    drive(mixer, 1000)
    mixer.hush(0.1)
    mixer.fade_to(0.0, 0.1)
    out = drive(mixer, RATE // 2, (64,))
    assert np.all(out[round(0.1 * RATE) :] == 0.0)
    assert np.max(np.abs(np.diff(np.concatenate([[0.7], out])))) < 0.7 / (0.1 * RATE) * 2.01


def test_each_start_is_kept_with_where_it_was_asked_for_and_when_it_was_heard() -> None:
    mixer = Mixer(RATE)
    heard_at = lambda pos: 100.0 + pos / RATE  # noqa: E731 - the device's clock
    mixer.schedule(dc(0.1, 50), at=500)
    timed_drive(mixer, 10, 100, heard_at)
    mixer.schedule(dc(0.1, 50), at=200)  # asked for a moment already mixed: late
    mixer.schedule(dc(0.1, 50))  # as soon as possible
    timed_drive(mixer, 2, 100, heard_at)
    assert mixer.starts() == [(500, 500, pytest.approx(heard_at(500))),
                              (200, 1000, pytest.approx(heard_at(1000))),
                              (-1, 1000, pytest.approx(heard_at(1000)))]
    mixer.clear()
    assert mixer.starts() == []


def test_sixteen_bit_clips_are_mixed_as_they_are_without_a_copy() -> None:
    mixer = Mixer(RATE)
    pcm = np.array([0, 8192, -16384, 16384, 100], dtype=np.int16)
    mixer.schedule(pcm, at=3)
    mixer.schedule(dc(0.25, 5), at=5)
    out = drive(mixer, 12, (4,))
    expected = np.zeros(12, dtype=np.float32)
    expected[3:8] += pcm / 32767
    expected[5:10] += 0.25
    assert np.allclose(out, expected, atol=1e-6)
