"""The chime: short, low, soft at both ends, and well under the voice."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from audio.chime import CHIME_PEAK, CHIME_SECONDS, soft_chime


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_the_chime_is_short_low_and_enveloped(rate: int) -> None:
    tone = soft_chime(rate)
    assert tone.dtype == np.float32
    assert len(tone) == round(CHIME_SECONDS * rate) and CHIME_SECONDS <= 2.0
    assert np.max(np.abs(tone)) == pytest.approx(CHIME_PEAK, rel=1e-3)
    assert CHIME_PEAK < 0.3, "well under the voice"
    # Low: most of the energy below 700 Hz.
    spectrum = np.abs(np.fft.rfft(tone)) ** 2
    freq = np.fft.rfftfreq(len(tone), 1 / rate)
    assert spectrum[freq < 700].sum() > 0.9 * spectrum.sum()
    # Enveloped: it starts and ends at silence, rises softly, and dies away.
    assert tone[0] == 0.0 and abs(tone[-1]) < 1e-4
    # No click: no step steeper than a 1 kHz sine at the chime's peak could make.
    assert np.max(np.abs(np.diff(tone))) < 2 * np.pi * 1000 * CHIME_PEAK / rate
    tenth = len(tone) // 10
    loudness = [float(np.sqrt(np.mean(tone[i : i + tenth] ** 2))) for i in range(0, 10 * tenth,
                                                                                  tenth)]
    assert all(a > b for a, b in itertools.pairwise(loudness)), "it fades away"
    assert loudness[-1] < 0.1 * loudness[0]
