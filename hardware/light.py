"""The breathing LED: perceptual lightness in, PWM duty out.

The PWM comes from the kernel's hardware PWM (sysfs_pwm, to the nanosecond) where the pin has
it and the kernel offers it, or from gpiozero (lgpio's software PWM, to the microsecond).
"""

from __future__ import annotations

import logging
from pathlib import Path

from gpiozero import PWMLED, DigitalOutputDevice
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory

from hardware import sysfs_pwm
from hardware.lgpio_pin import lgpio_levels
from hardware.lightness import duty_for

log = logging.getLogger("ebbtide")


def is_pi5() -> bool:
    """A Raspberry Pi 5 (BCM2712): its PWM is the RP1's, with other channel numbers."""
    try:
        return b"brcm,bcm2712" in Path("/proc/device-tree/compatible").read_bytes()
    except OSError:
        return False


def hardware_pwm(pin: int, backend: str, pin_factory: Factory | None,
                 root: Path = sysfs_pwm.SYSFS_PWM) -> sysfs_pwm.SysfsPWM | None:
    """The kernel's PWM channel for `pin`, if [light] backend lets it be used and it can be:
    "auto" takes it quietly where it works; "sysfs" says why not (one warning) and the light
    falls back to gpiozero, since a light matters more than its finest steps."""
    if backend == "gpiozero" or isinstance(pin_factory, MockFactory):
        return None
    try:
        return sysfs_pwm.SysfsPWM(*_kernel_channel(pin, root), root=root)
    except sysfs_pwm.PWMUnavailable as error:
        if backend == "sysfs":
            log.warning("light.backend = \"sysfs\": %s; the light uses gpiozero", error)
        else:
            log.debug("hardware PWM not used: %s", error)
        return None


def _kernel_channel(pin: int, root: Path) -> tuple[int, int]:
    """(chip, channel) of the kernel PWM that drives `pin`; PWMUnavailable says why not."""
    pi5 = is_pi5()
    found = sysfs_pwm.hardware_pwm_channel(pin, pi5)
    if found is None:
        raise sysfs_pwm.PWMUnavailable(f"GPIO{pin} has no hardware PWM: use GPIO12, 13, 18 "
                                       "or 19")
    chip = sysfs_pwm.find_chip(root, pi5)
    if chip is None:
        raise sysfs_pwm.PWMUnavailable(
            f"no hardware PWM in {root}: add `{sysfs_pwm.overlay_line(pin)}` to "
            "/boot/firmware/config.txt and reboot")
    return chip, found[0]


def pwm_levels(pin_class: str, frequency: float) -> tuple[int | None, bool]:
    """(duty steps, whether the backend truncates to them) for a gpiozero pin class: lgpio
    pins as gpiozero makes them truncate to whole percent; Ebbtide's own round to lgpio's
    microsecond. Others (RPi.GPIO, pigpio at range 10000, mock pins) are fine enough."""
    if pin_class == "LGPIOPin":
        return 100, True
    if pin_class == "FineLGPIOPin":
        return lgpio_levels(frequency), False
    return None, False


class Light:
    """One PWM LED whose brightness follows CIE L*, capped at `max_brightness`.

    `max_brightness` is on the same perceptual scale: 0.5 looks half as bright
    as full, which is far less than half the duty. On a backend with coarse duty
    steps, a glow that would round to off is shown at the lowest step instead, so
    the light never goes dark mid-session.
    """

    def __init__(self, pin: int, *, max_brightness: float = 1.0,
                 pin_factory: Factory | None = None, frequency: int = 500,
                 steps: int | None = None, truncates: bool = True,
                 backend: str = "gpiozero", pwm_root: Path = sysfs_pwm.SYSFS_PWM) -> None:
        """`backend` is [light] backend (hardware PWM is looked for in `pwm_root`). `steps`
        and `truncates` describe the backend's duty levels (the bench's simulated
        backends); by default they come from the backend."""
        self.max_brightness = max_brightness
        self.hardware = hardware_pwm(pin, backend, pin_factory, pwm_root)
        self._led: PWMLED | sysfs_pwm.SysfsPWM
        if self.hardware is not None:
            self._led = self.hardware  # nanoseconds: fine enough to need no steps
        else:
            self._led = PWMLED(pin, frequency=frequency, pin_factory=pin_factory)
            if steps is None:
                steps, truncates = pwm_levels(type(self._led.pin).__name__, frequency)
        self.steps, self.truncates = steps, truncates

    def show(self, lightness: float) -> float:
        """Set the light to `lightness` (0-1 of max); return the duty sent to the pin."""
        duty = duty_for(lightness * self.max_brightness)
        if self.steps is None or duty <= 0:
            self._led.value = duty
            return duty
        duty = max(1, round(duty * self.steps)) / self.steps  # never rounds a glow to off
        # Half a step up, so that a backend that truncates lands on this step.
        self._led.value = min(1.0, duty + (0.5 / self.steps if self.truncates else 0.0))
        return duty

    def off(self) -> None:
        self._led.off()

    def close(self) -> None:
        """Switch off and release the pin."""
        try:
            self._led.off()
        finally:
            self._led.close()


