"""A sample-accurate mixer for an audio callback: clips start at exact sample positions.

Other threads call schedule(), hush() and fade_to(); they only append to a deque (atomic in
CPython). fill() runs in the audio callback: it takes those commands, sums the clips into
preallocated buffers and never blocks, allocates arrays or does I/O in the steady state.

Clips may be scheduled ahead of time; they wait, sorted by start, and take one of max_clips
playing slots when they begin.

The mixer also keeps the map from clock time to sample position: each fill() may say when
its first sample reaches the speaker (PortAudio's DAC time, on the caller's clock), and
sample_at(t) turns a clock time into the sample that will be heard at t.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np

# Mixes above this level are bent smoothly towards (never past) full scale. One espeak
# prompt peaks near 0.7, so the limiter only acts where clips overlap.
_KNEE = 0.8

# A DAC time this far from where the running map expects it means the stream stalled or
# restarted: the map jumps to it. Smaller differences are timing jitter, averaged away.
_ANCHOR_JUMP_S = 0.005
_ANCHOR_SMOOTHING = 0.02

_PCM_SCALE = np.float32(1 / 32767)  # 16-bit PCM to -1..1, as the clips were made
_STARTS_KEPT = 512  # how many clip starts are remembered (asked and actual positions)
_INITIAL_FRAMES = 4096  # covers usual callback sizes; a bigger block grows it once
_OFFLINE_BLOCK = 4096  # render() works in blocks of this size to bound scratch memory
# How far below the knee the clips' summed peaks must stay for fill() to skip the limiter:
# a float32 sum can round a hair above the exact one, never by this much.
_KNEE_MARGIN = 1e-4


class _Voice:
    """One clip being played (or waiting for its start) by the mixer."""

    __slots__ = ("asked", "fade_end", "fade_len", "peak", "samples", "start")

    def __init__(self, samples: np.ndarray, start: int, peak: float) -> None:
        self.samples = samples
        self.peak = peak  # the largest magnitude it adds to the mix (-1..1 scale)
        self.start = start  # absolute sample position of samples[0]; -1 means "next block"
        self.asked = start  # where it was asked to start, even if it had to start later
        self.fade_end = -1  # absolute position where a hush fade reaches silence
        self.fade_len = 0


def _start_of(voice: _Voice) -> int:
    return voice.start


def _peak(data: np.ndarray) -> float:
    """The largest magnitude of a clip on the mix's -1..1 scale (found once, when it is
    scheduled, so that a block whose clips cannot reach the knee skips the limiter)."""
    if data.dtype == np.int16:
        return max(int(data.max()), -int(data.min())) * float(_PCM_SCALE)
    return float(np.abs(data).max())


class Mixer:
    """Sums scheduled mono clips into callback buffers, sample-accurately.

    Positions are counted in samples mixed so far (`position`), so a caller that knows the
    mixer's position and rate can place a clip on an exact future sample. A master gain
    (`fade_to`) scales the whole mix, ramped per sample so it never clicks.
    """

    def __init__(self, rate: int, channels: int = 1, max_clips: int = 8) -> None:
        if rate <= 0 or channels <= 0 or max_clips <= 0:
            raise ValueError("rate, channels and max_clips must be positive")
        self.rate = int(rate)
        self.channels = int(channels)
        self.position = 0  # samples mixed so far; written only by fill()
        self.dropped = 0  # clips not played because max_clips were already playing
        # (position, clock time) of one sample on its way to the speaker; None until a
        # fill() has said when its block is heard. Replaced whole, so readers see a pair.
        self.anchor: tuple[int, float] | None = None
        self.block = 0  # frames in the last fill()
        self.gain = 1.0  # the master gain reached so far
        self._gain_target = 1.0
        self._gain_step = 0.0  # per sample, towards _gain_target
        # (what, voice, samples, gain): "play" a voice, "hush" over samples, or "gain": move
        # to gain over samples. Appended by other threads, taken by fill().
        self._commands: deque[tuple[str, _Voice | None, int, float]] = deque()
        self._waiting: list[_Voice] = []  # not started yet, sorted by start
        self._voices: list[_Voice | None] = [None] * max_clips  # playing
        self._starts = np.zeros((_STARTS_KEPT, 2), dtype=np.int64)  # (asked, actual) ring
        self._heard = np.full(_STARTS_KEPT, np.nan)  # and when each start was heard
        self.started = 0  # clips started since the last clear()
        self._allocate(_INITIAL_FRAMES)

    def _allocate(self, frames: int) -> None:
        self._mix = np.zeros(frames, dtype=np.float32)
        self._work = np.zeros(frames, dtype=np.float32)
        self._level = np.zeros(frames, dtype=np.float32)
        self._ramp = np.arange(frames, dtype=np.float32)
        self._pcm = np.zeros(frames, dtype=np.float32)  # 16-bit samples, scaled to float

    # -- other threads -------------------------------------------------------------------

    def schedule(self, samples: np.ndarray, at: int | None = None) -> None:
        """Play mono samples from absolute sample `at` (None: the next block).

        Samples are float (-1..1) or 16-bit PCM, which is mixed as it is, block by block,
        so a clip kept as PCM is never copied to play. A start that has already passed
        when the clip is mixed plays at once, from its first sample.
        """
        dtype = np.int16 if np.asarray(samples).dtype == np.int16 else np.float32
        data = np.ascontiguousarray(samples, dtype=dtype).reshape(-1)
        if len(data) == 0:
            return
        voice = _Voice(data, -1 if at is None else max(int(at), 0), _peak(data))
        self._commands.append(("play", voice, 0, 0.0))

    def hush(self, fade_s: float = 0.05) -> None:
        """Fade out everything playing or scheduled so far, linearly over fade_s, then drop it.

        Clips scheduled after this call are not affected.
        """
        self._commands.append(("hush", None, max(0, round(fade_s * self.rate)), 0.0))

    def fade_to(self, gain: float, seconds: float = 0.0) -> None:
        """Move the master gain to `gain` in a straight line over `seconds` from the next block."""
        self._commands.append(
            ("gain", None, max(0, round(seconds * self.rate)), max(0.0, float(gain))))

    def clear(self) -> None:
        """Drop everything at once. Only while nothing is filling (e.g. the stream is closed)."""
        self._commands.clear()
        self._waiting.clear()
        self._voices[:] = [None] * len(self._voices)
        self.anchor = None
        self.started = 0

    @property
    def busy(self) -> bool:
        """True while anything is playing, fading or waiting to start."""
        # In the order a clip travels: fill() puts it in its next place before removing it
        # from the previous one, so a reader never sees it nowhere.
        return (
            bool(self._commands) or bool(self._waiting) or any(v is not None for v in self._voices)
        )

    def starts(self) -> list[tuple[int, int, float | None]]:
        """(asked, actual, heard) for the clips started since clear(), oldest first (the last
        few hundred): asked and actual start positions (asked is -1 for "as soon as
        possible"), and the clock time the first sample was heard, by the map of that moment
        (None when no fill was timed)."""
        count = self.started
        rows = []
        for n in range(max(0, count - _STARTS_KEPT), count):
            k = n % _STARTS_KEPT
            heard = float(self._heard[k])
            rows.append((int(self._starts[k, 0]), int(self._starts[k, 1]),
                         None if math.isnan(heard) else heard))
        return rows

    def sample_at(self, t: float) -> int | None:
        """The first sample heard at or after clock time t; None before any timed fill()."""
        anchor = self.anchor
        if anchor is None:
            return None
        return anchor[0] + math.ceil(round((t - anchor[1]) * self.rate, 6))

    def time_at(self, position: int) -> float | None:
        """The clock time at which sample `position` is heard; None before any timed fill()."""
        anchor = self.anchor
        if anchor is None:
            return None
        return anchor[1] + (position - anchor[0]) / self.rate

    def earliest(self) -> float | None:
        """The soonest clock time a clip scheduled now can be heard: after the next block."""
        return self.time_at(self.position + self.block)

    # -- the audio callback ----------------------------------------------------------------

    def fill(self, out: np.ndarray, heard_at: float | None = None) -> None:
        """Write the next len(out) frames of the mix into out (float32, (frames, channels)).

        heard_at: the clock time at which out[0] reaches the speaker, if known.
        """
        frames = out.shape[0]
        if frames > len(self._mix):
            self._allocate(frames)  # a bigger block than ever before; happens once
        pos = self.position
        if heard_at is not None:
            self._move_anchor(pos, heard_at)
        self._take_commands(pos)
        # Mono (every session's stream): mixed in place, in the output buffer itself.
        mono = out if out.ndim == 1 else out[:, 0] if out.shape[1] == 1 else None
        mix = self._mix[:frames] if mono is None else mono
        mix.fill(0.0)
        reach = 0.0  # the most the clips added to this block can sum to
        for index, voice in enumerate(self._voices):
            if voice is not None:
                reach += voice.peak
                if self._add_voice(voice, mix, pos, frames):
                    self._voices[index] = None
        reach += self._start_due(mix, pos, frames)
        if reach > _KNEE - _KNEE_MARGIN:
            self._limit(mix)
        self._apply_gain(mix)
        if mono is None:
            out[:] = mix[:, np.newaxis]
        self.block = frames
        self.position = pos + frames

    def render(self, frames: int) -> np.ndarray:
        """Mix the next `frames` frames offline (e.g. into a WAV file).

        Offline, clock time is the mix's own time: sample n is heard at n / rate seconds.
        """
        out = np.zeros((frames, self.channels), dtype=np.float32)
        for start in range(0, frames, _OFFLINE_BLOCK):
            self.fill(out[start : start + _OFFLINE_BLOCK], self.position / self.rate)
        return out

    def _move_anchor(self, pos: int, heard_at: float) -> None:
        """Follow the DAC: jump on a stall, else average out the jitter of its reports."""
        anchor = self.anchor
        if anchor is None:
            self.anchor = (pos, heard_at)
            return
        expected = anchor[1] + (pos - anchor[0]) / self.rate
        error = heard_at - expected
        if abs(error) > _ANCHOR_JUMP_S:
            self.anchor = (pos, heard_at)
        else:
            self.anchor = (pos, expected + _ANCHOR_SMOOTHING * error)

    def _take_commands(self, pos: int) -> None:
        commands = self._commands
        while commands:
            what, voice, length, gain = commands[0]
            if voice is not None:  # what == "play"
                if voice.start < pos:  # "as soon as possible", or already late
                    voice.start = pos
                bisect.insort(self._waiting, voice, key=_start_of)
            elif what == "hush":
                self._start_fade(pos, length)
            elif length == 0:
                self.gain, self._gain_target, self._gain_step = gain, gain, 0.0
            else:
                self._gain_target = gain
                self._gain_step = (gain - self.gain) / length
            commands.popleft()

    def _apply_gain(self, mix: np.ndarray) -> None:
        """Scale the mix by the master gain, ramping it sample by sample towards its target."""
        if self._gain_step == 0.0:
            if self.gain != 1.0:
                mix *= self.gain
            return
        n = len(mix)
        ramp = self._work[:n]
        np.multiply(self._ramp[:n], self._gain_step, out=ramp)
        ramp += self.gain + self._gain_step  # the first sample already moves one step
        low, high = sorted((self.gain, self._gain_target))
        np.clip(ramp, low, high, out=ramp)
        mix *= ramp
        self.gain = float(ramp[-1]) if n else self.gain
        if self.gain == self._gain_target:
            self._gain_step = 0.0

    def _start_due(self, mix: np.ndarray, pos: int, frames: int) -> float:
        """Mix the clips that begin in this block; those that go on take a playing slot.
        Returns the sum of their peaks.

        A clip that starts and ends inside one block needs no slot, so a big offline block
        can hold more than max_clips short clips one after another.
        """
        reach = 0.0
        waiting = self._waiting
        block_end = pos + frames
        while waiting and waiting[0].start < block_end:
            voice = waiting[0]
            free = next((i for i, slot in enumerate(self._voices) if slot is None), -1)
            if voice.start + len(voice.samples) <= block_end or free >= 0:
                self._add_voice(voice, mix, pos, frames)
                reach += voice.peak
                if free >= 0 and voice.start + len(voice.samples) > block_end:
                    self._voices[free] = voice
                n = self.started % _STARTS_KEPT
                self._starts[n, 0] = voice.asked
                self._starts[n, 1] = voice.start
                anchor = self.anchor
                self._heard[n] = math.nan if anchor is None else (
                    anchor[1] + (voice.start - anchor[0]) / self.rate)
                self.started += 1
            else:
                self.dropped += 1  # max_clips still sounding: never start what must be cut
            del waiting[0]
        return reach

    def _start_fade(self, pos: int, fade_len: int) -> None:
        self._waiting.clear()  # not heard yet: just drop them
        for index, voice in enumerate(self._voices):
            if voice is None:
                continue
            if fade_len == 0 or voice.start >= pos:
                self._voices[index] = None  # silent now, or not started yet: just drop it
            elif voice.fade_end < 0 or pos + fade_len < voice.fade_end:
                voice.fade_end = pos + fade_len
                voice.fade_len = fade_len

    def _add_voice(self, voice: _Voice, mix: np.ndarray, pos: int, frames: int) -> bool:
        """Add this block's part of voice to mix; True when the voice has finished."""
        end = voice.start + len(voice.samples)
        if voice.fade_end >= 0:
            end = min(end, voice.fade_end)
        first = max(voice.start, pos)  # absolute position of the first sample to add
        last = min(end, pos + frames)
        if last > first:
            dst = first - pos
            n = last - first
            src = voice.samples[first - voice.start : last - voice.start]
            if src.dtype == np.int16:
                src = np.multiply(src, _PCM_SCALE, out=self._pcm[:n])
            if voice.fade_end < 0:
                mix[dst : dst + n] += src
            else:
                # gain(q) = (fade_end - q) / fade_len for absolute positions q in the block
                gain = self._work[:n]
                np.subtract(float(voice.fade_end - first), self._ramp[:n], out=gain)
                gain *= 1.0 / voice.fade_len
                np.clip(gain, 0.0, 1.0, out=gain)
                gain *= src
                mix[dst : dst + n] += gain
        return end <= pos + frames

    def _limit(self, mix: np.ndarray) -> None:
        """Soft-limit in place: identity up to the knee, then a tanh curve below 1.0."""
        level = self._level[: len(mix)]
        np.abs(mix, out=level)
        if len(mix) == 0 or level.max() <= _KNEE:
            return
        excess = self._work[: len(mix)]
        np.subtract(level, _KNEE, out=excess)
        np.maximum(excess, 0.0, out=excess)
        np.minimum(level, _KNEE, out=level)
        excess *= 1.0 / (1.0 - _KNEE)
        np.tanh(excess, out=excess)
        excess *= 1.0 - _KNEE
        level += excess
        np.copysign(level, mix, out=mix)
