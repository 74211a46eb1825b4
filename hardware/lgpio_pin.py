"""lgpio pins whose PWM duty is not cut to whole percent.

gpiozero's LGPIOPin (the backend on Bookworm and on every Pi 5) passes `int(value * 100)` to
lgpio, so a fade has 101 levels and its first glow out of darkness is a step of about 9 L*.
lgpio itself takes a float percentage: lgTxPwm() computes the period as
`micros = (int)(1e6 / frequency + 0.5)` and the high time as
`micros_on = (int)(duty / 100 * micros + 0.5)` (lgpio's lgTx.c), so its resolution is one
microsecond: 2000 levels at Ebbtide's 500 Hz, and the first glow is 0.45 L*. FineLGPIOPin
passes the duty through unrounded; the microsecond is lgpio's to round.
"""

from __future__ import annotations

import functools
from typing import Any


def lgpio_levels(frequency: float) -> int:
    """How many duty steps lgpio's software PWM has at `frequency`: one per microsecond of
    the period, as lgTxPwm() rounds it."""
    return int(1e6 / frequency + 0.5)


def lgpio_percent(value: float) -> float:
    """The duty lgTxPwm() takes (0-100 %, a float) for a PWM value of 0-1."""
    return min(max(value, 0.0), 1.0) * 100.0


@functools.cache
def fine_pin_class() -> type[Any]:
    """FineLGPIOPin; made on first use, since importing gpiozero's lgpio pins needs lgpio."""
    import lgpio
    from gpiozero.exc import PinInvalidState
    from gpiozero.pins.lgpio import LGPIOPin

    class FineLGPIOPin(LGPIOPin):
        """An LGPIOPin whose PWM duty keeps its fraction of a percent."""

        _pwm: tuple[float, float] | None  # LGPIOPin's (frequency, duty %) while PWM runs

        def _get_state(self) -> float:
            if self._pwm:
                return float(self._pwm[1]) / 100
            return float(super()._get_state())

        def _set_state(self, value: float) -> None:
            if not self._pwm:
                super()._set_state(value)
                return
            frequency, _ = self._pwm
            self._pwm = (frequency, lgpio_percent(value))
            try:
                lgpio.tx_pwm(self.factory._handle, self._number, *self._pwm)
            except lgpio.error:
                raise PinInvalidState(f'invalid state "{value}" for pin {self!r}') from None

    return FineLGPIOPin
