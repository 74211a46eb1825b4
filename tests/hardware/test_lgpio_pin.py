"""Ebbtide's lgpio pin keeps the duty's fraction of a percent: lgpio rounds it to the
microsecond, 2000 levels at 500 Hz. (The pin itself needs a GPIO chip: see the Pi checklist
in systemd/README.md; here, the arithmetic it relies on, and the light it gives.)"""

from __future__ import annotations

import importlib.util

import pytest

from bench.pins import recording_factory
from hardware.lgpio_pin import lgpio_levels, lgpio_percent
from hardware.light import Light, pwm_levels
from hardware.lightness import lightness_for


def test_lgpio_has_one_level_per_microsecond_of_the_period():
    assert lgpio_levels(500) == 2000
    assert lgpio_levels(100) == 10000
    assert lgpio_levels(10000) == 100


def test_the_duty_is_passed_as_a_float_percentage_not_cut_to_whole_percent():
    assert lgpio_percent(0.0005) == pytest.approx(0.05)
    assert lgpio_percent(0.12345) == pytest.approx(12.345)
    assert (lgpio_percent(-0.1), lgpio_percent(1.5)) == (0.0, 100.0)


def test_each_lgpio_pin_class_has_its_own_levels():
    assert pwm_levels("LGPIOPin", 500) == (100, True)  # gpiozero's: int(value * 100)
    assert pwm_levels("FineLGPIOPin", 500) == (2000, False)  # lgpio rounds to 1 us
    assert pwm_levels("MockPWMPin", 500) == (None, False)


def test_on_ebbtides_lgpio_pin_the_first_glow_out_of_darkness_is_under_one_l_star():
    """What lgpio will do with each value the light writes: round it to a microsecond."""
    steps, truncates = pwm_levels("FineLGPIOPin", 500)
    factory = recording_factory()
    light = Light(18, max_brightness=1.0, pin_factory=factory, steps=steps,
                  truncates=truncates)
    try:
        light.show(0.001)  # the faintest glow: one step, never off
        light.show(0.5)
    finally:
        light.close()
    written = [value for _, value in factory.pin(18).writes if value > 0]
    micros = [lgpio_percent(v) / 100 * 2000 for v in written]
    assert micros[0] == pytest.approx(1.0), "exactly one microsecond: no half-step added"
    assert all(m == pytest.approx(round(m)) for m in micros), "whole microseconds"
    assert 100 * lightness_for(1 / 2000) < 1.0


@pytest.mark.skipif(importlib.util.find_spec("lgpio") is None,
                    reason="lgpio is not installed (Raspberry Pi OS: python3-lgpio)")
def test_the_pin_class_is_an_lgpio_pin():
    from gpiozero.pins.lgpio import LGPIOPin

    from hardware.lgpio_pin import fine_pin_class

    assert issubclass(fine_pin_class(), LGPIOPin)
