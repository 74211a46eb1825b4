"""Mono audio clips in memory, and the WAV encoding used by the cache and `ebbtide render`."""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path
from typing import IO

import numpy as np

_INT16_SCALE = 32767.0
_GUARD = 256  # silent samples appended before resampling


class Clip:
    """A mono clip at a sample rate, kept as 16-bit PCM (half the memory of float32).

    `samples` gives float32 (-1..1) on each use, for the mixer to hold only while the clip
    plays. The PCM is read-only, so a clip shared by the cache and the speaker can never be
    changed under either of them.
    """

    __slots__ = ("pcm", "rate")

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        """samples: floats in -1..1, or int16 PCM as it is."""
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        data = np.asarray(samples).reshape(-1)
        pcm = data.astype("<i2") if data.dtype == np.int16 else _to_pcm16(data)
        pcm = np.ascontiguousarray(pcm)
        pcm.setflags(write=False)
        self.pcm = pcm
        self.rate = int(rate)

    @classmethod
    def of_pcm(cls, pcm: np.ndarray, rate: int) -> Clip:
        """A clip over read-only 16-bit PCM as it is, not copied (the cache's file bytes)."""
        if pcm.dtype != np.dtype("<i2") or pcm.flags.writeable or rate <= 0:
            return cls(pcm, rate)
        clip = cls.__new__(cls)
        clip.pcm, clip.rate = pcm, int(rate)
        return clip

    @property
    def samples(self) -> np.ndarray:
        """The clip as float32 in -1..1 (a new array each time)."""
        return self.pcm.astype(np.float32) / _INT16_SCALE

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.rate

    def resampled(self, rate: int) -> Clip:
        """This clip at another rate, band-limited (done once per clip, never per block).

        Resampling in the frequency domain adds no images above the old Nyquist frequency,
        which straight-line interpolation of 22050 Hz speech would leave as a faint hiss.
        """
        if rate == self.rate:
            return self
        n_in = len(self.pcm)
        n_out = round(n_in * rate / self.rate)
        if n_in == 0 or n_out == 0:
            return Clip(np.zeros(0, dtype=np.int16), rate)
        # Zero-pad to a length that maps to a whole number of output samples, with room to
        # spare so the transform's wrap-around lands in silence.
        g = math.gcd(rate, self.rate)
        step_in, step_out = self.rate // g, rate // g
        padded = math.ceil((n_in + _GUARD) / step_in) * step_in
        spectrum = np.fft.rfft(self.pcm / _INT16_SCALE, padded)
        out = np.fft.irfft(spectrum, padded // step_in * step_out) * (step_out / step_in)
        return Clip(out[:n_out], rate)

    def trimmed(self, threshold: float = 0.01, lead_s: float = 0.005, tail_s: float = 0.03) -> Clip:
        """Cut near-silence off both ends, so a cue is heard the moment it is scheduled.

        A few ms are kept before the first loud sample (soft consonant onsets) and a short tail
        after the last one, so nothing audible is clipped. An all-quiet clip becomes empty.
        """
        loud = np.flatnonzero(np.abs(self.pcm) > threshold * _INT16_SCALE)
        if len(loud) == 0:
            return Clip(np.zeros(0, dtype=np.int16), self.rate)
        start = max(0, int(loud[0]) - round(lead_s * self.rate))
        stop = min(len(self.pcm), int(loud[-1]) + 1 + round(tail_s * self.rate))
        if start == 0 and stop == len(self.pcm):
            return self
        return Clip(self.pcm[start:stop], self.rate)

    def faded(self, seconds: float) -> Clip:
        """Raised-cosine fades of `seconds` at both ends, so a line never starts or stops
        with a click."""
        n = min(round(seconds * self.rate), len(self.pcm) // 2)
        if n == 0:
            return self
        ramp = (1.0 - np.cos(np.pi * (np.arange(n) + 0.5) / n)) / 2.0
        samples = self.samples
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
        return Clip(samples, self.rate)

    @classmethod
    def from_wav_bytes(cls, data: bytes) -> Clip:
        """Decode a 16-bit PCM WAV (channels are averaged to mono)."""
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise ValueError(f"expected 16-bit PCM WAV, got {8 * wav.getsampwidth()}-bit")
            channels = wav.getnchannels()
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
        pcm = np.frombuffer(raw, dtype="<i2")
        if channels > 1:
            mono = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels).mean(axis=1)
            return cls(mono / _INT16_SCALE, rate)
        return cls(pcm, rate)

    def to_wav_bytes(self) -> bytes:
        """Encode as a 16-bit mono WAV."""
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(self.pcm.tobytes())
        return buffer.getvalue()


class WavWriter:
    """Streams a long mix to a 16-bit WAV file block by block, so it never sits in memory.

    The channel count comes from the first block; the header is completed on close().
    `target` is a path, or a seekable binary file the caller opened (and closes).
    """

    def __init__(self, target: Path | str | IO[bytes], rate: int,
                 channels: int | None = None) -> None:
        self._file: IO[bytes]
        if isinstance(target, (str, Path)):
            self._file, self._owned = open(target, "wb"), True  # noqa: SIM115 - see close()
        else:
            self._file, self._owned = target, False
        self._rate = rate
        self._channels = channels
        self._wav: wave.Wave_write | None = None
        self._closed = False

    def write(self, samples: np.ndarray) -> None:
        """Append float samples, shape (frames,) or (frames, channels); clipped to [-1, 1]."""
        data = _as_frames(samples)
        wav = self._wav or self._open(self._channels or data.shape[1])
        if data.shape[1] != self._channels:
            raise ValueError(f"expected {self._channels} channels, got {data.shape[1]}")
        wav.writeframes(_to_pcm16(data).tobytes())

    def close(self) -> None:
        if self._closed or self._file.closed:
            return
        wav = self._wav or self._open(self._channels or 1)
        wav.close()
        self._closed = True
        if self._owned:
            self._file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, channels: int) -> wave.Wave_write:
        wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(self._rate)
        self._channels = channels
        self._wav = wav
        return wav


def _as_frames(samples: np.ndarray) -> np.ndarray:
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, np.newaxis]
    if data.ndim != 2:
        raise ValueError(f"samples must be (frames,) or (frames, channels), got {data.shape}")
    return data


def _to_pcm16(data: np.ndarray) -> np.ndarray:
    return np.round(np.clip(data, -1.0, 1.0) * _INT16_SCALE).astype("<i2")
