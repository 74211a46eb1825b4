"""Synthetic belly breathing with known truth, as a motion sensor on the belly would give it.

The belly rises on each in-breath and falls on each out-breath; the sensor resting on it
tilts with it by a degree or two, so what it measures is gravity turning a little, back and
forth, around one axis. On top of that, as in life: breaths of uneven length and depth, an
in-breath shorter than the out-breath (1:1.2 to 1:2.2), a pause after some out-breaths,
the sensor's white noise at its datasheet density, timestamps with jitter, a slow drift of
the sensor's angle and its offset, changes of posture (gravity turning tens of degrees in a
second or two) and bursts of movement (broadband shaking, turning).

Only numpy; written for these tests (no neurokit2: its simulator is not needed for a belly
signal and would be a heavy dependency).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LSM6DS3_NOISE = 90e-6  # g/sqrt(Hz), LSM6DS3TR-C accelerometer, datasheet
MPU6050_NOISE = 400e-6  # g/sqrt(Hz), MPU-6050 accelerometer, datasheet


@dataclass(frozen=True)
class Recording:
    """Samples and the truth behind them."""

    t_s: np.ndarray
    accel_g: np.ndarray
    inhale_s: np.ndarray  # each true in-breath onset
    exhale_s: np.ndarray  # each true out-breath onset (the in-breath's top)
    period_s: np.ndarray  # each breath's length, from its inhale onset
    moving: list[tuple[float, float]] = field(default_factory=list)  # posture steps, bursts

    def true_rate(self, start: float, stop: float) -> float:
        """Breaths a minute within [start, stop): each breath counts by the share of it
        inside the interval."""
        ends = self.inhale_s + self.period_s
        overlap = np.clip(np.minimum(ends, stop) - np.maximum(self.inhale_s, start), 0, None)
        return float(60 * np.sum(overlap / self.period_s) / (stop - start))

    def still(self, start: float, stop: float) -> bool:
        """No movement or posture change touches [start, stop)."""
        return all(b <= start or a >= stop for a, b in self.moving)


def _rotate(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: rows of v (n, 3) turned about unit rows of axis by angle (n,) radians."""
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    dot = np.sum(axis * v, axis=1, keepdims=True)
    return v * cos + np.cross(axis, v) * sin + axis * dot * (1 - cos)


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _perpendicular(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = np.cross(v, _unit(rng))
    return w / np.linalg.norm(w)


def breathing(rng: np.random.Generator, seconds: float, rate_bpm: float, *,
              fs: float = 50.0, noise: float = MPU6050_NOISE, amplitude_deg: float = 1.2,
              irregularity: float = 0.12, posture_steps: tuple[float, ...] = (),
              bursts: tuple[tuple[float, float], ...] = (), drift_deg_per_min: float = 1.0,
              jitter: float = 0.2, sighs: float = 0.02, heartbeat_g: float = 0.002) -> Recording:
    """A recording of `seconds` at about `rate_bpm`, sampled near `fs` with `jitter` (a
    share of the sample period), with its truth. A share `sighs` of breaths are sighs
    (deeper and longer); the heartbeat shakes the body by `heartbeat_g` (ballistocardiogram)."""
    # The breaths: length, in:out ratio, depth, end-of-out-breath pause.
    inhales, exhales, periods, depth, tops, pauses = [], [], [], [], [], []
    t = -rng.uniform(0, 60 / rate_bpm)
    while t < seconds:
        period = 60 / rate_bpm * float(np.clip(1 + irregularity * rng.normal(), 0.6, 1.5))
        sigh = rng.random() < sighs
        period *= 1.5 if sigh else 1.0
        ratio = rng.uniform(1.2, 2.2)  # out:in
        pause = rng.uniform(0, 0.25) * period * ratio / (1 + ratio) if rng.random() < 0.5 else 0
        inhale = period / (1 + ratio)
        inhales.append(t)
        exhales.append(t + inhale)
        periods.append(period)
        depth.append(float(np.clip(1 + 0.2 * rng.normal(), 0.5, 1.5)) * (2.0 if sigh else 1))
        tops.append(inhale)
        pauses.append(pause)
        t += period
    inhale_s, exhale_s, period_s = map(np.asarray, (inhales, exhales, periods))
    # Sample times: nominal rate with jitter, always increasing.
    step = 1 / fs
    n = int(seconds * fs)
    times = np.arange(n) * step + rng.uniform(-jitter / 2, jitter / 2, n) * step
    times = np.maximum.accumulate(times)
    times[1:] = np.maximum(times[1:], times[:-1] + 1e-4)
    # Belly height 0..depth through each breath.
    k = np.clip(np.searchsorted(inhale_s, times, side="right") - 1, 0, len(inhales) - 1)
    into = times - inhale_s[k]
    top = np.asarray(tops)[k]
    fall = period_s[k] - top - np.asarray(pauses)[k]
    rising = into < top
    height = np.where(rising, (1 - np.cos(np.pi * np.clip(into / top, 0, 1))) / 2,
                      (1 + np.cos(np.pi * np.clip((into - top) / fall, 0, 1))) / 2)
    height *= np.asarray(depth)[k]
    # Posture: gravity's direction in the sensor's frame, and the axis breathing tilts about.
    gravity = np.tile(_unit(rng), (n, 1))
    axis = np.tile(_perpendicular(gravity[0], rng), (n, 1))
    moving: list[tuple[float, float]] = []
    for at in posture_steps:
        length = rng.uniform(1.0, 3.0)
        new_g = _unit(rng)
        new_axis = _perpendicular(new_g, rng)
        turn = np.clip((times - at) / length, 0, 1)[:, None]
        gravity = gravity * (1 - turn) + new_g * turn
        gravity /= np.linalg.norm(gravity, axis=1, keepdims=True)
        axis = axis * (1 - turn) + new_axis * turn
        axis -= np.sum(axis * gravity, axis=1, keepdims=True) * gravity
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        moving.append((at, at + length))
    # Slow drift: the sensor slides, turning about a fixed axis.
    drift_axis = np.tile(_unit(rng), (n, 1))
    gravity = _rotate(gravity, drift_axis, np.radians(drift_deg_per_min) * times / 60)
    accel = _rotate(gravity, axis, np.radians(amplitude_deg) * height)
    # The heartbeat: a short jolt along one direction, 55-85 a minute.
    beat = 60 / rng.uniform(55, 85)
    phase = (times % beat) / beat
    jolt = np.exp(-(((phase - 0.1) / 0.03) ** 2)) - np.exp(-(((phase - 0.2) / 0.04) ** 2))
    accel += np.outer(jolt, _unit(rng) * heartbeat_g)
    # Sensor: offset drift (temperature) and white noise at the datasheet density.
    accel += np.outer(times / max(seconds, 1), rng.normal(0, 0.005, 3))
    accel += rng.normal(0, noise * np.sqrt(fs / 2), (n, 3))
    # Movement bursts: broadband shaking and a wobble of gravity.
    for at, length in bursts:
        inside = (times >= at) & (times < at + length)
        m = int(inside.sum())
        shake = np.cumsum(rng.normal(0, 1, (m, 3)), axis=0)
        shake -= np.linspace(0, 1, m)[:, None] * shake[-1]  # starts and ends at rest
        shake = shake / (np.abs(shake).max() + 1e-9) * rng.uniform(0.05, 0.3)
        shake += rng.normal(0, rng.uniform(0.02, 0.1), (m, 3))
        accel[inside] += shake
        moving.append((at, at + length))
    return Recording(times, accel, inhale_s, exhale_s, period_s, moving)


@dataclass(frozen=True)
class Case:
    name: str
    recording: Recording


def suite(seed: int = 22, seconds: float = 180.0) -> list[Case]:
    """The synthetic suite: rates from 4 to 30 a minute, on both parts' noise, some with
    posture steps, movement bursts and faster drift."""
    rng = np.random.default_rng(seed)
    cases = []
    rates = (4, 5, 6, 8, 10, 12, 15, 18, 22, 26, 30)
    for i, rate in enumerate(rates):
        for part, noise in (("lsm6ds3", LSM6DS3_NOISE), ("mpu6050", MPU6050_NOISE)):
            extra: dict = {}
            name = f"{rate}/min {part}"
            if i % 3 == 1:
                extra["posture_steps"] = (rng.uniform(60, 110),)
                name += " posture step"
            if i % 3 == 2:
                extra["bursts"] = ((rng.uniform(50, 120), rng.uniform(2, 8)),)
                name += " movement"
            if i % 4 == 3:
                extra["drift_deg_per_min"] = 4.0
                name += " drift"
            recording = breathing(rng, seconds, rate, noise=noise,
                                  amplitude_deg=rng.uniform(0.6, 2.0),
                                  fs=rng.choice((25.0, 50.0)), **extra)
            cases.append(Case(name, recording))
    return cases


@dataclass(frozen=True)
class Scores:
    """How a reader did on a suite, against the truth, in the issue's terms."""

    still_windows: int
    rate_errors: np.ndarray  # bpm, read - true, on the still windows with a rate
    usable: float  # share of still windows with a rate
    moving_windows: int  # windows touching movement or a posture change
    moving_with_rate: int  # of those, how many gave a rate anyway (should be 0)
    moving_flagged: float  # share of windows holding >= 1 s of movement reported `moving`
    onset_errors: np.ndarray  # s, each found onset to the nearest true one of its kind
    breaths_found: float  # share of true breaths in still stretches with an inhale found

    @property
    def mean_abs_error(self) -> float:
        return float(np.mean(np.abs(self.rate_errors)))

    @property
    def within_2(self) -> float:
        return float(np.mean(np.abs(self.rate_errors) <= 2))

    @property
    def median_onset_error(self) -> float:
        return float(np.median(self.onset_errors))


def score(cases: list[Case], read) -> Scores:  # read: (t_s, accel_g) -> BreathReading
    """Read every case and compare with its truth. A window is still when no movement
    touches its 30 s."""
    errors, onsets = [], []
    still = moving = moving_rated = held = held_flagged = 0
    true_breaths = found_breaths = 0
    for case in cases:
        r = case.recording
        reading = read(r.t_s, r.accel_g)
        for w in reading.windows:
            start, stop = w.t_s - 15, w.t_s + 15
            if r.still(start, stop):
                still += 1
                if w.rate_bpm is not None:
                    errors.append(w.rate_bpm - r.true_rate(start, stop))
                continue
            moving += 1
            moving_rated += w.rate_bpm is not None
            if any(min(b, stop) - max(a, start) >= 1 for a, b in r.moving):
                held += 1
                held_flagged += w.moving
        inhales = np.array([b.inhale_s for b in reading.breaths])
        exhales = np.array([b.exhale_s for b in reading.breaths])
        onsets += [float(np.min(np.abs(r.inhale_s - x))) for x in inhales]
        onsets += [float(np.min(np.abs(r.exhale_s - x))) for x in exhales]
        calm = [t for t in r.inhale_s
                if 5 < t < r.t_s[-1] - 10 and r.still(t - 20, t + 20)]
        true_breaths += len(calm)
        found_breaths += sum(bool(inhales.size) and float(np.min(np.abs(inhales - t))) < 1
                             for t in calm)
    return Scores(still, np.asarray(errors), len(errors) / max(still, 1), moving, moving_rated,
                  held_flagged / max(held, 1), np.asarray(onsets),
                  found_breaths / max(true_breaths, 1))
