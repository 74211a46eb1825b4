"""Choosing the pin factory."""

from __future__ import annotations

import contextlib

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from hardware.pins import NoPins, choose_factory


def test_mock_from_the_environment_has_pwm_pins(monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.delenv("GPIOZERO_MOCK_PIN_CLASS", raising=False)
    factory = choose_factory()
    assert isinstance(factory, MockFactory) and factory.pin_class is MockPWMPin
    factory.close()


def test_no_gpio_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    try:
        factory = choose_factory()
    except NoPins as error:
        message = str(error)
        assert "no GPIO pins found" in message and "GPIOZERO_PIN_FACTORY=mock" in message
        assert "\n" not in message
    else:  # on a real Pi there are pins
        factory.close()
        pytest.skip("this machine has real GPIO")


def _no_pins_message() -> str:
    try:
        factory = choose_factory()
    except NoPins as error:
        return str(error)
    factory.close()  # on a real Pi there are pins
    pytest.skip("this machine has real GPIO")


def test_no_gpio_is_one_line_with_lgpio_s_reason_not_every_backend_s(monkeypatch):
    """lgpio installed, no Pi: the reason lgpio gave and what to do, not gpiozero's four
    "Falling back from ..." warnings (RPi.GPIO, pigpio and native are not installed or
    not a Pi either, and say nothing a user can act on)."""
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    message = _no_pins_message()
    assert message.startswith("no GPIO pins found (lgpio: ")
    assert "Falling back" not in message
    assert not any(name in message for name in ("rpigpio", "pigpio", "native", "RPi"))
    assert "install lgpio" in message and "GPIOZERO_PIN_FACTORY=mock" in message
    assert "\n" not in message


def test_no_lgpio_says_to_install_it(monkeypatch):
    """As on a Pi whose Ebbtide was installed without lgpio (pip install . alone): the line
    says lgpio is missing and how to get it."""
    import sys

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    for name in ("lgpio", "gpiozero.pins.lgpio"):  # as if never installed
        monkeypatch.setitem(sys.modules, name, None)
    message = _no_pins_message()
    assert message.startswith("no GPIO pins found (lgpio is not installed). ")
    assert "install lgpio (./setup.sh does" in message and "\n" not in message


def test_lgpio_gets_a_writable_directory_when_the_working_one_is_not(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv("LG_WD", "placeholder")  # so that monkeypatch restores it afterwards
    monkeypatch.delenv("LG_WD")
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path))
    monkeypatch.chdir("/proc/self")  # not writable, even for root
    with contextlib.suppress(NoPins):
        choose_factory().close()
    assert os.environ["LG_WD"] == str(tmp_path)
