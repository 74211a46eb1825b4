"""A simulated person on the breath sensor, for `ebbtide render --breather` and `ebbtide demo
--breather`: their belly's tilt as the sensor's samples (time, ax, ay, az in g), given to the
listener the way hardware/motion_reader.py's MotionReader gives the real ones (`latest`), so
the session hears them exactly as it would hear a person (device/service/breath_listening.py).

- follow: breathes at 16 a minute (each breath 8% longer or shorter, as people do) until the
  light starts to breathe; then joins it over a few breaths, inhaling a little after the
  light rises (0.4 s, give or take 0.2), as someone following a light does.
- ignore: breathes at 16 a minute throughout, whatever the light does.
- a recording (`t_s,ax,ay,az`, as `ebbtide breath record` writes it) played from its start.

Seeded: the same person gives the same samples, so a render is the same every time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from device.service.clock import Clock

OWN_BPM = 16.0  # the simulated person's own rate
RATE_HZ = 25.0  # the sensor's rate ([sensor] rate_hz's default)
VARIATION = 0.08  # breath-to-breath: each breath's length varies this much (one sd)
LAG_S = (0.4, 0.2)  # a follower's inhale after the light's: mean and sd
JOINING = 3  # breaths a follower takes to join the light
TILT_DEG = 1.2  # how far the belly tilts the sensor on a breath
NOISE_G = 400e-6 * math.sqrt(RATE_HZ / 2)  # the MPU-6050's noise density over the band
KINDS = ("follow", "ignore")
SEED = 23  # the simulated person render and demo show


class SimulatedBreather:
    """A person breathing on the sensor, read as the clock goes."""

    def __init__(self, kind: str, clock: Clock, paced: Callable[[], Sequence[float]],
                 seed: int = SEED, own_bpm: float = OWN_BPM) -> None:
        """`paced()`: the clock times of the pacer's inhales as the light shows them now."""
        if kind not in KINDS:
            raise ValueError(f"a simulated person follows or ignores, not {kind!r}")
        self.kind = kind
        self.clock = clock
        self.paced = paced
        self.own_bpm = own_bpm
        self._rng = np.random.default_rng(seed)
        start = clock.now()
        self._inhales = [start + float(self._rng.uniform(0, 60 / own_bpm))]
        self._shape: list[tuple[float, float]] = []  # each breath's (inhale share, depth)
        self._joined = 0
        self._next_t = start
        self._t: list[np.ndarray] = []
        self._a: list[np.ndarray] = []
        gravity = self._rng.normal(size=3)
        self._gravity = gravity / np.linalg.norm(gravity)
        side = np.cross(self._gravity, self._rng.normal(size=3))
        self._tilt = side / np.linalg.norm(side)  # the way the belly tilts the sensor

    @property
    def inhales(self) -> list[float]:
        """Each inhale's start, on the clock (the truth behind the samples)."""
        return list(self._inhales)

    def _next_breath(self) -> None:
        last = self._inhales[-1]
        own = 60 / self.own_bpm * float(np.clip(1 + VARIATION * self._rng.normal(), 0.8, 1.2))
        following = own
        if self.kind == "follow":
            paced = self.paced()
            coming = [t for t in paced if t > last + 1.0]
            seen = any(t <= last for t in paced)  # the light has begun to breathe
            if seen and coming:
                self._joined += 1
                weight = min(1.0, self._joined / JOINING)
                lag = float(np.clip(self._rng.normal(*LAG_S), 0.05, 0.9))
                following = own + weight * (coming[0] + lag - (last + own))
        self._inhales.append(last + max(following, 1.5))
        share = float(self._rng.uniform(1 / 3.2, 1 / 2.2))  # in:out 1:1.2 to 1:2.2
        self._shape.append((share, float(np.clip(1 + 0.15 * self._rng.normal(), 0.6, 1.4))))

    def _read_until(self, now: float) -> None:
        while len(self._inhales) < 2 or self._inhales[-1] <= now:
            self._next_breath()
        n = math.floor((now - self._next_t) * RATE_HZ) + 1
        if n <= 0:
            return
        t = self._next_t + np.arange(n) / RATE_HZ
        self._next_t = float(t[-1]) + 1 / RATE_HZ
        starts = np.asarray(self._inhales[:-1])
        k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        period = np.asarray(self._inhales[1:])[k] - starts[k]
        share = np.asarray([s for s, _ in self._shape])[k]
        depth = np.asarray([d for _, d in self._shape])[k]
        x = np.clip((t - starts[k]) / period, 0, 1)
        rising = x < share
        height = np.where(rising, (1 - np.cos(np.pi * x / share)) / 2,
                          (1 + np.cos(np.pi * (x - share) / (1 - share))) / 2)
        height = np.where(t < starts[0], 0.0, height) * depth
        angle = np.radians(TILT_DEG) * height
        accel = (np.outer(np.cos(angle), self._gravity)
                 + np.outer(np.sin(angle), np.cross(self._tilt, self._gravity)))
        accel += self._rng.normal(0, NOISE_G, accel.shape)
        self._t.append(t)
        self._a.append(accel)

    def latest(self, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The samples up to now, of the last `seconds` (all, if None): times (N,) and
        acceleration in g (N, 3), oldest first."""
        self._read_until(self.clock.now())
        return _last(self._t, self._a, seconds)


class RecordedBreather:
    """A recording (`ebbtide breath record`'s samples) played as the sensor, from its start
    at the clock's time when it is made."""

    def __init__(self, t_s: np.ndarray, accel_g: np.ndarray, clock: Clock) -> None:
        self.clock = clock
        self._t = np.asarray(t_s, dtype=float) - float(t_s[0]) + clock.now()
        self._a = np.asarray(accel_g, dtype=float)

    def latest(self, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        shown = int(np.searchsorted(self._t, self.clock.now(), side="right"))
        return _last([self._t[:shown]], [self._a[:shown]], seconds)


def _last(times: list[np.ndarray], values: list[np.ndarray],
          seconds: float | None) -> tuple[np.ndarray, np.ndarray]:
    if not times or not sum(len(t) for t in times):
        return np.zeros(0), np.zeros((0, 3))
    if seconds is not None:  # only the chunks that reach into the last `seconds`
        newest = float(times[-1][-1])
        keep = len(times)
        while keep > 0 and times[keep - 1][0] >= newest - seconds:
            keep -= 1
        times, values = times[max(keep - 1, 0):], values[max(keep - 1, 0):]
    t, a = np.concatenate(times), np.concatenate(values)
    if seconds is not None and len(t):
        recent = t >= t[-1] - seconds
        t, a = t[recent], a[recent]
    return t, a.copy()
