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
            raise NoPins(no_pins_message(error, [str(w.message) for w in fallbacks])) from None
    if type(factory).__name__ == "LGPIOFactory":
        from hardware.lgpio_pin import fine_pin_class

        factory.pin_class = fine_pin_class()  # duty to the microsecond, not whole percent
    return factory


def no_pins_message(error: Exception, fallbacks: list[str]) -> str:
    """One line for a person: why there are no pins, and what to do, on a Pi or not.

    gpiozero tries four backends and warns once for each; only lgpio's failure says
    anything on a current Pi (RPi.GPIO and pigpio are old ways, and "native" needs a Pi as
    lgpio does), so the line gives lgpio's reason, not the four."""
    if "GPIOZERO_PIN_FACTORY" in os.environ:  # asked for one by name: its own error
        cause = f"GPIOZERO_PIN_FACTORY={os.environ['GPIOZERO_PIN_FACTORY']}: {error}"
    elif not _lgpio_installed():
        cause = "lgpio is not installed"
    else:
        said = next((m.split(":", 1)[1].strip() for m in fallbacks
                     if m.startswith("Falling back from lgpio:")), str(error))
        cause = f"lgpio: {said}"
    return (f"no GPIO pins found ({cause}). On a Raspberry Pi, install lgpio (./setup.sh "
            "does, or: pip install lgpio); without a Pi, try 'ebbtide demo' or set "
            "GPIOZERO_PIN_FACTORY=mock.")


def _lgpio_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("lgpio") is not None
    except ValueError:  # blocked in sys.modules: as good as not installed
        return False


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
