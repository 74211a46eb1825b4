"""The breathing LED: perceptual lightness in, PWM duty out."""

from __future__ import annotations

from gpiozero import PWMLED, DigitalOutputDevice
from gpiozero.pins import Factory

from hardware.lightness import duty_for

# Duty levels of the PWM backends that have few: gpiozero's lgpio pins truncate the duty
# to whole percent. Others (RPi.GPIO, pigpio at range 10000, mock pins) are fine enough.
PWM_STEPS = {"LGPIOFactory": 100}


class Light:
    """One PWM LED whose brightness follows CIE L*, capped at `max_brightness`.

    `max_brightness` is on the same perceptual scale: 0.5 looks half as bright
    as full, which is far less than half the duty. On a backend with coarse duty
    steps, a glow that would round to off is shown at the lowest step instead, so
    the light never goes dark mid-session.
    """

    def __init__(self, pin: int, *, max_brightness: float = 1.0,
                 pin_factory: Factory | None = None, frequency: int = 500,
                 steps: int | None = None) -> None:
        self.max_brightness = max_brightness
        self._led = PWMLED(pin, frequency=frequency, pin_factory=pin_factory)
        self.steps = steps or PWM_STEPS.get(type(self._led.pin_factory).__name__)

    def show(self, lightness: float) -> float:
        """Set the light to `lightness` (0-1 of max); return the duty sent to the pin."""
        duty = duty_for(lightness * self.max_brightness)
        if self.steps is None or duty <= 0:
            self._led.value = duty
            return duty
        duty = max(1, round(duty * self.steps)) / self.steps  # never rounds a glow to off
        # Half a step up, so that the backend's truncation lands on this step.
        self._led.value = min(1.0, duty + 0.5 / self.steps)
        return duty

    def off(self) -> None:
        self._led.off()

    def close(self) -> None:
        """Switch off and release the pin."""
        try:
            self._led.off()
        finally:
            self._led.close()


def switch_off(pin: int, pin_factory: Factory | None = None) -> None:
    """Drive the light's pin low and let it go, starting nothing else: for after the process
    that drove it has ended in a way that could not switch it off (SIGKILL, a crash, the
    watchdog). The kernel freed the pin with the dead process, at whatever level it had."""
    DigitalOutputDevice(pin, initial_value=False, pin_factory=pin_factory).close()
