"""Breaths from the motion of a sensor resting on the belly: the rate, each breath's in and
out, a quality figure, and movement, from samples of acceleration alone.

Pure and numpy-only (the service stays under its memory budget). The method is the
published one for a belly-worn accelerometer:

1. the samples (25-50 Hz, jittery, maybe with gaps) are averaged into a uniform 10 Hz grid;
2. in each 30 s window (every 10 s) gravity and slow drift are removed (a straight line
   per axis), and the three axes are combined along the principal component of what is
   left: breathing tilts the sensor a little, back and forth along one direction;
3. the combined signal is band-limited to 4-30 breaths a minute (0.067-0.5 Hz), and the
   rate is the lag of the autocorrelation's peak; its height is the quality (0-1);
4. a window with broadband motion (turning over, sobbing, the sensor picked up) or with a
   change in the direction of gravity (a change of posture) is `moving` and has no rate;
   so has one whose quality is too low. No rate is better than a wrong one.

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

FS = 10.0  # Hz: the uniform grid the samples are averaged into
WINDOW_S = 30.0
HOP_S = 10.0
MIN_SECONDS = 15.0  # the least data a rate is read from (two breaths at 8 a minute)
MIN_BPM, MAX_BPM = 4.0, 30.0
COUNT_AGREEMENT = 1.25  # the autocorrelation's period and the counted one agree this well
SEARCH_MARGIN = 1.15  # the rate is looked for a little beyond, as breaths vary
MAX_GAP_S = 1.0  # a longer gap in the samples leaves its windows unread
MIN_SIGNAL_G = 0.001  # breathing's RMS in g below this is the sensor's own noise (~0.3 mg
# for the MPU-6050 in the band): a sensor on a table, or on someone not breathing on it
QUALITY_MIN = 0.55  # below this a window's reading is not trusted
REGULARITY_WEIGHT = 2.5  # regularity = 1 - this x the intervals' coefficient of variation
SWING_SPREADS = 0.6  # a breath's swing, trough to peak, is at least this (the zigzag's step)
TAME_SPREADS = 1.5  # the breathing signal is clipped here (in spreads) for the rate
MOVING_HF_G = 0.012  # g RMS above ~1 Hz in any second: the body or the sensor is moving
MOVING_TILT_DEG = 8.0  # gravity's direction changing this much within a window: posture
MOVING_TURN_DEG = 5.0  # or this much within 2 s: turning over, the sensor picked up
MOVING_MARGIN_S = 1.0  # a window this close to movement is a moving one too
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
class _Grid:
    t: np.ndarray  # (n,) centres of the 1/FS bins
    a: np.ndarray  # (n, 3) mean acceleration per bin, gaps filled by interpolation
    gap: np.ndarray  # (n,) bool: inside a gap longer than MAX_GAP_S


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
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("the sample times do not always increase")
    return t, a


def _grid(t: np.ndarray, a: np.ndarray) -> _Grid:
    """The samples averaged into 1/FS bins from the first sample; empty bins filled by
    interpolation, and marked as a gap when the run of empty bins is over MAX_GAP_S."""
    index = np.floor((t - t[0]) * FS).astype(np.int64)
    n = int(index[-1]) + 1
    counts = np.bincount(index, minlength=n)
    have = counts > 0
    centres = t[0] + (np.arange(n) + 0.5) / FS
    grid = np.empty((n, 3))
    for axis in range(3):
        sums = np.bincount(index, weights=a[:, axis], minlength=n)
        grid[:, axis] = np.interp(centres, centres[have], sums[have] / counts[have])
    gap = np.zeros(n, dtype=bool)
    empty = ~have
    if empty.any():
        edges = np.diff(np.concatenate(([0], empty.astype(np.int8), [0])))
        for begin, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1),
                              strict=True):
            if (end - begin) / FS > MAX_GAP_S:
                gap[begin:end] = True
    return _Grid(centres, grid, gap)


def _band(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero-phase band-pass by FFT with raised-cosine edges (zero-padded, so the window's
    two ends do not wrap onto each other). x is (n,) or (n, k), along axis 0."""
    n = x.shape[0]
    size = 2 * n
    spectrum = np.fft.rfft(x, n=size, axis=0)
    f = np.fft.rfftfreq(size, 1 / FS)
    gain = np.ones_like(f)
    low_edge = low_hz * 0.5
    gain[f < low_edge] = 0.0
    rising = (f >= low_edge) & (f < low_hz)
    gain[rising] = 0.5 - 0.5 * np.cos(np.pi * (f[rising] - low_edge) / (low_hz - low_edge))
    high_edge = high_hz * 1.5
    falling = (f > high_hz) & (f <= high_edge)
    gain[falling] = 0.5 + 0.5 * np.cos(np.pi * (f[falling] - high_hz) / (high_edge - high_hz))
    gain[f > high_edge] = 0.0
    shaped = spectrum * (gain[:, None] if x.ndim == 2 else gain)
    return np.fft.irfft(shaped, n=size, axis=0)[:n]


