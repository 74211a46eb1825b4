"""The pacing sound: a slow tide that swells through each inhale and ebbs through each exhale.

It carries the rhythm for someone whose eyes are shut (the light cannot reach a face in a
pillow). A wave on a shore rather than a hiss: pink noise in three bands (the low body of
the water, the wash, the fizz of foam) whose loudness follows the light's own envelope in
decibels, a swell that brightens as it rises, and an ebb whose foam fizzes as it fades, so
the two directions differ by ear as well as by loudness.

Under a spoken line (the score's `duck`, device/core/pacing.py, which also presses the level
down) the wash, which sits in the voice's own band, is taken out and the foam thinned: the
voice stays as easy to follow as it is alone. The floor is never silence, so the rhythm is
there between lines, by day and in the quiet hours.

Each phase is one clip, made on the mixer's timeline: consecutive clips read the same noise
at the same sample positions and overlap by a few milliseconds with opposite ramps, so a
phase edge is seamless (no click, no gap).
"""

from __future__ import annotations

import math

import numpy as np

from device.core.pacing import Swell  # one phase of the tide, as the session plan gives it

FLOOR_DB = -41.0  # RMS at the bottom of a breath: soft, above a quiet room, under the voice
PEAK_DB = -26.0  # RMS at the top of a guided breath with nothing spoken
JOIN_S = 0.005  # consecutive clips overlap this long, crossfaded
START_S = 0.4  # a tide that begins from silence fades in over this
END_S = 1.5  # and the last swell before silence fades out over this
COLOUR_S = 1.2  # how long the tide takes to turn from the swell's colour to the ebb's
# Each band is a seamless loop of its own noise, each of another length, so the three
# together repeat only after hours, while they take little memory (int16, 1.2 MB at 48 kHz).
_LOOPS_S = (3.7, 4.1, 4.3)
_EVEN_S = 0.01  # each band's loudness is evened out over windows this long (each side)
_BLOCK = 4096  # clips are made a block at a time: no whole-length temporaries
_CONTROL_HZ = 500  # the envelope is worked out this often, then drawn straight per sample
# (low cut, high cut) in Hz of the three bands of one pink noise
_BANDS = ((90.0, 350.0), (350.0, 2500.0), (2500.0, 9000.0))
_WASH = 0.9  # the wash at the top of a swell, relative to the low band
_FOAM_IN, _FOAM_OUT = 0.25, 0.75  # the foam during a swell, and during an ebb
_FOAM_UNDER_VOICE = 0.15  # share of the foam left while a line is spoken


