"""Breaths from the motion of a sensor resting on the belly: the rate, each breath's in and
out, a quality figure, and movement, from samples of acceleration alone.

Pure and numpy-only (the service stays under its memory budget). The method is the
published one for a belly-worn accelerometer:

1. the samples (25-50 Hz, jittery, maybe with gaps) are averaged into a uniform 10 Hz grid;
2. in each 30 s window (every 10 s) gravity and slow drift are removed (a straight line
   per axis), and the three axes are combined along the principal component of what is
   left: breathing tilts the sensor a little, back and forth along one direction;
3. the combined signal is band-limited to 4-30 breaths a minute (0.067-0.5 Hz) and read
   two ways, the better one taken: the lag of the autocorrelation's peak (its height the
   quality, 0-1), and the breaths counted trough to trough (their regularity the
   quality); below QUALITY_MIN, or with too little signal, there is no rate;
4. a window with broadband motion (turning over, sobbing, the sensor picked up) or with a
   change in the direction of gravity (a change of posture) is `moving` and has no rate
   (movement.py). No rate is better than a wrong one.
5. each breath's onsets are the troughs and peaks of the combined signal (signal.py's
   zigzag), from the usable windows.

The first rate needs MIN_SECONDS (15 s) of samples and two breaths in them: from 8 a
minute up that is 15 s; slower breathing takes two breaths' time.

Which way is in: acceleration cannot tell which way the belly rises; the principal
component's sign is arbitrary. By convention the in-breath is the shorter of the two
half-breaths (rising from a trough to a peak), as it is in most resting breathing (in:out
about 1:1.5 to 1:2). When the two are nearly equal the convention can pick the wrong one,
and then `inhale_s` and `exhale_s` are swapped; the rate does not depend on it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from device.sensing.movement import moving_mask, posture_changed
from device.sensing.signal import (
    FS,
    Grid,
    band,
    detrended,
    extrema,
    on_grid,
    principal,
    tamed,
)

WINDOW_S = 30.0
HOP_S = 10.0
MIN_SECONDS = 15.0  # the least data a rate is read from (two breaths at 8 a minute)
MIN_BPM, MAX_BPM = 4.0, 30.0
COUNT_AGREEMENT = 1.25  # the autocorrelation's period and the counted one agree this well
SEARCH_MARGIN = 1.15  # the rate is looked for a little beyond, as breaths vary
MIN_SIGNAL_G = 0.001  # breathing's RMS in g below this is the sensor's own noise (~0.3 mg
# for the MPU-6050 in the band): a sensor on a table, or on someone not breathing on it
QUALITY_MIN = 0.55  # below this a window's reading is not trusted
REGULARITY_WEIGHT = 2.5  # regularity = 1 - this x the intervals' coefficient of variation
ONSET_HIGH_HZ = 1.5  # onsets are read from a wider band, so a quick inhale keeps its corner


@dataclass(frozen=True)
class Window:
    """One 30 s window: its centre, its rate (None when unusable or moving), the quality
    of the reading (0-1) and whether it held movement."""

    t_s: float
    rate_bpm: float | None
    quality: float
    moving: bool


@dataclass(frozen=True)
class Breath:
    """One breath: when the in-breath began and when the out-breath began (seconds, on the
    samples' clock)."""

    inhale_s: float
    exhale_s: float


@dataclass(frozen=True)
class BreathReading:
    """Everything read from a recording: the windows, the breaths found, the median rate
    of the usable windows (None if there was none) and the share of windows usable."""

    windows: tuple[Window, ...]
    breaths: tuple[Breath, ...]
    rate_bpm: float | None
    usable_share: float


@dataclass(frozen=True)
class _WindowRead:
    window: Window
    signal: np.ndarray | None  # the combined breathing signal (onset band), sign-free
    start: int  # its first grid index


def _checked(t_s: np.ndarray, accel_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t_s, dtype=float)
    a = np.asarray(accel_g, dtype=float)
    if t.ndim != 1 or a.shape != (t.size, 3):
        raise ValueError(f"expected t_s (N,) and accel_g (N, 3), got {t.shape} and {a.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(a))):
        raise ValueError("the samples hold a number that is not finite")
    if t.size > 1 and np.any(np.diff(t) < 0):  # equal times (a burst read at once) are fine
        raise ValueError("the sample times go back")
    if t.size > 1 and (t[-1] - t[0]) > t.size + 3600:  # the grid would be mostly gap
        raise ValueError(f"{t.size} samples over {t[-1] - t[0]:.0f} s are too sparse: the "
                         "sensor gives 25-50 a second")
    return t, a


def _rate(x: np.ndarray) -> tuple[float | None, float]:
    """The rate (breaths a minute) and its quality (0-1), or (None, 0).

    Two readings of the same signal, the better one taken:
    - the autocorrelation's peak for one breath, its height the quality. It also peaks at
      two and three breaths (and, with only 15 s of overlap at its longest lags, can peak
      high there by chance): of its peaks in the range (a little beyond 4-30 a minute, for
      breaths that vary) the one taken is the one whose lag best matches the median
      trough-to-trough interval counted in the signal, and none if they differ by more
      than COUNT_AGREEMENT. With fewer than three troughs (slow breathing), the first
      peak at least 0.8 of the highest.
    - the troughs counted (at least four), their regularity the quality: 1 less
      REGULARITY_WEIGHT times the intervals' coefficient of variation. A sigh shifts the
      rhythm's phase, which flattens the autocorrelation of the whole window but costs the
      count one interval.
    """
    x = tamed(x)
    troughs = np.asarray([i for kind, i in extrema(x) if kind == -1])
    by_acf, acf_quality = _autocorrelation_rate(x, troughs)
    by_count, regularity = None, 0.0
    if troughs.size >= 4:
        intervals = np.diff(troughs)
        rate = 60 * FS * (troughs.size - 1) / float(troughs[-1] - troughs[0])
        if MIN_BPM / SEARCH_MARGIN <= rate <= MAX_BPM * SEARCH_MARGIN:
            by_count = rate
            variation = float(intervals.std() / intervals.mean())
            regularity = float(np.clip(1 - REGULARITY_WEIGHT * variation, 0, 1))
    if by_acf is not None and acf_quality >= regularity:
        return by_acf, acf_quality
    if by_count is not None:
        return by_count, regularity
    return None, 0.0


def _autocorrelation_rate(x: np.ndarray, troughs: np.ndarray) -> tuple[float | None, float]:
    """The autocorrelation's reading (see _rate)."""
    n = x.size
    energy = float(x @ x)
    if energy <= 0:
        return None, 0.0
    spectrum = np.fft.rfft(x, n=2 * n)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, n=2 * n)[:n]
    acf = acf / (n - np.arange(n)) / (energy / n)  # unbiased, 1 at lag 0
    shortest = int(np.floor(FS * 60 / (MAX_BPM * SEARCH_MARGIN)))
    longest = min(int(np.ceil(FS * 60 * SEARCH_MARGIN / MIN_BPM)), int(n * 0.6))
    if longest <= shortest + 2:
        return None, 0.0
    lags = np.arange(shortest, longest)
    inner = acf[lags]
    peaks = lags[(inner > acf[lags - 1]) & (inner >= acf[lags + 1])]
    peaks = peaks[acf[peaks] > 0]
    if peaks.size == 0:
        return None, 0.0
    if troughs.size >= 3:
        counted = float(np.median(np.diff(troughs)))
        lag = int(peaks[np.argmin(np.abs(np.log(peaks / counted)))])
        if abs(np.log(lag / counted)) > np.log(COUNT_AGREEMENT):
            return None, 0.0  # the peaks and the counted breaths disagree
    else:
        best = float(acf[peaks].max())
        lag = int(peaks[np.argmax(acf[peaks] >= 0.8 * best)])
    left, centre, right = acf[lag - 1], acf[lag], acf[lag + 1]
    bend = left - 2 * centre + right
    offset = 0.5 * (left - right) / bend if bend < 0 else 0.0
    period_s = (lag + offset) / FS
    return 60.0 / period_s, float(np.clip(centre, 0.0, 1.0))


def _read_window(grid: Grid, moving: np.ndarray, start: int, stop: int,
                 centre_s: float) -> _WindowRead:
    a = grid.a[start:stop]
    centre_s = round(centre_s, 2)
    if grid.gap[start:stop].any():
        return _WindowRead(Window(centre_s, None, 0.0, False), None, start)
    if moving[start:stop].any() or posture_changed(a):
        return _WindowRead(Window(centre_s, None, 0.0, True), None, start)
    flat = detrended(a)
    direction = principal(band(flat, MIN_BPM / 60, MAX_BPM / 60))
    combined = flat @ direction
    breathing = band(combined, MIN_BPM / 60, MAX_BPM / 60)
    if float(np.sqrt(np.mean(breathing**2))) < MIN_SIGNAL_G:
        return _WindowRead(Window(centre_s, None, 0.0, False), None, start)  # nobody on it
    rate, quality = _rate(breathing)
    quality = round(quality, 3)
    if rate is None or quality < QUALITY_MIN:
        return _WindowRead(Window(centre_s, None, quality, False), None, start)
    onset_band = band(combined, MIN_BPM / 60, min(ONSET_HIGH_HZ, 4 * rate / 60))
    return _WindowRead(Window(centre_s, round(float(rate), 2), quality, False), onset_band,
                      start)


def _windows(grid: Grid) -> list[_WindowRead]:
    n = grid.t.size
    size, hop = int(WINDOW_S * FS), int(HOP_S * FS)
    if n < MIN_SECONDS * FS:
        return []
    moving = moving_mask(grid.a)
    if n < size:
        return [_read_window(grid, moving, 0, n, float(grid.t[0] + grid.t[-1]) / 2)]
    reads = []
    for start in range(0, n - size + 1, hop):
        centre = float(grid.t[start] + grid.t[start + size - 1]) / 2
        reads.append(_read_window(grid, moving, start, start + size, centre))
    return reads


def _sign(x: np.ndarray, found: list[tuple[int, int]]) -> float:
    """+1 if rising (trough to peak) is the shorter half of the breath here, else -1: the
    in-breath convention. 0 when it cannot be told."""
    rise = [b - a for (k, a), (_, b) in itertools.pairwise(found) if k == -1]
    fall = [b - a for (k, a), (_, b) in itertools.pairwise(found) if k == 1]
    if not rise or not fall:
        return 0.0
    return float(np.sign(np.mean(fall) - np.mean(rise)))


def _breaths(grid: Grid, reads: list[_WindowRead]) -> list[Breath]:
    """Each usable window gives the onsets in its central 10 s (the first and last windows
    also their outer edges); the in-breath's sign is decided over each run of usable
    windows, and a breath never spans two runs."""
    breaths: list[Breath] = []
    run: list[tuple[_WindowRead, list[tuple[int, int]]]] = []

    def close_run() -> None:
        """The run's breaths: each in-breath onset paired with the out-breath's after it."""
        votes = 0.0
        for read, found in run:
            assert read.signal is not None
            votes += _sign(read.signal, found)
        sign = 1.0 if votes >= 0 else -1.0
        events: list[tuple[float, int]] = []  # (time, +1 in-breath / -1 out-breath onset)
        for read, found in run:
            for kind, index in found:
                t = float(grid.t[read.start + index])
                if _owns(read, reads, t):
                    # with sign +1 a trough (kind -1) begins the in-breath
                    events.append((t, 1 if kind * sign < 0 else -1))
        events.sort()
        for (t0, k0), (t1, k1) in itertools.pairwise(events):
            if k0 == 1 and k1 == -1 and t1 - t0 < 60 / MIN_BPM:
                breaths.append(Breath(round(t0, 2), round(t1, 2)))
        run.clear()

    for read in reads:
        if read.signal is None:
            if run:
                close_run()
            continue
        run.append((read, extrema(read.signal)))
    if run:
        close_run()
    return breaths


def _owns(read: _WindowRead, reads: list[_WindowRead], t: float) -> bool:
    """Whether t falls in this window's own share: its central HOP_S, widened to the
    recording's edge for the first and last windows."""
    centre = read.window.t_s
    first = read is reads[0]
    last = read is reads[-1]
    return (first or t >= centre - HOP_S / 2) and (last or t < centre + HOP_S / 2)


def read_breaths(t_s: np.ndarray, accel_g: np.ndarray) -> BreathReading:
    """Read a whole recording: 30 s windows every 10 s (a shorter recording of at least
    MIN_SECONDS is one window), the breaths of the usable windows, their median rate."""
    t, a = _checked(t_s, accel_g)
    if t.size < 2:
        return BreathReading((), (), None, 0.0)
    grid = on_grid(t, a)
    reads = _windows(grid)
    windows = tuple(read.window for read in reads)
    rates = [w.rate_bpm for w in windows if w.rate_bpm is not None]
    median = round(float(np.median(rates)), 2) if rates else None
    share = len(rates) / len(windows) if windows else 0.0
    return BreathReading(windows, tuple(_breaths(grid, reads)), median, share)


def current_rate(t_s: np.ndarray, accel_g: np.ndarray) -> float | None:
    """The rate over the last 30 s, for a live display; None when the signal is unusable,
    moving, or shorter than MIN_SECONDS (a slow rate needs two breaths' worth of data)."""
    t, a = _checked(t_s, accel_g)
    if t.size < 2:
        return None
    recent = t >= t[-1] - WINDOW_S
    t, a = t[recent], a[recent]
    if t[-1] - t[0] < MIN_SECONDS - 1 / FS:
        return None
    grid = on_grid(t, a)
    moving = moving_mask(grid.a)
    return _read_window(grid, moving, 0, grid.t.size, float(grid.t[-1])).window.rate_bpm
