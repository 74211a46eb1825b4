"""The LED on a mock PWM pin: perceptual brightness, capped, and off when closed."""

from __future__ import annotations

import math

from hardware.light import Light, switch_off
from hardware.lightness import duty_for


def test_lightness_becomes_the_cie_duty_on_the_pin(pins):
    light = Light(18, max_brightness=1.0, pin_factory=pins)
    pin = pins.pin(18)
    assert light.show(0.5) == duty_for(0.5)
    assert math.isclose(pin.state, duty_for(0.5))
    light.show(1.0)
    assert pin.state == 1.0


def test_max_brightness_caps_on_the_perceptual_scale(pins):
    light = Light(18, max_brightness=0.5, pin_factory=pins)
    assert math.isclose(light.show(1.0), duty_for(0.5))
    assert math.isclose(pins.pin(18).state, duty_for(0.5))


def test_coarse_pwm_keeps_a_dim_glow_visible_and_lands_on_whole_steps(pins):
    light = Light(18, max_brightness=0.8, pin_factory=pins, steps=100)
    pin = pins.pin(18)
    assert duty_for(0.1 * 0.8) < 0.01  # would truncate to off on a 100-step backend
    assert light.show(0.1) == 0.01
    assert duty_for(0.05 * 0.8) < 0.005  # would even round to off
    assert light.show(0.05) == 0.01
    for lightness in (0.1, 0.3, 0.55, 0.9, 1.0):
        duty = light.show(lightness)
        assert math.isclose(duty * 100, round(duty * 100))
        # what a truncating backend (gpiozero's lgpio pin) would send is the same step
        assert int(pin.state * 100) == round(duty * 100)
    assert light.show(0.0) == 0.0 and pin.state == 0.0


def test_off_and_close_leave_the_pin_dark(pins):
    light = Light(18, pin_factory=pins)
    light.show(0.7)
    light.off()
    assert pins.pin(18).state == 0
    light.show(0.7)
    light.close()
    assert pins.pin(18).state == 0


def test_switch_off_darkens_a_pin_left_glowing_and_lets_it_go(pins):
    """As `ebbtide off` after a SIGKILL: the dead process left the pin at 80 % PWM."""
    pin = pins.pin(18)
    pin.function = "output"
    pin.frequency = 500
    pin.state = 0.8
    switch_off(18, pins)
    assert pin.state == 0 and pin.frequency is None
    Light(18, pin_factory=pins).close()  # released: the next run can take the pin
