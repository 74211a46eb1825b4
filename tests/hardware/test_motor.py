"""The vibration motor: a kick from standstill, then the touch between where the motor
starts and its strength; 0 is always 0."""

from __future__ import annotations

import pytest

from hardware.motor import KICK, Motor, switch_off


def test_a_start_is_a_kick_then_the_touch_maps_from_start_duty_to_strength(pins):
    motor = Motor(12, strength=0.8, start_duty=0.4, pin_factory=pins)
    pin = pins.pin(12)
    assert motor.show(0.5) == KICK and pin.state == KICK, "from standstill: a kick"
    assert motor.show(0.5) == pytest.approx(0.6) and pin.state == pytest.approx(0.6)
    assert motor.show(1.0) == pytest.approx(0.8)
    assert motor.show(0.01) == pytest.approx(0.404), "never below where it turns"
    assert motor.show(0.0) == 0.0 and pin.state == 0
    assert motor.show(0.3) == KICK, "stopped again: another kick"
    motor.close()
    assert pin.state == 0


def test_switch_off_stills_a_motor_left_running(pins):
    pin = pins.pin(12)
    pin.function = "output"
    pin.frequency = 200
    pin.state = 0.7
    switch_off(12, pins)
    assert pin.state == 0
