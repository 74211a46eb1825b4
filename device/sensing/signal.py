"""The breathing signal's shape: samples onto an even grid, a band, the axes combined, and
the turning points of a breath. Pure numpy; used by breaths.py and movement.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FS = 10.0  # Hz: the uniform grid the samples are averaged into
MAX_GAP_S = 1.0  # a longer gap in the samples leaves its windows unread
SWING_SPREADS = 0.6  # a breath's swing, trough to peak, is at least this (the zigzag's step)
TAME_SPREADS = 1.5  # the breathing signal is clipped here (in spreads) for the rate


@dataclass(frozen=True)
class Grid:
    """The samples on an even 1/FS grid."""

    t: np.ndarray  # (n,) centres of the 1/FS bins
    a: np.ndarray  # (n, 3) mean acceleration per bin, gaps filled by interpolation
    gap: np.ndarray  # (n,) bool: inside a gap longer than MAX_GAP_S


def on_grid(t: np.ndarray, a: np.ndarray) -> Grid:
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
    return Grid(centres, grid, gap)


def band(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
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


def detrended(a: np.ndarray) -> np.ndarray:
    """Each axis less its straight line: gravity and slow drift."""
    n = a.shape[0]
    u = np.arange(n) - (n - 1) / 2
    mean = a.mean(axis=0)
    slope = (u @ (a - mean)) / (u @ u)
    flat: np.ndarray = a - mean - np.outer(u, slope)
    return flat


def principal(a: np.ndarray) -> np.ndarray:
    """The unit direction along which the (centred) signal varies most."""
    covariance = a.T @ a
    _, vectors = np.linalg.eigh(covariance)
    principal: np.ndarray = vectors[:, -1]
    return principal


def mean_filter(x: np.ndarray, size: int) -> np.ndarray:
    """The running mean of each column over `size` bins, centred; the edges use the
    bins there are."""
    kernel = np.ones(size)
    sums = np.stack([np.convolve(x[:, k], kernel, mode="same") for k in range(x.shape[1])],
                    axis=1)
    counts = np.convolve(np.ones(x.shape[0]), kernel, mode="same")
    means: np.ndarray = sums / counts[:, None]
    return means


def spread(x: np.ndarray) -> float:
    """The standard deviation of the ordinary breaths, from the median absolute value (a
    sigh, twice as deep, barely moves it)."""
    return 1.4826 * float(np.median(np.abs(x - np.median(x))))


def tamed(x: np.ndarray) -> np.ndarray:
    """x clipped at TAME_SPREADS spreads: a sigh or a jolt counts as one ordinary breath in
    the autocorrelation instead of outweighing the rest."""
    limit = TAME_SPREADS * spread(x)
    tamed: np.ndarray = np.clip(x, -limit, limit) if limit > 0 else x
    return tamed


def extrema(x: np.ndarray) -> list[tuple[int, int]]:
    """Troughs (-1) and peaks (+1) as (kind, index), alternating: a zigzag through the
    signal's turning points that takes a turn only when it swings at least SWING_SPREADS
    spreads (spread) from the last one, so a shallow breath between two deep ones still
    counts and a wiggle of noise does not."""
    least = SWING_SPREADS * spread(x)
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
