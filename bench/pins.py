"""Mock pins that note when each value was written, on the monotonic clock."""

from __future__ import annotations

import threading
import time

from gpiozero.pins.mock import MockFactory, MockPWMPin


class RecordingPWMPin(MockPWMPin):
    """A PWM mock pin keeping (time.monotonic(), value) for every write, and an event set on
    the first non-zero one."""

    def __init__(self, factory, info) -> None:
        self.writes: list[tuple[float, float]] = []
        self.lit = threading.Event()
        super().__init__(factory, info)

    def _set_state(self, value):
        self.writes.append((time.monotonic(), float(value)))
        if value > 0:
            self.lit.set()
        super()._set_state(value)


def recording_factory() -> MockFactory:
    return MockFactory(pin_class=RecordingPWMPin)
