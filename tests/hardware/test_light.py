"""The LED on a mock PWM pin: perceptual brightness, capped, and off when closed."""

from __future__ import annotations

import math

import pytest

from hardware.light import Light, RGBLight, hardware_pwm, linear_color, switch_off
from hardware.lightness import duty_for
from tests.hardware.test_sysfs_pwm import sysfs  # noqa: F401 - the fake /sys/class/pwm fixture


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


@pytest.fixture
def kernel_pwm(request, tmp_path):
    """The fake /sys/class/pwm of test_sysfs_pwm, its chip a Pi 4's PWM."""
    fake = request.getfixturevalue("sysfs")
    device = tmp_path / "devices" / "fe20c000.pwm"
    device.mkdir(parents=True)
    (fake.chip / "device").symlink_to(device)
    return fake


def test_with_hardware_pwm_the_light_writes_nanoseconds_and_ends_unexported(kernel_pwm):
    light = Light(18, max_brightness=1.0, backend="sysfs", pwm_root=kernel_pwm.root)
    assert light.hardware is not None and light.steps is None
    light.show(0.001)  # the faintest glow is not rounded away
    assert int(kernel_pwm.channel(0).joinpath("duty_cycle").read_text()) >= 1
    light.show(1.0)
    assert kernel_pwm.channel(0).joinpath("duty_cycle").read_text().strip() == "2000000"
    light.close()
    writes = kernel_pwm.writes  # (the fake kernel acts on them now)
    assert writes[-1][0] == "unexport" and not kernel_pwm.channel(0).exists()


def test_sysfs_asked_for_but_not_there_is_one_warning_and_gpiozero_lights_it(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="ebbtide")
    assert hardware_pwm(18, "sysfs", None, tmp_path / "none") is None
    [line] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "dtoverlay=pwm,pin=18,func=2" in line.getMessage()
    assert "the light uses gpiozero" in line.getMessage()
    caplog.clear()
    assert hardware_pwm(18, "auto", None, tmp_path / "none") is None
    assert not [r for r in caplog.records if r.levelname == "WARNING"], "auto is quiet"
    assert hardware_pwm(17, "auto", None, tmp_path / "none") is None  # no PWM on GPIO17


def test_mock_pins_never_use_hardware_pwm(kernel_pwm, pins):
    light = Light(18, pin_factory=pins, backend="auto", pwm_root=kernel_pwm.root)
    assert light.hardware is None
    light.close()


def test_switch_off_darkens_a_hardware_channel_left_glowing(kernel_pwm):
    """After a SIGKILL an exported PWM channel keeps its duty; `ebbtide off` darkens it and
    leaves the pin with the PWM (no GPIO write that would take it away)."""
    light = Light(18, max_brightness=1.0, backend="sysfs", pwm_root=kernel_pwm.root)
    light.show(0.8)  # then the process dies without closing
    assert switch_off(18, None, "auto", kernel_pwm.root) == "hardware PWM pwmchip0/pwm0"
    writes = kernel_pwm.writes
    assert [w for w in writes if w[0].endswith("duty_cycle")][-1][1] == "0"
    assert writes[-1][0] == "unexport" and not kernel_pwm.channel(0).exists()


def test_an_rgb_light_fades_in_one_hue_and_amber_never_lights_blue(pins):
    light = RGBLight((18, 23, 24), color="#ff7e00", max_brightness=1.0, pin_factory=pins)
    red, green, blue = (pins.pin(p) for p in (18, 23, 24))
    ratios = []
    for lightness in (0.05, 0.2, 0.5, 0.8, 1.0):
        duty = light.show(lightness)
        assert duty == pytest.approx(red.state) and blue.state == 0
        ratios.append(green.state / red.state)
    assert max(ratios) - min(ratios) < 1e-9, "the hue holds at every brightness"
    assert ratios[0] == pytest.approx(linear_color("#ff7e00")[1])
    assert red.state == pytest.approx(duty_for(1.0))
    light.color = "#ffffff"  # by day: every die alike
    light.show(0.5)
    assert red.state == green.state == blue.state > 0
    light.close()
    assert (red.state, green.state, blue.state) == (0, 0, 0)


def test_a_common_anode_rgb_light_is_lit_by_pulling_low(pins):
    light = RGBLight((18, 23, 24), color="#ff0000", common="anode", pin_factory=pins)
    light.show(1.0)
    assert pins.pin(18).state == pytest.approx(1 - duty_for(1.0))
    assert pins.pin(23).state == 1 and pins.pin(24).state == 1  # high: dark
    light.off()
    assert all(pins.pin(p).state == 1 for p in (18, 23, 24))
    light.close()


def test_switch_off_darkens_a_common_anode_die_by_driving_it_high(pins):
    pin = pins.pin(23)
    pin.function = "output"
    pin.state = 0  # low: a common-anode die left lit
    pin.clear_states()
    switch_off(23, pins, "gpiozero", lit_when_high=False)
    assert [s.state for s in pin.states][:2] == [0, 1], "driven high (dark), then let go"
