"""The breath sound: filtered noise that swells on the inhale and ebbs on the exhale.

It carries the rhythm for someone whose eyes are closed. Loudness follows the light's own
envelope, and the two directions differ in colour as real breath does: the inhale is airy
and bright, the exhale softer and darker, so either can be told apart by ear alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BREATH_LEVEL = 0.08  # RMS at full light: a soft hush under the voice
_LOOP_SECONDS = 6.0  # each colour is a seamless loop of this much noise
_EDGE_S = 0.06  # every breath sound starts and ends with a fade this long
# (low cut, high cut) in Hz of each colour's band
_INHALE_BAND = (600.0, 3000.0)
_EXHALE_BAND = (120.0, 900.0)


def _coloured_noise(rate: int, band: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A loop of noise with a soft band-pass; filtering in the frequency domain of the whole
    loop makes it circular, so the loop has no seam."""
    n = round(_LOOP_SECONDS * rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freq = np.fft.rfftfreq(n, 1 / rate)
    low, high = band
    with np.errstate(divide="ignore"):
        # Second-order slopes on both sides: no ringing, no hard edge in the sound.
        gain = 1 / (1 + (low / np.maximum(freq, 1e-9)) ** 4) / (1 + (freq / high) ** 4)
    noise = np.fft.irfft(spectrum * np.sqrt(gain), n)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


class BreathSound:
    """Makes one clip of breath sound per breath phase, at a given sample rate."""

    def __init__(self, rate: int, seed: int = 0) -> None:
        self.rate = rate
        self._rng = np.random.default_rng(seed)
        self._inhale = _coloured_noise(rate, _INHALE_BAND, self._rng)
        self._exhale = _coloured_noise(rate, _EXHALE_BAND, self._rng)

    def clip(self, seconds: float, levels: Sequence[float], inhale: bool) -> np.ndarray:
        """The sound of one phase lasting `seconds`, its loudness following `levels`.

        levels: the light's lightness (0-1) at evenly spaced moments from the phase's start
        to its end, both included.
        """
        n = round(seconds * self.rate)
        if n <= 0 or len(levels) == 0:
            return np.zeros(0, dtype=np.float32)
        envelope = np.interp(np.linspace(0, len(levels) - 1, n), np.arange(len(levels)), levels)
        edge = min(n // 2, round(_EDGE_S * self.rate))
        if edge:
            rise = (1 - np.cos(np.pi * np.arange(edge) / edge)) / 2
            envelope[:edge] *= rise
            envelope[n - edge :] *= rise[::-1]
        bed = self._inhale if inhale else self._exhale
        start = int(self._rng.integers(len(bed)))
        noise = np.take(bed, np.arange(start, start + n), mode="wrap")
        return (noise * envelope * BREATH_LEVEL).astype(np.float32)
