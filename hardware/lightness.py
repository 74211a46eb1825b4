"""The perceptual light curve: CIE L* lightness to PWM duty and back.

The eye judges a fade by lightness, not by duty cycle. A fade that is linear in
L* looks even; one linear in duty looks like it rushes up and lingers at the top.
"""

from __future__ import annotations

_KAPPA = 903.3  # CIE: L* = 903.3 * Y below the linear-segment threshold
_L_THRESHOLD = 8.0


def duty_for(lightness: float) -> float:
    """Return the relative luminance (PWM duty, 0-1) that looks like `lightness` (0-1)."""
    lstar = min(max(lightness, 0.0), 1.0) * 100.0
    if lstar <= _L_THRESHOLD:
        return lstar / _KAPPA
    return ((lstar + 16.0) / 116.0) ** 3


def lightness_for(duty: float) -> float:
    """Return the perceptual lightness (0-1) of a PWM duty (0-1): the inverse of duty_for."""
    y = min(max(duty, 0.0), 1.0)
    if y <= _L_THRESHOLD / _KAPPA:
        return y * _KAPPA / 100.0
    return (116.0 * y ** (1.0 / 3.0) - 16.0) / 100.0
