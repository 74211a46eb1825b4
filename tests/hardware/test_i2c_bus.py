"""The I2C bus and what goes wrong on it, each one line that says what to do. The missing
bus is this machine's own (it has no I2C); the other errors are the kernel's errno values."""

from __future__ import annotations

import errno
import getpass
from pathlib import Path

import pytest

from hardware.i2c_bus import (
    AddressTaken,
    BusForbidden,
    BusMissing,
    NoChip,
    SensorError,
    open_i2c_bus,
    opening_failed,
    transfer_failed,
)


def missing_bus(start: int) -> int:
    return next(n for n in range(start, 256) if not Path(f"/dev/i2c-{n}").exists())


def test_a_bus_that_is_not_there_says_how_to_switch_i2c_on():
    bus = missing_bus(1)
    with pytest.raises(BusMissing) as raised:
        open_i2c_bus(bus)
    message = str(raised.value)
    assert message.startswith(f"the I2C bus /dev/i2c-{bus} does not exist: switch I2C on with "
                              "`sudo raspi-config nonint do_i2c 0` (or add the line "
                              "`dtparam=i2c_arm=on` to /boot/firmware/config.txt), then reboot")
    assert "\n" not in message


@pytest.mark.skipif(Path("/dev/i2c-1").exists(), reason="this machine has /dev/i2c-1")
def test_the_header_bus_missing_needs_no_word_about_other_buses():
    with pytest.raises(BusMissing) as raised:
        open_i2c_bus(1)
    assert "[sensor] bus" not in str(raised.value)


def test_another_bus_missing_may_be_the_wrong_number():
    bus = missing_bus(2)
    with pytest.raises(BusMissing, match=r"or set \[sensor\] bus to the sensor's bus "
                                         r"\(`ls /dev/i2c-\*` lists them\)$"):
        open_i2c_bus(bus)


def test_permission_denied_names_the_i2c_group_and_the_user():
    error = opening_failed(PermissionError(errno.EACCES, "Permission denied"), 1)
    assert isinstance(error, BusForbidden)
    assert str(error) == (f"permission denied opening /dev/i2c-1: add the user to the i2c "
                          f"group (`sudo usermod -aG i2c {getpass.getuser()}`, then log out "
                          "and in again)")


def test_no_answer_is_no_chip_whichever_errno_the_controller_gives():
    for code in (errno.EREMOTEIO, errno.ENXIO):
        error = transfer_failed(OSError(code, "x"), 1, 0x6A, "LSM6DSOX")
        assert isinstance(error, NoChip)
        assert str(error).startswith("no chip answers at address 0x6a on /dev/i2c-1 (the "
                                     "LSM6DSOX was expected)")


def test_an_address_a_kernel_driver_holds_says_so():
    error = transfer_failed(OSError(errno.EBUSY, "Device or resource busy"), 1, 0x6A, "LSM6DSOX")
    assert isinstance(error, AddressTaken)
    assert "a kernel driver holds address 0x6a on /dev/i2c-1" in str(error)
    assert "dtoverlay" in str(error)


def test_any_other_failure_is_still_one_plain_line():
    error = transfer_failed(OSError(errno.ETIMEDOUT, "Connection timed out"), 3, 0x68, "MPU-6050")
    assert type(error) is SensorError
    assert str(error) == ("the MPU-6050 at address 0x68 on /dev/i2c-3 cannot be read: "
                          "connection timed out")


def test_without_smbus2_installed_the_line_says_how_to_install_it(tmp_path):
    """A device set up without the sensor extra: `breath record` and `check` say so in one
    line (smbus2 made unimportable in a fresh Python, as it is where it was never installed)."""
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    config.write_text('[sensor]\nkind = "lsm6dsox"\n')
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['smbus2'] = None\n"
         "from device.cli import main\nsys.exit(main())", "breath", "record", "--config",
         str(config), "--seconds", "2", "--out", str(tmp_path / "out.csv")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "ebbtide: smbus2, which reads the I2C bus, is not installed: install Ebbtide's sensor "
        "extra (`.venv/bin/pip install -e '.[sensor]'` in Ebbtide's folder; ./setup.sh does "
        "it on a Raspberry Pi)"]
    assert not (tmp_path / "out.csv").exists()
