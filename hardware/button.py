"""The one button, reported as raw edges.

Gestures (press, hold) are timed by the device's controller on its own clock,
so that tests can drive them with a fake clock; gpiozero's hold timer runs on
wall time in a thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from gpiozero import DigitalInputDevice


class ButtonEdges:
    """Calls `on_edge(True)` when the button goes down and `on_edge(False)` when it comes up.

    Wired from the GPIO pin to GND with the internal pull-up. gpiozero debounces
    real pins; its mock pins ignore `bounce_time`, so the controller copes with
    bounces too. A plain DigitalInputDevice, not gpiozero's Button: Button's hold
    machinery keeps a thread that wakes ten times a second, even when idle.
    """

    def __init__(self, pin: int, on_edge: Callable[[bool], None], *, pin_factory=None,
                 bounce_time: float | None = None) -> None:
        self._button = DigitalInputDevice(pin, pull_up=True, bounce_time=bounce_time,
                                          pin_factory=pin_factory)
        self._button.when_activated = lambda: on_edge(True)
        self._button.when_deactivated = lambda: on_edge(False)

    def close(self) -> None:
        self._button.close()