def _loop(rate: int, band: tuple[float, float], seconds: float,
          rng: np.random.Generator) -> np.ndarray:
    """One band of a pink noise loop as int16 at unit-ish RMS; filtered over the whole loop
    in the frequency domain, so the loop has no seam. Its short-term loudness is evened out,
    so the tide's level is the envelope's, not the noise's own flutter."""
    n = round(seconds * rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freq = np.fft.rfftfreq(n, 1 / rate)
    low, high = band
    with np.errstate(divide="ignore"):
        # Pink (-3 dB an octave), with gentle second-order slopes at both band edges.
        gain = 1 / np.sqrt(np.maximum(freq, 1.0))
        gain /= np.sqrt(1 + (low / np.maximum(freq, 1e-9)) ** 4) * np.sqrt(1 + (freq / high) ** 4)
    x = np.fft.irfft(spectrum * gain, n)
    window = max(1, round(rate * _EVEN_S))
    power = np.convolve(np.concatenate([x[-window:], x, x[:window]]) ** 2,
                        np.ones(2 * window + 1) / (2 * window + 1), mode="same")
    x /= np.sqrt(power[window:-window])
    x /= np.sqrt(np.mean(x**2))
    return np.clip(np.round(x * 8192), -32767, 32767).astype(np.int16)  # RMS 8192: headroom


def _ease(begin: float | np.ndarray, end: float, x: np.ndarray) -> np.ndarray:
    return begin + (end - begin) * (1 - np.cos(np.pi * np.clip(x, 0.0, 1.0))) / 2


class TideSound:
    """Makes the tide's clips at one sample rate; the noise is made once."""

    def __init__(self, rate: int, seed: int = 0) -> None:
        self.rate = rate
        rng = np.random.default_rng(seed)
        self._bands = [_loop(rate, band, seconds, rng)
                       for band, seconds in zip(_BANDS, _LOOPS_S, strict=True)]
        self._scratch = np.empty((3, _BLOCK), dtype=np.float32)
        self._end: int | None = None  # where the last clip ended, on the mixer's timeline

    def clip(self, swell: Swell, position: int) -> np.ndarray:
        """The phase as 16-bit samples, to be played from sample `position` of the mix.

        A clip that carries on from the previous one (it begins where that one ended) joins
        it seamlessly; one after silence (the first, or after a skip) fades in.
        """
        length = round(swell.seconds * self.rate)
        if length <= 0 or not len(swell.levels):
            return np.zeros(0, dtype=np.int16)
        join = round(JOIN_S * self.rate)
        carries_on = self._end is not None and abs(position - self._end) <= join
        self._end = None if swell.ends else position + length
        total = length if swell.ends else length + join
        control = self._control(swell, total / self.rate)
        out = np.empty(total, dtype=np.int16)
        for start in range(0, total, _BLOCK):
            stop = min(start + _BLOCK, total)
            self._block(control, position, start, stop, out)
        self._edges(out, length, join, carries_on, swell.ends)
        return out

    def _control(self, swell: Swell, seconds: float) -> np.ndarray:
        """Per control step: the gain and the three bands' weights (4 rows)."""
        steps = max(2, math.ceil(seconds * _CONTROL_HZ) + 1)
        x = np.arange(steps) / _CONTROL_HZ / swell.seconds  # fraction of the phase (past 1
        grid = np.linspace(0.0, 1.0, len(swell.levels))  # in the overlap: the last value)
        level = np.clip(np.interp(x, grid, swell.levels), -1.0, 1.0)
        duck = np.clip(np.interp(x, grid, swell.duck), 0.0, 1.0) if len(swell.duck) \
            else np.zeros(steps)
        # From the floor up, in decibels; below it (under the words of a spoken part), a
        # straight fade to silence at -1.
        gain = np.where(level >= 0, 10 ** ((FLOOR_DB + (PEAK_DB - FLOOR_DB) * level) / 20),
                        10 ** (FLOOR_DB / 20) * (1 + level))
        colour = _ease(swell.colour[0], swell.colour[1], x * swell.seconds / COLOUR_S)
        low = np.ones(steps)
        wash = _WASH * (0.4 + 0.6 * np.maximum(level, 0.0)) * (1 - duck)
        foam = (_FOAM_IN + (_FOAM_OUT - _FOAM_IN) * colour) * \
            (1 - (1 - _FOAM_UNDER_VOICE) * duck)
        # The bands are independent, each at the same RMS: dividing by the weights' norm
        # keeps the tide's loudness exactly the envelope's, whatever its colour.
        scale = gain / 8192 / np.sqrt(low**2 + wash**2 + foam**2)
        return np.stack([low * scale, wash * scale, foam * scale])

    def _block(self, control: np.ndarray, position: int, start: int, stop: int,
               out: np.ndarray) -> None:
        n = stop - start
        t = np.arange(start, stop) * (_CONTROL_HZ / self.rate)
        steps = np.arange(control.shape[1])
        mix = np.zeros(n, dtype=np.float32)
        for band, weights, scratch in zip(self._bands, control, self._scratch, strict=True):
            self._read(band, position + start, scratch[:n])
            scratch[:n] *= np.interp(t, steps, weights).astype(np.float32)
            mix += scratch[:n]
        np.clip(mix * 32767, -32767, 32767, out=mix)
        out[start:stop] = mix

    @staticmethod
    def _read(band: np.ndarray, at: int, into: np.ndarray) -> None:
        """The loop's samples from absolute position `at` on, wrapping around."""
        size, done = len(band), 0
        while done < len(into):
            offset = (at + done) % size
            take = min(len(into) - done, size - offset)
            into[done:done + take] = band[offset:offset + take]
            done += take

    def _edges(self, out: np.ndarray, length: int, join: int, carries_on: bool,
               ends: bool) -> None:
        """Ramps where the clip meets the next and the last, or silence."""
        if carries_on:
            ramp = np.arange(join) / join
            out[:join] = (out[:join] * ramp).astype(np.int16)
        else:
            fade = min(length // 2, round(START_S * self.rate))
            out[:fade] = (out[:fade] * _ease(0.0, 1.0, np.arange(fade) / fade)).astype(np.int16)
        if ends:
            fade = min(length // 2, round(END_S * self.rate))
            out[length - fade:] = (out[length - fade:] *
                                   _ease(1.0, 0.0, np.arange(fade) / fade)).astype(np.int16)
        else:
            ramp = 1 - np.arange(join) / join
            out[length:] = (out[length:] * ramp).astype(np.int16)

    def forget(self) -> None:
        """The tide has been cut (a hush): the next clip fades in again."""
        self._end = None
