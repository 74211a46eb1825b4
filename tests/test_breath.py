"""The breath sound: loudness that follows the light, and an inhale that can be told from an
exhale by ear (brighter and rising versus darker and falling)."""

from __future__ import annotations

import numpy as np
import pytest

from audio.breath import BREATH_LEVEL, BreathSound
from device.plan import ease

RATE = 48000


def envelope(begin: float, end: float, n: int = 101) -> list[float]:
    return [ease(begin, end, k / (n - 1)) for k in range(n)]


def loudness(x: np.ndarray, windows: int) -> np.ndarray:
    size = len(x) // windows
    return np.sqrt(np.mean(x[: size * windows].reshape(windows, size) ** 2, axis=1))


def centroid(x: np.ndarray) -> float:
    """Where the sound's energy sits in frequency: the higher, the brighter it sounds."""
    power = np.abs(np.fft.rfft(x)) ** 2
    freq = np.fft.rfftfreq(len(x), 1 / RATE)
    return float((freq * power).sum() / power.sum())


@pytest.fixture(scope="module")
def breath() -> BreathSound:
    return BreathSound(RATE)


def test_loudness_follows_the_light_envelope(breath: BreathSound) -> None:
    levels = envelope(0.1, 1.0)
    sound = breath.clip(4.0, levels, inhale=True)
    assert len(sound) == 4 * RATE and sound.dtype == np.float32
    heard = loudness(sound, 40)[2:-2]  # away from the soft edges
    light = np.interp(np.linspace(0, 100, 40), np.arange(101), levels)[2:-2]
    assert np.corrcoef(heard, light)[0, 1] > 0.98
    assert heard / light == pytest.approx(BREATH_LEVEL * np.ones(len(heard)), rel=0.25)


def test_an_exhale_fades_as_the_light_fades(breath: BreathSound) -> None:
    levels = envelope(1.0, 0.1)
    heard = loudness(breath.clip(6.0, levels, inhale=False), 30)[1:-1]
    light = np.interp(np.linspace(0, 100, 30), np.arange(101), levels)[1:-1]
    assert np.corrcoef(heard, light)[0, 1] > 0.95
    assert heard[:3].mean() > 5 * heard[-3:].mean()


def test_the_inhale_is_brighter_than_the_exhale(breath: BreathSound) -> None:
    flat = envelope(1.0, 1.0)
    inhale = breath.clip(3.0, flat, inhale=True)
    exhale = breath.clip(3.0, flat, inhale=False)
    assert centroid(inhale) > 2.5 * centroid(exhale)
    assert 1000 < centroid(inhale) < 4000 and 200 < centroid(exhale) < 800


def test_each_breath_starts_and_ends_softly(breath: BreathSound) -> None:
    sound = breath.clip(3.0, envelope(1.0, 1.0), inhale=True)
    assert sound[0] == 0.0
    assert np.max(np.abs(sound[:10])) < 0.01 * BREATH_LEVEL
    assert np.max(np.abs(sound[-10:])) < 0.01 * BREATH_LEVEL
    assert len(breath.clip(0.0, [1.0], inhale=False)) == 0
