"""The I2C bus the breath sensor is on (/dev/i2c-N), and what can go wrong on it, each said
as one line for a person: the bus switched off, the i2c group missing, no chip answering,
an address a kernel driver holds.

The library is smbus2: pure Python (one module, 76 kB installed, no compiled part and no
dependency), typed, a wheel for every Pi, and packaged by Debian as python3-smbus2. The
vendors' drivers were weighed against it: Adafruit's CircuitPython libraries for these parts
(adafruit-circuitpython-lsm6ds and -mpu6050) run on a Pi through Adafruit-Blinka, and the two
installed 17 packages, 13 MB, on x86_64 here (board detection, a USB-to-I2C stack, an HTTP
client; on a Pi, its GPIO libraries too): a second GPIO layer beside gpiozero, for what is
here three register writes and one block read per sample. A register map read from the
datasheet is short enough to own (hardware/motion_chips.py), and the tests can give it a
fake bus at the register level.

This is the only module that imports smbus2; the chips see the bus through `I2CBus`.
"""

from __future__ import annotations

import errno
import getpass
from collections.abc import Callable
from typing import Protocol

from device.core.errors import EbbtideError

ENABLE_I2C = ("switch I2C on with `sudo raspi-config nonint do_i2c 0` (or add the line "
              "`dtparam=i2c_arm=on` to /boot/firmware/config.txt), then reboot")
WIRING = "3V3, GND, SDA to GPIO2 (pin 3), SCL to GPIO3 (pin 5)"
# The errors a transfer to an address where nothing answers gives: the chip did not
# acknowledge (NACK). Most Pi I2C controllers say EREMOTEIO (121), some ENXIO (6).
NO_ANSWER = frozenset({errno.EREMOTEIO, errno.ENXIO})


class SensorError(EbbtideError):
    """The breath sensor cannot be read; the message is one line saying why and what to do."""


class BusMissing(SensorError):
    """/dev/i2c-N does not exist: I2C is switched off (or it is another bus)."""


class BusForbidden(SensorError):
    """/dev/i2c-N exists, but this user may not open it."""


class NoChip(SensorError):
    """Nothing acknowledges at the address."""


class AddressTaken(SensorError):
    """A kernel driver holds the address (a dtoverlay for the chip)."""


class I2CBus(Protocol):
    """What the chips use of a bus: smbus2.SMBus's methods, which the tests' fake bus has too.
    Each raises OSError as the kernel does (errno 121 for no answer)."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def close(self) -> None: ...


BusOpener = Callable[[int], I2CBus]  # bus number -> an open bus


def device_path(bus: int) -> str:
    return f"/dev/i2c-{bus}"


def open_i2c_bus(bus: int) -> I2CBus:
    """/dev/i2c-`bus` opened with smbus2; BusMissing or BusForbidden, each one line."""
    try:
        from smbus2 import SMBus  # here, so that nothing without a sensor loads it
    except ImportError:
        raise SensorError("smbus2, which reads the I2C bus, is not installed: install "
                          "Ebbtide's sensor extra (`.venv/bin/pip install -e '.[sensor]'` in "
                          "Ebbtide's folder; ./setup.sh does it on a Raspberry Pi)") from None

    opened = SMBus()
    try:
        opened.open(bus)
    except OSError as error:
        opened.close()  # smbus2 may have opened the file before its first ioctl failed
        raise opening_failed(error, bus) from None
    return opened


def opening_failed(error: OSError, bus: int) -> SensorError:
    """The one line for a bus that would not open (os.open's error, as smbus2 passes it on)."""
    path = device_path(bus)
    if error.errno == errno.ENOENT:
        other = "" if bus == 1 else ("; or set [sensor] bus to the sensor's bus "
                                     "(`ls /dev/i2c-*` lists them)")
        return BusMissing(f"the I2C bus {path} does not exist: {ENABLE_I2C}{other}")
    if error.errno in (errno.EACCES, errno.EPERM):
        return BusForbidden(
            f"permission denied opening {path}: add the user to the i2c group "
            f"(`sudo usermod -aG i2c {_user()}`, then log out and in again)")
    reason = (error.strerror or str(error)).lower()
    return SensorError(f"cannot open the I2C bus {path}: {reason}")


def transfer_failed(error: OSError, bus: int, address: int, part: str) -> SensorError:
    """The one line for a transfer to the chip that failed while opening it."""
    where = f"address {address:#04x} on {device_path(bus)}"
    if error.errno in NO_ANSWER:
        return NoChip(
            f"no chip answers at {where} (the {part} was expected): check the wiring ({WIRING}) "
            f"and [sensor] address; `i2cdetect -y {bus}` lists the addresses that answer")
    if error.errno == errno.EBUSY:
        return AddressTaken(
            f"a kernel driver holds {where}: remove the sensor's dtoverlay line from "
            "/boot/firmware/config.txt and reboot, so that Ebbtide can read it")
    reason = (error.strerror or str(error)).lower()
    return SensorError(f"the {part} at {where} cannot be read: {reason}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no name (a container)
        return "$USER"