def _detrended(a: np.ndarray) -> np.ndarray:
    """Each axis less its straight line: gravity and slow drift."""
    n = a.shape[0]
    u = np.arange(n) - (n - 1) / 2
    mean = a.mean(axis=0)
    slope = (u @ (a - mean)) / (u @ u)
    flat: np.ndarray = a - mean - np.outer(u, slope)
    return flat


def _principal(a: np.ndarray) -> np.ndarray:
    """The unit direction along which the (centred) signal varies most."""
    covariance = a.T @ a
    _, vectors = np.linalg.eigh(covariance)
    principal: np.ndarray = vectors[:, -1]
    return principal


def _moving_mask(a: np.ndarray) -> np.ndarray:
    """Per bin: the body or the sensor was moving within MOVING_MARGIN_S of it. Moving is
    broadband motion (above ~1 Hz, RMS over 1 s) beyond MOVING_HF_G, gravity's direction
    turning by more than MOVING_TURN_DEG between 2 s means 2 s apart, or the sensor not
    resting under 1 g (carried, dropped)."""
    n = a.shape[0]
    second, two = int(FS), int(2 * FS)
    residual = a - _mean_filter(a, 5)
    hf = np.sqrt(_mean_filter((residual**2).sum(axis=1, keepdims=True), second)[:, 0])
    hf[:3] = hf[3] if n > 3 else 0.0  # the filter's edges are not motion
    hf[-3:] = hf[-4] if n > 3 else 0.0
    gravity = _mean_filter(a, two)
    size = np.linalg.norm(gravity, axis=1)
    direction = gravity / np.maximum(size, 1e-9)[:, None]
    turn = np.zeros(n)
    if n > two:
        cosine = np.clip(np.sum(direction[two:] * direction[:-two], axis=1), -1.0, 1.0)
        turn[two // 2: n - two + two // 2] = np.degrees(np.arccos(cosine))
    moving = (hf > MOVING_HF_G) | (turn > MOVING_TURN_DEG) | (size < 0.5) | (size > 1.5)
    margin = int(MOVING_MARGIN_S * FS)
    if moving.any() and margin:
        moving = _mean_filter(moving[:, None].astype(float), 2 * margin + 1)[:, 0] > 0
    mask: np.ndarray = moving
    return mask


def _mean_filter(x: np.ndarray, size: int) -> np.ndarray:
    """The running mean of each column over `size` bins, centred; the edges use the
    bins there are."""
    kernel = np.ones(size)
    sums = np.stack([np.convolve(x[:, k], kernel, mode="same") for k in range(x.shape[1])],
                    axis=1)
    counts = np.convolve(np.ones(x.shape[0]), kernel, mode="same")
    means: np.ndarray = sums / counts[:, None]
    return means


def _posture_changed(a: np.ndarray) -> bool:
    """Gravity's direction (2 s means) straying more than MOVING_TILT_DEG / 2 from its
    median within the window: a change of posture, however slow."""
    step = int(2 * FS)
    parts = a[: (a.shape[0] // step) * step].reshape(-1, step, 3).mean(axis=1)
    directions = parts / np.linalg.norm(parts, axis=1)[:, None]
    middle = np.median(directions, axis=0)
    middle /= np.linalg.norm(middle)
    angles = np.degrees(np.arccos(np.clip(directions @ middle, -1.0, 1.0)))
    return bool(angles.max() > MOVING_TILT_DEG / 2)


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
    - the troughs counted (at least four), their regularity the quality: 1 less twice
      the intervals' coefficient of variation. A sigh shifts the rhythm's phase, which
      flattens the autocorrelation of the whole window but costs the count one interval.
    """
    x = _tamed(x)
    troughs = np.asarray([i for kind, i in _extrema(x) if kind == -1])
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


def _read_window(grid: _Grid, moving: np.ndarray, start: int, stop: int,
                 centre_s: float) -> _WindowRead:
    a = grid.a[start:stop]
    centre_s = round(centre_s, 2)
    if grid.gap[start:stop].any():
        return _WindowRead(Window(centre_s, None, 0.0, False), None, start)
    if moving[start:stop].any() or _posture_changed(a):
        return _WindowRead(Window(centre_s, None, 0.0, True), None, start)
    flat = _detrended(a)
    direction = _principal(_band(flat, MIN_BPM / 60, MAX_BPM / 60))
    combined = flat @ direction
    breathing = _band(combined, MIN_BPM / 60, MAX_BPM / 60)
    if float(np.sqrt(np.mean(breathing**2))) < MIN_SIGNAL_G:
        return _WindowRead(Window(centre_s, None, 0.0, False), None, start)  # nobody on it
    rate, quality = _rate(breathing)
    quality = round(quality, 3)
    if rate is None or quality < QUALITY_MIN:
        return _WindowRead(Window(centre_s, None, quality, False), None, start)
    onset_band = _band(combined, MIN_BPM / 60, min(ONSET_HIGH_HZ, 4 * rate / 60))
    return _WindowRead(Window(centre_s, round(float(rate), 2), quality, False), onset_band,
                      start)


def _windows(grid: _Grid) -> list[_WindowRead]:
    n = grid.t.size
    size, hop = int(WINDOW_S * FS), int(HOP_S * FS)
    if n < MIN_SECONDS * FS:
        return []
    moving = _moving_mask(grid.a)
    if n < size:
        return [_read_window(grid, moving, 0, n, float(grid.t[0] + grid.t[-1]) / 2)]
    reads = []
    for start in range(0, n - size + 1, hop):
        centre = float(grid.t[start] + grid.t[start + size - 1]) / 2
        reads.append(_read_window(grid, moving, start, start + size, centre))
    return reads


def _spread(x: np.ndarray) -> float:
    """The standard deviation of the ordinary breaths, from the median absolute value (a
    sigh, twice as deep, barely moves it)."""
    return 1.4826 * float(np.median(np.abs(x - np.median(x))))


def _tamed(x: np.ndarray) -> np.ndarray:
    """x clipped at TAME_SPREADS spreads: a sigh or a jolt counts as one ordinary breath in
    the autocorrelation instead of outweighing the rest."""
    limit = TAME_SPREADS * _spread(x)
    tamed: np.ndarray = np.clip(x, -limit, limit) if limit > 0 else x
    return tamed


def _extrema(x: np.ndarray) -> list[tuple[int, int]]:
    """Troughs (-1) and peaks (+1) as (kind, index), alternating: a zigzag through the
    signal's turning points that takes a turn only when it swings at least SWING_SPREADS
    spreads (_spread) from the last one, so a shallow breath between two deep ones still
    counts and a wiggle of noise does not."""
    least = SWING_SPREADS * _spread(x)
    slope = np.sign(np.diff(x))
    turns = np.flatnonzero(slope[1:] != slope[:-1]) + 1
    found: list[tuple[int, int]] = []
    for i in turns:
        kind = 1 if slope[i - 1] > 0 else -1
        if not found:
            found.append((kind, int(i)))
            continue
        last_kind, last = found[-1]
        if kind == last_kind:
            if kind * (x[i] - x[last]) > 0:  # further the same way: the turn is here
                found[-1] = (kind, int(i))
        elif abs(x[i] - x[last]) >= least:
            found.append((kind, int(i)))
    return found


def _sign(x: np.ndarray, found: list[tuple[int, int]]) -> float:
    """+1 if rising (trough to peak) is the shorter half of the breath here, else -1: the
    in-breath convention. 0 when it cannot be told."""
    rise = [b - a for (k, a), (_, b) in itertools.pairwise(found) if k == -1]
    fall = [b - a for (k, a), (_, b) in itertools.pairwise(found) if k == 1]
    if not rise or not fall:
        return 0.0
    return float(np.sign(np.mean(fall) - np.mean(rise)))


def _breaths(grid: _Grid, reads: list[_WindowRead]) -> list[Breath]:
    """Each usable window gives the onsets in its central 10 s (the first and last windows
    also their outer edges); the in-breath's sign is decided over each run of usable
    windows."""
    events: list[tuple[float, int]] = []  # (time, +1 in-breath onset / -1 out-breath onset)
    run: list[tuple[_WindowRead, list[tuple[int, int]]]] = []

    def close_run() -> None:
        votes = 0.0
        for read, found in run:
            assert read.signal is not None
            votes += _sign(read.signal, found)
        sign = 1.0 if votes >= 0 else -1.0
        for read, found in run:
            for kind, index in found:
                t = float(grid.t[read.start + index])
                if _owns(read, reads, t):
                    # with sign +1 a trough (kind -1) begins the in-breath
                    events.append((t, 1 if kind * sign < 0 else -1))
        run.clear()

    for read in reads:
        if read.signal is None:
            if run:
                close_run()
            continue
        run.append((read, _extrema(read.signal)))
    if run:
        close_run()
    events.sort()
    breaths = []
    for (t0, k0), (t1, k1) in itertools.pairwise(events):
        if k0 == 1 and k1 == -1 and t1 - t0 < 60 / MIN_BPM:
            breaths.append(Breath(round(t0, 2), round(t1, 2)))
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
    grid = _grid(t, a)
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
    grid = _grid(t, a)
    moving = _moving_mask(grid.a)
    return _read_window(grid, moving, 0, grid.t.size, float(grid.t[-1])).window.rate_bpm
