"""The soft chime that marks a change of part, synthesised once per sample rate.

A low bell-like tone: a few partials that die away at their own pace under a rounded attack,
so it is heard as a gentle "dong" and never as a beep.
"""

from __future__ import annotations

import numpy as np

CHIME_SECONDS = 1.6
CHIME_PEAK = 0.22  # well under the voice, which peaks near 0.7
_FUNDAMENTAL_HZ = 294.0  # D4: low, yet still carried by a small speaker
# (ratio to the fundamental, relative amplitude, seconds to fall to 1/e)
_PARTIALS = ((1.0, 1.0, 0.55), (2.0, 0.3, 0.3), (3.0, 0.1, 0.18), (1.5, 0.15, 0.4))
_ATTACK_S = 0.02  # long enough to be no click, short enough to sound struck
_RELEASE_S = 0.15  # the tail is brought to exactly zero
_BLOCK = 4096  # made a block at a time: a whole-length float64 chime set the service's peak


def soft_chime(rate: int) -> np.ndarray:
    """The chime as mono float32 samples at `rate`."""
    n = round(CHIME_SECONDS * rate)
    tone = np.empty(n, dtype=np.float32)
    for start in range(0, n, _BLOCK):  # no whole-length float64 temporaries
        t = np.arange(start, min(start + _BLOCK, n)) / rate
        block = np.zeros(len(t))
        for ratio, amplitude, decay in _PARTIALS:
            phase = 2 * np.pi * _FUNDAMENTAL_HZ * ratio * t
            block += amplitude * np.exp(-t / decay) * np.sin(phase)
        tone[start : start + len(t)] = block
    attack = min(n, round(_ATTACK_S * rate))
    tone[:attack] *= (1 - np.cos(np.pi * np.arange(attack) / attack)) / 2
    release = min(n, round(_RELEASE_S * rate))
    tone[n - release :] *= (1 + np.cos(np.pi * np.arange(release) / release)) / 2
    tone *= CHIME_PEAK / max(float(tone.max()), -float(tone.min()))
    return tone