def linear_color(hex_color: str) -> tuple[float, float, float]:
    """An sRGB "#rrggbb" as linear light per channel, scaled so the brightest is 1: the
    colour's hue at full brightness."""
    channels = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    top = max(linear) or 1.0
    return (linear[0] / top, linear[1] / top, linear[2] / top)


class RGBLight:
    """An RGB LED whose lightness follows CIE L* in one colour: each channel's duty is the
    same perceptual curve times the colour's share of that channel, so the hue holds from
    the faintest glow to the top, and a colour with no blue never lights the blue die.

    `common` is the LED's shared leg: "cathode" (to GND: high is on) or "anode" (to 3.3 V:
    low is on). A channel with a glow is never rounded to off on a backend with few steps.
    """

    def __init__(self, pins: tuple[int, int, int], *, color: str = "#ffffff",
                 common: str = "cathode", max_brightness: float = 1.0,
                 pin_factory: Factory | None = None, frequency: int = 500) -> None:
        self.max_brightness = max_brightness
        self.color = color
        self._leds: list[PWMLED] = []
        try:
            for pin in pins:
                self._leds.append(PWMLED(pin, active_high=common == "cathode",
                                         frequency=frequency, pin_factory=pin_factory))
        except BaseException:
            self.close()
            raise
        self.steps, _ = pwm_levels(type(self._leds[0].pin).__name__, frequency)

    @property
    def color(self) -> str:
        return self._color

    @color.setter
    def color(self, hex_color: str) -> None:
        self._color, self._shares = hex_color, linear_color(hex_color)

    def show(self, lightness: float) -> float:
        """Set the light to `lightness` (0-1 of max) in its colour; return the overall duty
        (the brightest channel's)."""
        duty = duty_for(lightness * self.max_brightness)
        channels = [self._on_steps(duty * share) for share in self._shares]
        for led, value in zip(self._leds, channels, strict=True):
            led.value = value
        return max(channels)

    def _on_steps(self, duty: float) -> float:
        if self.steps is None or duty <= 0:
            return duty
        return min(1.0, max(1, round(duty * self.steps)) / self.steps)

    def off(self) -> None:
        for led in self._leds:
            led.off()

    def close(self) -> None:
        """Off, every channel, and the pins released."""
        for led in self._leds:
            try:
                led.off()
            finally:
                led.close()


def switch_off(pin: int, pin_factory: Factory | None = None, backend: str = "auto",
               root: Path = sysfs_pwm.SYSFS_PWM, lit_when_high: bool = True) -> str:
    """Switch the light off, starting nothing else: for after the process that drove it has
    ended in a way that could not (SIGKILL, a crash, the watchdog). A hardware PWM channel
    left exported keeps its duty: it is set to 0 and released (the pin stays with the PWM,
    for the next start). Otherwise the pin is driven to dark (low; high for a common-anode
    die, `lit_when_high` False) and let go: the kernel freed it with the dead process, at
    whatever level it had. Says which it did."""
    if backend != "gpiozero" and not isinstance(pin_factory, MockFactory):
        try:
            chip, channel = _kernel_channel(pin, root)
        except sysfs_pwm.PWMUnavailable:
            pass  # no kernel PWM for this pin: it was driven as a GPIO
        else:
            if sysfs_pwm.switch_off(chip, channel, root):
                return f"hardware PWM pwmchip{chip}/pwm{channel}"
    DigitalOutputDevice(pin, active_high=lit_when_high, initial_value=False,
                        pin_factory=pin_factory).close()
    return "pin driven dark"
