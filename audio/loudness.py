"""Every spoken line levelled to one loudness (ITU-R BS.1770-4) under a true-peak ceiling.

Lines come from Piper, from espeak-ng or from a home recording, each at its own level; levelled
here, no line jumps out of a session. Only numpy is used: scipy would cost 113 MB on a
Pi Zero 2 for two biquads, so the K-weighting is applied in the frequency domain (the FFT of
the zero-padded clip, in segments if long, times the filters' response: equal to running the
IIR filters, up to a cut-off tail far below the measurement's precision).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache, partial

import numpy as np

# Chosen by measuring the built-in script's 34 lines. Piper (joe, length_scale 1.6) and
# espeak-ng both speak with a peak-to-loudness ratio of 14-21 dB (median 18.5), so under a
# -1 dBTP ceiling -21 LUFS is the loudest target at which the limiter is rarely needed: it
# touches 2 Piper lines (by <= 1.4 dB) and 3 espeak lines (by <= 0.9 dB); at -20 it touches
# a third of the lines and at -18 nearly all of them, by up to 4 dB. -21 is also where the
# rest of the sound was balanced: the pyttsx3 espeak voice it was tuned with measures a median
# -20.8 LUFS, the breath at full light -20 (inhaling) and -22 (exhaling), the chime -27.
# And it is 2 LU above EBU R 128's -23, so the voice is not quiet at low volume.
TARGET_LUFS: float = -21.0
CEILING_DBTP: float = -1.0  # EBU R 128's maximum true peak: headroom for the DAC's filters

_BLOCK_S = 0.4  # gating block
_STEP_S = 0.1  # 75% overlap
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_OFFSET_DB = -0.691  # BS.1770's constant, making a 997 Hz sine read the same as its RMS
# Zero padding after the clip for the K-filter's tail. Its slowest poles (the 38 Hz high-pass,
# a near-double pole) decay with a 4 ms time constant, so after 0.1 s the tail is < 1e-8.
_TAIL_S = 0.1
_SEGMENT = 1 << 15  # samples of a long clip filtered per FFT

_OVERSAMPLING = 4  # BS.1770-4 Annex 2, for true peak
_INTERPOLATOR_HALF_TAPS = 16  # per phase and side: a 32-tap windowed sinc for each phase
_KAISER_BETA = 8.0

# The peak limiter: a gain envelope in dB that falls ahead of each peak (lookahead) and
# recovers after it, then is smoothed so that it has no corners.
_ATTACK_DB_PER_S = 6.0 / 0.005  # 6 dB in 5 ms
_RELEASE_DB_PER_S = 6.0 / 0.05  # 6 dB in 50 ms
_SMOOTH_S = 0.002
_LIMIT_MARGIN_DB = 0.05  # aim just under the ceiling: the envelope bends interpolated peaks
_LEVEL_TOLERANCE_LU = 0.05  # the make-up gain is refined until the loudness is this close
_MAX_PASSES = 6


def _mono(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (one dimension), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or infinity")
    return x


def _high_pass_poles(rate: int) -> tuple[float, float]:
    k = math.tan(math.pi * 38.13547087602444 / rate)
    q = 0.5003270373238773
    a0 = 1.0 + k / q + k * k
    return 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0


def _k_filters(rate: int) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]:
    """BS.1770's two biquads, (b, a) each, for any sample rate.

    The standard lists coefficients for 48 kHz only. These come from the analogue prototypes
    behind them (Brecht De Man's fit: a 1682 Hz high shelf of +4 dB and a 38 Hz high-pass)
    through the pre-warped bilinear transform, and reproduce the 48 kHz table to 1e-9. The
    table's high-pass numerator (1, -2, 1) carries a passband gain of +0.043 dB that would
    change with the rate; it is kept at the 48 kHz value, so that a rate reads like 48 kHz.
    """
    k = math.tan(math.pi * 1681.974450955533 / rate)
    q = 0.7071752369554196
    vh = 10.0 ** (3.999843853973347 / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = (
        ((vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0),
        (1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0),
    )
    a1, a2 = _high_pass_poles(rate)
    a1_48k, a2_48k = _high_pass_poles(48000)
    g = (1.0 - a1 + a2) / (1.0 - a1_48k + a2_48k)  # the same gain at Nyquist as at 48 kHz
    high_pass = ((g, -2.0 * g, g), (1.0, a1, a2))
    return shelf, high_pass


@lru_cache(maxsize=4)
def _k_response(rate: int, n_fft: int) -> np.ndarray:
    """The K-weighting's complex response H(e^jw) at the bins of an n_fft-point rfft (1 row)."""
    z1 = np.exp(-2j * np.pi * np.arange(n_fft // 2 + 1) / n_fft)  # z^-1 on the unit circle
    response = np.ones_like(z1)
    for b, a in _k_filters(rate):
        response *= (b[0] + z1 * (b[1] + z1 * b[2])) / (a[0] + z1 * (a[1] + z1 * a[2]))
    response = response[np.newaxis]
    response.flags.writeable = False
    return response


def _fft_size(n: int) -> int:
    """The smallest 2^i 3^j 5^k >= n: numpy's FFT is fast there and slow at large primes."""
    best = 1 << max(0, n - 1).bit_length()
    f5 = 1
    while f5 < best:
        f35 = f5
        while f35 < best:
            f = f35
            while f < n:
                f *= 2
            best = min(best, f)
            f35 *= 3
        f5 *= 5
    return best


def _filtered(
    x: np.ndarray, responses: Callable[[int], np.ndarray], tail: int, length: int
) -> np.ndarray:
    """x through filters known by their frequency responses, by FFT overlap-add.

    responses(n_fft) gives one row per filter: its response at an n_fft-point rfft's bins.
    Each filter's impulse response must have died out after `tail` samples. Returns one row
    per filter of `length` samples: the clip's output, then its tail. Long clips go in
    segments, so that memory and the cached responses stay small on a Pi.
    """
    n_fft = _fft_size(min(len(x), _SEGMENT) + tail)
    segment = n_fft - tail
    starts = range(0, len(x), segment)
    filters = responses(n_fft)
    out = np.zeros((len(filters), max(length, starts[-1] + n_fft)))
    for start in starts:
        spectrum = np.fft.rfft(x[start : start + segment], n_fft)
        out[:, start : start + n_fft] += np.fft.irfft(spectrum * filters, n_fft)
    return out[:, :length]


def _block_powers(x: np.ndarray, rate: int) -> np.ndarray:
    """Mean square of the K-weighted signal in each 400 ms block, blocks 100 ms apart.

    The standard, made for streams, counts whole blocks only, and so drops up to 100 ms of a
    line's last word. Here the blocks are laid as pyloudnorm lays them: the number of 100 ms
    steps is rounded to the nearest, and a part-filled last block is completed with silence.
    So the last word counts, and readings agree with pyloudnorm, the meter the tests check
    against. A clip shorter than one block is measured as one block: its words, then silence,
    as a meter reads that word spoken alone. So a 0.3 s "Hold." is levelled like the longer
    lines: not skipped as unmeasurable, and not read over its own 0.3 s, which would call it
    1.2 LU louder and leave it quiet.
    """
    block = (4 * rate + 5) // 10
    n_blocks = 1 + max(0, round(10 * (len(x) - block) / rate))
    starts = (np.arange(n_blocks, dtype=np.int64) * rate + 5) // 10
    length = int(starts[-1]) + block
    weighted = _filtered(x, partial(_k_response, rate), round(_TAIL_S * rate), length)[0]
    energy = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    return (energy[starts + block] - energy[starts]) / block


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS per ITU-R BS.1770-4 (mono); -inf for silence or nothing.

    K-weighting, 400 ms blocks with 75% overlap, an absolute gate at -70 LUFS and a relative
    gate 10 LU under the loudness of the blocks that pass it. A clip shorter than one block is
    measured as if padded with silence to one block.
    """
    x = _mono(samples, rate)
    if len(x) == 0 or not x.any():
        return -math.inf
    powers = _block_powers(x, rate)
    absolute = 10.0 ** ((_ABSOLUTE_GATE_LUFS - _OFFSET_DB) / 10.0)
    kept = powers[powers > absolute]
    if len(kept) == 0:
        return -math.inf
    relative = kept.mean() * 10.0 ** (_RELATIVE_GATE_LU / 10.0)
    return _OFFSET_DB + 10.0 * math.log10(kept[kept > relative].mean())


@lru_cache(maxsize=1)
def _interpolator() -> np.ndarray:
    """Kaiser-windowed sinc kernels, one row per fractional position k/4 (k = 1..3)."""
    half = _INTERPOLATOR_HALF_TAPS
    rows = []
    for k in range(1, _OVERSAMPLING):
        # output at n + k/4 = sum over m of x[n - m] * sinc(m + k/4), m = -half+1 .. half
        t = np.arange(-half + 1, half + 1) + k / _OVERSAMPLING
        window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, None)))
        kernel = np.sinc(t) * window
        rows.append(kernel / kernel.sum())
    kernels = np.array(rows)
    kernels.flags.writeable = False
    return kernels


@lru_cache(maxsize=4)
def _interpolator_spectra(n_fft: int) -> np.ndarray:
    """The interpolator's kernels at the bins of an n_fft-point rfft, one row each."""
    spectra = np.fft.rfft(_interpolator(), n_fft, axis=1)
    spectra.flags.writeable = False
    return spectra


def _local_peaks(x: np.ndarray) -> np.ndarray:
    """For each sample n, the largest |value| of the 4x oversampled signal on [n, n+1)."""
    peaks = np.abs(x)
    offset = _INTERPOLATOR_HALF_TAPS - 1
    taps = 2 * _INTERPOLATOR_HALF_TAPS
    between = _filtered(x, _interpolator_spectra, taps, offset + len(x))[:, offset:]
    np.maximum(peaks, np.abs(between).max(axis=0), out=peaks)
    return peaks


def true_peak(samples: np.ndarray, rate: int) -> float:
    """True peak in dBTP per BS.1770-4 Annex 2 (4x oversampling); -inf for silence or nothing.

    Catches the peaks between samples that a DAC's reconstruction makes (up to 3 dB over the
    largest sample), which sample peaks miss.
    """
    x = _mono(samples, rate)
    if len(x) == 0 or not x.any():
        return -math.inf
    return 20.0 * math.log10(float(_local_peaks(x).max()))


def _moving_min(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """The minimum of values[n - before : n + after + 1] for each n (0 beyond the ends)."""
    width = before + after + 1
    out = np.pad(values, (before, after), constant_values=0.0)
    span = 1  # out[n] holds the minimum of `span` values from n on
    while span < width:
        step = min(span, width - span)
        np.minimum(out[:-step], out[step:], out=out[:-step])
        span += step
    return out[: len(values)]


def _limiter_gain(x: np.ndarray, rate: int, ceiling: float) -> np.ndarray | None:
    """A smooth gain envelope that brings every true peak of x to `ceiling` (linear) or under.

    None when nothing is over. The envelope falls ahead of a peak (lookahead) and recovers
    after it, so the rest of the line keeps its level: lowering the whole line instead would
    leave it quieter than the others.
    """
    peaks = _local_peaks(x)
    if peaks.max() <= ceiling:
        return None
    need_db = 20.0 * np.log10(np.minimum(1.0, ceiling / np.maximum(peaks, 1e-300)))
    half = max(1, round(_SMOOTH_S * rate / 2))
    # Widen each demand by the smoothing's reach (and the next sample, which shares the peak's
    # interval), so the smoothed envelope still meets it.
    need_db = _moving_min(need_db, half, half + 1)
    index = np.arange(len(x), dtype=np.float64)
    release = _RELEASE_DB_PER_S / rate
    attack = _ATTACK_DB_PER_S / rate
    # gain[n] = min over m <= n of need[m] + release * (n - m): a linear recovery after peaks
    gain_db = np.minimum.accumulate(need_db - release * index) + release * index
    # gain[n] = min over m >= n of gain[m] + attack * (m - n): a ramp down ahead of peaks
    gain_db = np.minimum.accumulate((gain_db + attack * index)[::-1])[::-1] - attack * index
    gain = 10.0 ** (gain_db / 20.0)
    sums = np.cumsum(np.pad(gain, (half + 1, half), mode="edge"))
    return (sums[2 * half + 1 :] - sums[: -2 * half - 1]) / (2 * half + 1)


def normalised(
    samples: np.ndarray,
    rate: int,
    target: float = TARGET_LUFS,
    ceiling: float = CEILING_DBTP,
) -> np.ndarray:
    """The clip brought to `target` LUFS with its true peak at or under `ceiling` dBTP.

    Returns float32 mono in -1..1, as long as the input. Silence (or a clip below the -70 LUFS
    gate) comes back unchanged. When the gain would push a peak over the ceiling, a gentle
    limiter lowers just those peaks (ramping down ahead of each at 6 dB per 5 ms, and back up
    at 6 dB per 50 ms) and the make-up gain is refined so that the line still reaches the
    target.
    """
    x = _mono(samples, rate)
    loudness = integrated_loudness(x, rate)
    if not math.isfinite(loudness):
        return np.clip(x, -1.0, 1.0).astype(np.float32)
    ceiling_lin = 10.0 ** ((ceiling - _LIMIT_MARGIN_DB) / 20.0)
    # The loudness follows the gain exactly but for the absolute gate (blocks of near-silence
    # cross it) and for what the limiter takes off, so the gain is refined on the result.
    gain_db = target - loudness
    best_error, out, limited = math.inf, x, False
    for _ in range(_MAX_PASSES):
        attempt = x * 10.0 ** (gain_db / 20.0)
        envelope = _limiter_gain(attempt, rate, ceiling_lin)
        if envelope is not None:
            attempt *= envelope
        error = target - integrated_loudness(attempt, rate)
        if abs(error) < best_error:
            best_error, out, limited = abs(error), attempt, envelope is not None
        if abs(error) <= _LEVEL_TOLERANCE_LU:
            break
        gain_db += error
    if limited:
        # Whatever the envelope's bending left over the ceiling (thousandths of a dB) goes.
        peak = true_peak(out, rate)
        if peak > ceiling:
            out *= 10.0 ** ((ceiling - peak) / 20.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
