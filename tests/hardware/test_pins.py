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
