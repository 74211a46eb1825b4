"""The breath sensor read in a thread of its own, at 25-50 Hz on absolute deadlines, into a
ring buffer that whoever uses it (a session, `ebbtide breath record`) looks at when it likes.
The reader never waits for its user, and its user never waits for the bus: a look at the
samples only copies them under a lock.

A chip that stops answering mid-session is said once (one log line) and the thread ends;
what was read stays in the buffer, and the user goes on without it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Protocol

import numpy as np

from hardware.i2c_bus import SensorError
from hardware.motion_chips import MotionChip, Sample

log = logging.getLogger("ebbtide")

RATE_RANGE = (25.0, 50.0)  # samples a second: breathing is under 1 Hz, movement a few
KEEP_S = 120.0  # seconds of samples the buffer holds


class ChipStopped(SensorError):
    """The chip stopped answering while it was being read."""


class Wake(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Clock(Protocol):
    """The shape of device/service/clock.py's clocks: a monotonic now(), and a wait until an
    absolute deadline that `wake` cuts short."""

    def now(self) -> float: ...

    def wait_until(self, deadline: float, wake: Wake) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def wait_until(self, deadline: float, wake: Wake) -> None:
        remaining = deadline - time.monotonic()
        while remaining > 0 and not wake.wait(remaining):
            remaining = deadline - time.monotonic()


class MotionReader:
    """Reads `chip` every 1/`rate_hz` s from start() to stop() (or until it stops answering),
    keeping the last `keep_s` seconds of samples. It owns the chip, and closes it."""

    def __init__(self, chip: MotionChip, rate_hz: float = 50.0, *, keep_s: float = KEEP_S,
                 clock: Clock | None = None,
                 after_failure: str = "the session goes on without it") -> None:
        """`after_failure` ends the one line said if the chip stops answering: what happens
        next, for the person reading the log."""
        self.chip = chip
        self.rate_hz = rate_hz
        self.clock = clock or MonotonicClock()
        self.after_failure = after_failure
        capacity = max(1, math.ceil(keep_s * rate_hz))
        self._t = np.zeros(capacity)
        self._values = np.zeros((capacity, 6))  # ax ay az gx gy gz; gyro NaN if not read
        self._count = 0  # samples kept since start(); the newest is at (_count - 1) % capacity
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None
        self.failure: SensorError | None = None
        self.span: tuple[float, float] | None = None  # the first and the last sample's time
        self.late = 0  # deadlines given up because the thread was held up past them

    def start(self) -> None:
        """Start reading, in a daemon thread (a hung bus never holds the process)."""
        if self._thread is not None:
            raise RuntimeError("a MotionReader starts once")
        self.started_at = self.clock.now()
        self._thread = threading.Thread(target=self.run, name="ebbtide-sensor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop reading and wait (at most `timeout` s) for the thread to close the chip."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the breath sensor's thread did not end within %g s (the I2C "
                            "bus hangs?); it is left behind", timeout)
        else:
            self.chip.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def count(self) -> int:
        """How many samples have been read since start()."""
        with self._lock:
            return self._count

    def run(self) -> None:
        """Read until stopped or until the chip stops answering, then close it: the thread's
        body (a test may run it in its own thread, on a clock of its own)."""
        if self.started_at is None:
            self.started_at = self.clock.now()
        period = 1.0 / self.rate_hz
        first = self.clock.now()
        beat = 0  # the k-th deadline is first + k * period: no error adds up
        try:
            while not self._stop.is_set():
                t = self.clock.now()
                reading = self.chip.read()
                if reading is not None:
                    self._keep(t, reading.accel, reading.gyro)
                beat += 1
                behind = self.clock.now() - (first + beat * period)
                if behind > period:  # held up (a busy Pi): skip the missed deadlines
                    missed = math.floor(behind / period)
                    beat += missed
                    self.late += missed
                self.clock.wait_until(first + beat * period, self._stop)
        except OSError as error:
            self.failure = self._stopped(error)
            log.warning("%s", self.failure)
        except Exception as error:  # a bug must not take the session with it
            self.failure = SensorError(f"the breath sensor's reading failed: {error}")
            log.error("%s; %s", self.failure, self.after_failure)
        finally:
            self.chip.close()

    def _stopped(self, error: OSError) -> ChipStopped:
        seconds = self.clock.now() - (self.started_at or 0.0)
        reason = (error.strerror or str(error)).lower()
        return ChipStopped(
            f"the breath sensor ({self.chip.describe()}) stopped answering after "
            f"{seconds:.1f} s ({reason}); {self.after_failure}: check its cable")

    def _keep(self, t: float, accel: tuple[float, float, float],
              gyro: tuple[float, float, float] | None) -> None:
        with self._lock:
            row = self._count % len(self._t)
            self._t[row] = t
            self._values[row, :3] = accel
            self._values[row, 3:] = gyro if gyro is not None else math.nan
            self._count += 1
            self.span = (t, t) if self.span is None else (self.span[0], t)

    def _rows(self, first: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Copies of the kept samples numbered `first` on (those still kept), in order; the
        number of the next. Called with the lock held."""
        capacity = len(self._t)
        first = max(first, self._count - capacity, 0)
        rows = np.arange(first, self._count) % capacity
        return self._t[rows], self._values[rows], self._count

    def latest(self, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The samples of the last `seconds` (all kept, if None) before the newest: times
        (N,) and acceleration in g (N, 3), oldest first; copies."""
        with self._lock:
            t, values, _ = self._rows(0)
        if seconds is not None and len(t):
            keep = t >= t[-1] - seconds
            t, values = t[keep], values[keep]
        return t, values[:, :3].copy()

    def since(self, number: int) -> tuple[list[Sample], int]:
        """The samples read since sample `number` (those still kept; 0: all), and the number
        to ask from next time: a user that asks more often than every `keep_s` misses none."""
        with self._lock:
            t, values, following = self._rows(number)
        samples = [Sample(float(ti), float(v[0]), float(v[1]), float(v[2]),
                          None if math.isnan(v[3]) else (float(v[3]), float(v[4]), float(v[5])))
                   for ti, v in zip(t, values, strict=True)]
        return samples, following
