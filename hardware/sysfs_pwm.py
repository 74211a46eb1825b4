"""Hardware PWM through the kernel's /sys/class/pwm: duty in nanoseconds, not whole percent.

gpiozero's lgpio backend (the default on a Pi 5 and on Bookworm) truncates the duty to whole
percent, so the first glow out of darkness is a visible 1 % jump. The PWM peripheral that
drives GPIO 12, 13, 18 and 19 takes its duty in nanoseconds: at 500 Hz that is 2,000,000
steps. The kernel ABI (Documentation/ABI/testing/sysfs-class-pwm): write a channel number
to pwmchipN/export and pwmchipN/pwmM/ appears with period, duty_cycle, enable and polarity,
all in nanoseconds; write it to unexport to give the channel back.

Which channel drives which GPIO, and where the chip is (checked 2026-11-29):

- Pi 0-4 (BCM2835/2836/2837/2711): one PWM block, two channels. The overlays README
  ("pwm" and "pwm-2chan" sections, https://github.com/raspberrypi/linux/blob/rpi-6.6.y/
  arch/arm/boot/dts/overlays/README) lists "PWM0: 12,4(Alt0) 18,2(Alt5)" and
  "PWM1: 13,4(Alt0) 19,2(Alt5)": GPIO 12 and 18 are channel 0, GPIO 13 and 19 channel 1,
  enabled with e.g. `dtoverlay=pwm,pin=18,func=2` (or `pwm-2chan` for both). Its
  platform device is 2020c000.pwm (Pi 1/Zero), 3f20c000.pwm (Pi 2/3/Zero 2) or
  fe20c000.pwm (Pi 4): the bus address 7e20c000 translated to the ARM's view.
- Pi 5: the pins belong to RP1, whose PWM0 block has four channels: GPIO 12 = PWM0_CHAN0,
  13 = CHAN1, 18 = CHAN2, 19 = CHAN3 (`pinctrl -c rp1 funcs 12-13,18-19` in a Raspberry
  Pi forum answer, mirrored at https://raspberry4066.rssing.com/chan-78290277/article461.html;
  the RP1 peripherals datasheet; https://github.com/Pioreactor/rpi_hardware_pwm README and
  PR #11). The same overlay lines work: RP1's pinctrl translates the BCM function numbers
  (func=4 for 12/13, func=2 for 18/19; the same forum answer).
  Its platform device is 1f00098000.pwm (1f0009c000.pwm is the fan's PWM1: leave it
  alone). Its pwmchip number is NOT stable: pwmchip2 on kernel 6.6, pwmchip0 on 6.12
  (https://github.com/raspberrypi/linux/issues/6818, a Raspberry Pi engineer: "the kernel
  doesn't make any attempt to use systematic numbering"). Hence `find_chip`, which goes by
  the chip's device link, not its number.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
from pathlib import Path
from types import TracebackType

from device.core.errors import EbbtideError

SYSFS_PWM = Path("/sys/class/pwm")
EXPORT_TIMEOUT_S = 1.0  # udev sets the new files' group/mode a moment after the export
_POLL_S = 0.01

# GPIO -> (channel, the overlay's func= for that pin).
_BCM_CHANNELS = {12: (0, 4), 18: (0, 2), 13: (1, 4), 19: (1, 2)}
_RP1_CHANNELS = {12: (0, 4), 13: (1, 4), 18: (2, 2), 19: (3, 2)}
_BCM_DEVICES = frozenset({"2020c000.pwm", "3f20c000.pwm", "fe20c000.pwm"})
_RP1_DEVICE = "1f00098000.pwm"


class PWMUnavailable(EbbtideError):
    """Hardware PWM cannot be used: the message names the file, the reason and what to do."""


def hardware_pwm_channel(gpio: int, pi5: bool) -> tuple[int, int] | None:
    """Return (channel, func) for a GPIO that hardware PWM can drive, or None.

    `channel` is the pwmM to export on the PWM chip (see `find_chip`); `func` is what the
    overlay line needs for that pin: `dtoverlay=pwm,pin=<gpio>,func=<func>`. Not the chip
    number: on a Pi 5 that changes between kernels.
    """
    return (_RP1_CHANNELS if pi5 else _BCM_CHANNELS).get(gpio)


def overlay_line(gpio: int) -> str | None:
    """The config.txt line that routes hardware PWM to `gpio` (the same on every Pi), or None."""
    found = _BCM_CHANNELS.get(gpio)
    return None if found is None else f"dtoverlay=pwm,pin={gpio},func={found[1]}"


def find_chip(root: Path = SYSFS_PWM, pi5: bool = False) -> int | None:
    """Return N of the pwmchipN that drives the header's PWM pins, or None if there is none.

    Goes by the device the chip belongs to (its `device` link), since the number is not
    stable on a Pi 5 and other chips (the Pi 5's fan, PWM over PIO or GPIO) may come first.
    """
    wanted = {_RP1_DEVICE} if pi5 else _BCM_DEVICES
    found = []
    for chip in root.glob("pwmchip*"):
        number = chip.name.removeprefix("pwmchip")
        if not number.isdigit():
            continue
        try:
            device = (chip / "device").resolve(strict=True).name
        except OSError:
            continue
        if device in wanted:
            found.append(int(number))
    return min(found, default=None)


class SysfsPWM:
    """One channel of a kernel PWM chip, with the duty as a float 0-1 like gpiozero's `value`.

    Exports the channel if it is not exported yet (one left exported by an earlier run that
    was killed is taken over), sets the period from `frequency` and enables it at duty 0.
    `close()` (or leaving a `with` block) ends at duty 0, disables and unexports. Not
    thread-safe: one owner writes the light.
    """

    def __init__(self, chip: int, channel: int, frequency: float = 500.0,
                 root: Path = SYSFS_PWM) -> None:
        self.chip_path = root / f"pwmchip{chip}"
        self.channel = channel
        self.path = self.chip_path / f"pwm{channel}"
        self._closed = False
        self._duty_ns = 0
        self._period_ns = round(1e9 / frequency) if frequency > 0 else 0
        if self._period_ns < 1:
            raise ValueError(f"frequency must be above 0 and at most 1 GHz, not {frequency}")
        if not self.chip_path.is_dir():
            raise PWMUnavailable(
                f"no PWM chip {chip} ({self.chip_path} does not exist): enable hardware PWM "
                "with a dtoverlay line in /boot/firmware/config.txt, e.g. "
                "dtoverlay=pwm,pin=18,func=2, then reboot"
            )
        channels = self._channel_count()
        if not 0 <= channel < channels:
            raise PWMUnavailable(
                f"PWM chip {chip} has no channel {channel} ({self.chip_path / 'npwm'} says "
                f"{channels}): use a channel from 0 to {channels - 1}"
            )
        if not self.path.is_dir():  # else left exported by a run that was killed: take it over
            self._export()
        try:
            self._configure()
        except BaseException:
            self.close()
            raise

    # -- the duty ------------------------------------------------------------------------

    @property
    def value(self) -> float:
        """The duty last written, 0-1."""
        return self._duty_ns / self._period_ns

    @value.setter
    def value(self, value: float) -> None:
        """Write the duty (0-1, clamped) to the nearest nanosecond; a glow never rounds to off."""
        if self._closed:
            raise RuntimeError(f"{self.path} is closed")
        if math.isnan(value):
            raise ValueError("the duty must be a number from 0 to 1, not NaN")
        duty = min(max(value, 0.0), 1.0)
        duty_ns = round(duty * self._period_ns)
        if duty > 0:
            duty_ns = max(1, duty_ns)
        if duty_ns != self._duty_ns:
            self._write("duty_cycle", duty_ns)
            self._duty_ns = duty_ns

    def off(self) -> None:
        """Duty 0, as gpiozero's PWMLED.off()."""
        self.value = 0.0

    @property
    def steps(self) -> int:
        """How many distinct duty levels there are: one per nanosecond of the period."""
        return self._period_ns

    @property
    def period_ns(self) -> int:
        return self._period_ns

    @property
    def frequency(self) -> float:
        """The frequency actually set (the period is a whole number of nanoseconds)."""
        return 1e9 / self._period_ns

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Duty 0 first, then disable and unexport; errors are swallowed (for shutdown paths)."""
        if self._closed:
            return
        self._closed = True
        for name, value in (("duty_cycle", 0), ("enable", 0)):
            with contextlib.suppress(OSError):
                _write(self.path / name, value)
        self._duty_ns = 0
        with contextlib.suppress(OSError):
            _write(self.chip_path / "unexport", self.channel)

    def __enter__(self) -> SysfsPWM:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SysfsPWM {self.path} {self.frequency:g} Hz duty {self.value:.6g}>"

    # -- setting up ----------------------------------------------------------------------

    def _channel_count(self) -> int:
        npwm = self.chip_path / "npwm"
        try:
            return int(npwm.read_text().strip())
        except (OSError, ValueError) as error:
            raise PWMUnavailable(
                f"cannot read the channel count from {npwm} ({_reason(error)}): "
                "is this a PWM chip under /sys/class/pwm?"
            ) from None

    def _export(self) -> None:
        """Ask the kernel for the channel, then wait (bounded) for udev to hand us its files."""
        export = self.chip_path / "export"
        try:
            _write(export, self.channel)
        except OSError as error:
            if error.errno == errno.EBUSY:
                raise PWMUnavailable(
                    f"cannot export channel {self.channel} ({export}): it is in use by another "
                    "driver or program (device busy): free it (cat /sys/kernel/debug/pwm shows "
                    "who has it) or use another channel"
                ) from None
            raise _write_failed(export, self.channel, error) from None
        deadline = time.monotonic() + EXPORT_TIMEOUT_S
        while not (self.path.is_dir() and os.access(self.path / "enable", os.W_OK)):
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        if not self.path.is_dir():
            raise PWMUnavailable(
                f"{self.path} did not appear within {EXPORT_TIMEOUT_S:g} s of writing "
                f"{self.channel} to {export}: the kernel did not make the channel; "
                "check dmesg, then reboot"
            )
        # Still not writable: the first write below says so, naming the file.

    def _configure(self) -> None:
        """Duty 0 before the period (the kernel refuses a period shorter than the duty),
        polarity while disabled, enable last."""
        self._write("duty_cycle", 0)
        self._write("period", self._period_ns)
        polarity = self.path / "polarity"
        if polarity.exists() and os.access(polarity, os.W_OK):
            try:
                current = polarity.read_text().strip()
            except OSError as error:
                raise PWMUnavailable(f"cannot read {polarity}: {_reason(error)}") from None
            if current != "normal":
                self._write("enable", 0)  # the kernel changes polarity only while disabled
                self._write("polarity", "normal")
        self._write("enable", 1)

    def _write(self, name: str, value: int | str) -> None:
        path = self.path / name
        try:
            _write(path, value)
        except OSError as error:
            if name == "period" and error.errno == errno.EINVAL:
                raise PWMUnavailable(
                    f"{path} refused a period of {value} ns (invalid argument): "
                    f"the chip cannot run at {self.frequency:g} Hz, choose another frequency"
                ) from None
            raise _write_failed(path, value, error) from None


def switch_off(chip: int, channel: int, root: Path = SYSFS_PWM) -> bool:
    """Darken a channel left exported by a process that could not close it (SIGKILL, a crash,
    the watchdog): unlike a GPIO line, an exported PWM channel keeps its duty after its
    process dies. Duty 0, disable, unexport; returns False if the channel was not exported.
    Raises PWMUnavailable if the light could not be set to duty 0."""
    path = root / f"pwmchip{chip}" / f"pwm{channel}"
    if not path.is_dir():
        return False
    try:
        _write(path / "duty_cycle", 0)
    except OSError as error:
        raise _write_failed(path / "duty_cycle", 0, error) from None
    for target, value in ((path / "enable", 0), (root / f"pwmchip{chip}" / "unexport", channel)):
        with contextlib.suppress(OSError):
            _write(target, value)
    return True


def _write(path: Path, value: int | str) -> None:
    """One write of the whole value, as sysfs wants; never creates a missing file."""
    data = f"{value}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(errno.EIO, "short write", str(path))
    finally:
        os.close(fd)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)


def _write_failed(path: Path, value: int | str, error: OSError) -> PWMUnavailable:
    """Turn a failed write into one line a person can act on."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return PWMUnavailable(
            f"cannot write {path}: permission denied: the ebbtide user needs write access to "
            "the PWM files, e.g. a udev rule giving the gpio group /sys/class/pwm; and a "
            "systemd unit with ProtectKernelTunables=yes makes /sys read-only"
        )
    if error.errno == errno.EROFS:
        return PWMUnavailable(
            f"cannot write {path}: /sys is read-only here: a systemd unit with "
            "ProtectKernelTunables=yes makes it so; turn that off for this service "
            "(a drop-in) to use hardware PWM"
        )
    return PWMUnavailable(
        f"cannot write {value} to {path}: {_reason(error)}: check the chip and channel "
        "(cat /sys/kernel/debug/pwm lists them)"
    )
