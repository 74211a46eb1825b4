"""How smooth a fade looks: the largest step in CIE L* between consecutive values written.

Ours is the real Light (perceptual curve, rounded to the backend's duty steps) written at
the runner's tick rate; the baseline is gpiozero's pulse(): duty rising in a straight line
at 25 frames a second. Both fade from off to full over the bench pattern's 4 s inhale, and
each value is then cut to the duty levels the backend really has.
"""

from __future__ import annotations

import itertools

from bench.pins import recording_factory
from device.plan import ease
from device.runner import TICK_HZ
from hardware.light import Light
from hardware.lightness import lightness_for

FADE_S = 4.0
BASELINE_FPS = 25  # gpiozero's pulse()
PIN = 18

# Duty levels per backend, as gpiozero drives them: lgpio truncates to whole percent
# (101 levels), pigpio uses a range of 10000; RPi.GPIO and mock pins take any value.
BACKENDS = {"lgpio (101 levels)": 100, "pigpio (10001 levels)": 10000, "exact": None}


def _on_backend(duty: float, steps: int | None) -> float:
    return duty if steps is None else int(duty * steps + 1e-9) / steps


def _max_step(duties: list[float]) -> float:
    """The largest lightness step, in L* units (0-100), between consecutive values."""
    levels = [100 * lightness_for(d) for d in duties]
    return max(abs(b - a) for a, b in itertools.pairwise(levels))


def ours_max_step(steps: int | None) -> float:
    factory = recording_factory()
    light = Light(PIN, max_brightness=1.0, pin_factory=factory, steps=steps)
    try:
        ticks = round(FADE_S * TICK_HZ)
        for k in range(ticks + 1):
            light.show(ease(0.0, 1.0, k / ticks))
        written = [v for _, v in factory.pin(PIN).writes]
    finally:
        light.close()
        factory.close()
    return _max_step([_on_backend(v, steps) for v in written])


def baseline_max_step(steps: int | None) -> float:
    frames = int(BASELINE_FPS * FADE_S)
    return _max_step([_on_backend(i / frames, steps) for i in range(frames)] + [1.0])


def max_lightness_steps() -> dict[str, dict[str, float]]:
    """{"ours": {backend: step}, "baseline": {backend: step}}, in L* units."""
    return {
        "ours": {name: round(ours_max_step(steps), 3) for name, steps in BACKENDS.items()},
        "baseline": {name: round(baseline_max_step(steps), 3)
                     for name, steps in BACKENDS.items()},
    }
