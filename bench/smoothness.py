"""How smooth a fade looks: the largest step in CIE L* between consecutive values written.

Ours is the real Light (perceptual curve, rounded to the backend's duty steps) written on
the runner's ticks (50 Hz where the light moves fastest, fewer where it moves slowly); the
baseline is gpiozero's pulse(): duty rising in a straight line at 25 frames a second. Both
fade from off to full over the bench pattern's 4 s inhale, and each value is then cut to
the duty levels the backend really has.
"""

from __future__ import annotations

import itertools

from bench.pins import recording_factory
from device.core.part_builder import ease
from device.service.runner import TICK_HZ, ticks_to_skip
from hardware.lgpio_pin import lgpio_levels
from hardware.light import Light
from hardware.lightness import lightness_for

FADE_S = 4.0
BASELINE_FPS = 25  # gpiozero's pulse()
PIN = 18

FREQUENCY = 500  # Hz, the Light's PWM frequency

# Duty levels per backend at FREQUENCY, and whether it truncates (else rounds) to them.
# Defaults on a Pi: lgpio (Bookworm, every Pi 5), as Ebbtide drives it (FineLGPIOPin: lgpio
# rounds to the microsecond), and kernel PWM through sysfs (nanoseconds). For comparison:
# lgpio as gpiozero drives it (whole percent), pigpio (range 10000), and exact.
BACKENDS: dict[str, tuple[int | None, bool]] = {
    "lgpio-fine": (lgpio_levels(FREQUENCY), False),  # 2001 levels
    "sysfs": (round(1e9 / FREQUENCY), False),  # 2,000,001 levels
    "lgpio-gpiozero": (100, True),  # 101 levels
    "pigpio": (10000, True),  # 10001 levels
    "exact": (None, False),
}
DEFAULT_ON_A_PI = ("lgpio-fine", "sysfs")


def _on_backend(duty: float, steps: int | None, truncates: bool) -> float:
    if steps is None:
        return duty
    return (int(duty * steps + 1e-9) if truncates else round(duty * steps)) / steps


def _max_step(duties: list[float]) -> float:
    """The largest lightness step, in L* units (0-100), between consecutive values."""
    levels = [100 * lightness_for(d) for d in duties]
    return max(abs(b - a) for a, b in itertools.pairwise(levels))


def ours_max_step(steps: int | None, truncates: bool) -> float:
    factory = recording_factory()
    light = Light(PIN, max_brightness=1.0, pin_factory=factory, frequency=FREQUENCY,
                  steps=steps, truncates=truncates)
    try:
        ticks = round(FADE_S * TICK_HZ)
        k = 0
        while k < ticks:  # the runner's ticks: every one where the light moves fastest
            light.show(ease(0.0, 1.0, k / ticks))
            k += 1 + ticks_to_skip(lambda t: ease(0.0, 1.0, t / FADE_S), k / TICK_HZ)
        light.show(1.0)  # the end of the fade is a phase boundary: written on time
        written = [v for _, v in factory.pin(PIN).writes]
    finally:
        light.close()
        factory.close()
    return _max_step([_on_backend(v, steps, truncates) for v in written])


def baseline_max_step(steps: int | None, truncates: bool) -> float:
    frames = int(BASELINE_FPS * FADE_S)
    return _max_step([_on_backend(i / frames, steps, truncates) for i in range(frames)]
                     + [1.0])


def max_lightness_steps() -> dict[str, dict[str, float]]:
    """{"ours": {backend: step}, "baseline": {backend: step}}, in L* units."""
    return {
        "ours": {name: round(ours_max_step(*levels), 3) for name, levels in BACKENDS.items()},
        "baseline": {name: round(baseline_max_step(*levels), 3)
                     for name, levels in BACKENDS.items()},
    }
