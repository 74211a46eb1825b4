"""`python -m bench.service run ...`: `ebbtide run` as the bench measures it, on mock pins
that, like real ones, keep no history.

gpiozero's MockPin records every state it is set to, for tests' assert_states(). The light
is written 50 times a second, so in a session that list grows by about 0.4 MB a minute:
memory that a real pin (lgpio on a Pi) never takes, and that would make the longer runs look
leaky. Here each mock pin keeps only its last state; everything else is `device.cli` as it is.
"""

from __future__ import annotations

import sys
from collections import deque

from gpiozero.pins.mock import MockPin

_clear_states = MockPin.clear_states


def _clear_states_keeping_one(self: MockPin) -> None:
    _clear_states(self)
    self.states = deque(self.states, maxlen=1)


def main() -> int:
    MockPin.clear_states = _clear_states_keeping_one
    from device.cli import main as ebbtide

    return ebbtide()


if __name__ == "__main__":
    sys.exit(main())
