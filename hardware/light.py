"""The breathing LED: perceptual lightness in, PWM duty out."""

from __future__ import annotations

from gpiozero import PWMLED

from hardware.lightness import duty_for


class Light:
    """One PWM LED whose brightness follows CIE L*, capped at `max_brightness`.

    `max_brightness` is on the same perceptual scale: 0.5 looks half as bright
    as full, which is far less than half the duty.
    """

    def __init__(self, pin: int, *, max_brightness: float = 1.0, pin_factory=None,
                 frequency: int = 500) -> None:
        self.max_brightness = max_brightness
        self._led = PWMLED(pin, frequency=frequency, pin_factory=pin_factory)

    def show(self, lightness: float) -> float:
        """Set the light to `lightness` (0-1 of max); return the duty sent to the pin."""
        duty = duty_for(lightness * self.max_brightness)
        self._led.value = duty
        return duty

    @property
    def duty(self) -> float:
        return float(self._led.value)

    def off(self) -> None:
        self._led.off()

    def close(self) -> None:
        """Switch off and release the pin."""
        try:
            self._led.off()
        finally:
            self._led.close()
