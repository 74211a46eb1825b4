"""Choosing the pin factory: real GPIO on a Pi, mock pins anywhere else."""

from __future__ import annotations

import os
import tempfile
import warnings

from gpiozero import Device
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPWMPin

from device.core.errors import EbbtideError

PinFactory = Factory  # what device/ passes around, without importing gpiozero itself


class NoPins(EbbtideError):
    """No GPIO backend could be loaded on this machine."""


def mock_factory() -> MockFactory:
    """Mock pins that can do PWM, so the LED works on any machine."""
    return MockFactory(pin_class=MockPWMPin)


def choose_factory() -> Factory:
    """Return a pin factory: mock pins for GPIOZERO_PIN_FACTORY=mock, else gpiozero's choice.

    gpiozero's choice honours GPIOZERO_PIN_FACTORY. Its plain "mock" gives pins
    without PWM, so that case is built here with PWM-capable mock pins.
    """
    wants_mock = os.environ.get("GPIOZERO_PIN_FACTORY") == "mock"
    if wants_mock and "GPIOZERO_MOCK_PIN_CLASS" not in os.environ:
        return mock_factory()
    _give_lgpio_a_writable_directory()
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always")
        try:
            # gpiozero's own choice (GPIOZERO_PIN_FACTORY, else lgpio, rpigpio, pigpio,
            # native), through its one private name on purpose: the public way,
            # `Device.ensure_pin_factory()`, keeps the factory in the process-wide
            # `Device.pin_factory`, which every device then shares and gpiozero's exit hook
            # closes. Ebbtide passes its factory to each device and closes it itself
            # (`check` and `off` open and close one in a run; tests make many), so it takes
            # the factory without that global. Copying the choice with the public factory
            # classes and entry points would drift from gpiozero's order and messages;
            # gpiozero is pinned below 3 and tests/hardware/test_pins.py fails if the name goes.
            factory = Device._default_pin_factory()
        except Exception as error:
            reasons = "; ".join(str(w.message) for w in fallbacks) or str(error)
            raise NoPins(
                "no GPIO pins found (is this a Raspberry Pi?). "
                f"Tried: {reasons}. To try Ebbtide without a Pi, use 'ebbtide demo' "
                "or set GPIOZERO_PIN_FACTORY=mock."
            ) from None
    if type(factory).__name__ == "LGPIOFactory":
        from hardware.lgpio_pin import fine_pin_class

        factory.pin_class = fine_pin_class()  # duty to the microsecond, not whole percent
    return factory


def _give_lgpio_a_writable_directory() -> None:
    """lgpio makes its notify pipe in the working directory (or $LG_WD); a service started
    in a read-only directory would otherwise fail to open any pin.

    An environment variable, because that is lgpio's only way in: its Python module opens
    the pipe when it is imported (by gpiozero's LGPIOFactory, just after this), and neither
    lgpio nor gpiozero takes a directory as an argument. The unit file sets LG_WD itself,
    so this write only happens outside systemd, and never overrides a value already set."""
    if "LG_WD" not in os.environ and not os.access(os.getcwd(), os.W_OK):
        os.environ["LG_WD"] = os.environ.get("RUNTIME_DIRECTORY") or tempfile.gettempdir()


def describe_factory(factory: Factory) -> str:
    """A one-line name for `ebbtide check`."""
    return type(factory).__name__
