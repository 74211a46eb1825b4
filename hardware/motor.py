"""A small vibration motor (an ERM coin motor through a transistor, with its diode): the
breath as touch, for closed eyes and a dark room.

A coin motor does not start below a certain duty (`start_duty`), and once stopped it needs
a kick to overcome its own friction and inertia: every start is one write at full duty, and
the next write (a tick later, 20 ms) sets the touch's own strength. Touch 0 is always 0.
"""

from __future__ import annotations

from gpiozero import DigitalOutputDevice, PWMOutputDevice
from gpiozero.pins import Factory

KICK = 1.0


class Motor:
    """Touch (0-1) in, PWM duty out: `start_duty` is where the motor just turns, `strength`
    the duty of a full touch."""

    def __init__(self, pin: int, *, strength: float = 0.7, start_duty: float = 0.35,
                 pin_factory: Factory | None = None, frequency: int = 200) -> None:
        self.strength = strength
        self.start_duty = start_duty
        self._motor = PWMOutputDevice(pin, frequency=frequency, pin_factory=pin_factory)
        self._running = False

    def show(self, touch: float) -> float:
        """Set the touch; return the duty written."""
        if touch <= 0:
            duty = 0.0
        elif not self._running:
            duty = KICK  # from standstill: a kick, and the strength at the next write
        else:
            duty = self.start_duty + (self.strength - self.start_duty) * min(touch, 1.0)
        self._running = duty > 0
        self._motor.value = duty
        return duty

    def off(self) -> None:
        self._running = False
        self._motor.off()

    def close(self) -> None:
        try:
            self.off()
        finally:
            self._motor.close()


def switch_off(pin: int, pin_factory: Factory | None = None) -> None:
    """The motor's pin driven low and let go, for after a process that could not."""
    DigitalOutputDevice(pin, initial_value=False, pin_factory=pin_factory).close()
