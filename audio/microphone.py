"""Recording a take from a microphone, and playing it back, for `ebbtide record`.

The capture callback runs on PortAudio's thread and only copies each block into a buffer
made before the stream starts (python-sounddevice's contract: no blocking, no I/O, no
allocation there). Everything else happens on the caller's thread.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from audio.clip import Clip
from audio.stream import (
    AudioUnavailable,
    load_sounddevice,
    no_device_at_all,
    output_rate,
    started_stream,
)

MAX_TAKE_S = 60.0  # a spoken line is seconds long; the buffer holds this much, then stops
# Frames per callback. Left to PortAudio (0), playback through PulseAudio's ALSA plugin
# underflows at once and a 1 s take is over in 0.15 s, mostly unheard; 1024 frames (about
# 23 ms) with the "high" latency plays it whole (measured into a null sink).
_BLOCK_FRAMES = 1024
_LATENCY = "high"  # nothing here needs to be quick; it needs to be whole
# Silence played after a take: PortAudio reports the end when the last block is handed on,
# up to a latency before it is heard, so the stream's close falls in this silence.
_PLAYBACK_TAIL_S = 0.25
_PLAYBACK_GRACE_S = 5.0  # beyond the clip's length, a playback that has not ended is stuck
_NO_MICROPHONE = ("no microphone found: plug one in (a USB microphone or headset works), "
                  "check that it is switched on, and try again")


def _input_info(device: str | int | None) -> dict[str, Any]:
    """PortAudio's description of an input device, or AudioUnavailable saying what is wrong."""
    sd = load_sounddevice()
    try:
        return dict(sd.query_devices(device, "input"))
    except ValueError as exc:  # no (or more than one) input matching the name
        names = ", ".join(repr(str(d["name"])) for d in sd.query_devices()
                          if d["max_input_channels"] > 0) or "none"
        raise AudioUnavailable(f"microphone {device!r} not found; available: {names}") from exc
    except sd.PortAudioError as exc:
        if no_device_at_all(exc):
            raise AudioUnavailable(_NO_MICROPHONE) from exc
        raise AudioUnavailable(f"{_NO_MICROPHONE} ({exc})") from exc


class Microphone:
    """Records one take at a time: start(), then stop() returns it as a mono Clip.

    device: a PortAudio input name or index, None for the system's default. rate: None for
    the device's own rate, so nothing is resampled on the way in.
    """

    def __init__(self, device: str | int | None = None, rate: int | None = None,
                 max_seconds: float = MAX_TAKE_S) -> None:
        info = _input_info(device)
        self.device = device
        self.name = str(info["name"])
        self.rate = int(rate or round(info["default_samplerate"]))
        self.overflows = 0  # blocks PortAudio lost before we read them (heard as a gap)
        self._buffer = np.zeros(round(max_seconds * self.rate), dtype=np.float32)
        self._filled = 0
        self._stream: Any = None

    @property
    def max_seconds(self) -> float:
        return len(self._buffer) / self.rate

    @property
    def full(self) -> bool:
        """True once the take reached max_seconds (what follows was not kept)."""
        return self._filled >= len(self._buffer)

    @property
    def recording(self) -> bool:
        return self._stream is not None

    def start(self) -> None:
        """Start a new take; AudioUnavailable with a plain reason if the input will not open."""
        if self._stream is not None:
            return
        sd = load_sounddevice()
        self._filled = 0
        self.overflows = 0
        self._stream = started_stream(
            lambda: sd.InputStream(samplerate=self.rate, device=self.device, channels=1,
                                   dtype="float32", blocksize=_BLOCK_FRAMES,
                                   latency=_LATENCY, callback=self._callback),
            self._cannot_record)

    def _cannot_record(self, error: Exception) -> AudioUnavailable:
        return AudioUnavailable(f"the microphone ({self.name}) cannot record: {error}. Check "
                                "that it is plugged in and not in use by another program")

    def stop(self) -> Clip:
        """End the take and return it (empty if nothing was heard)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            # abort(), not stop(): what is still in PortAudio's buffers is after the
            # person pressed Enter, and stop() would wait for it.
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        return Clip(self._buffer[: self._filled].copy(), self.rate)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy the block into the buffer, nothing more."""
        if status.input_overflow:
            self.overflows += 1
        start = self._filled
        n = min(frames, len(self._buffer) - start)
        if n > 0:
            self._buffer[start : start + n] = indata[:n, 0]
            self._filled = start + n


def play(clip: Clip, device: str | int | None = None) -> None:
    """Play a clip on an output device (None: the default) and return when it has been heard.

    AudioUnavailable with a plain reason if there is nothing to play it on. Ctrl-C stops it at
    once (the KeyboardInterrupt is raised on after the device is released).
    """
    if len(clip.pcm) == 0:
        return
    sd = load_sounddevice()
    rate = output_rate(device)  # a missing device says so here, in words
    heard = clip.resampled(rate).samples
    samples = np.concatenate((heard, np.zeros(round(_PLAYBACK_TAIL_S * rate), np.float32)))
    finished = threading.Event()
    position = 0

    def callback(outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        nonlocal position
        chunk = samples[position : position + frames]
        outdata[: len(chunk), 0] = chunk
        outdata[len(chunk) :] = 0.0
        position += len(chunk)
        if len(chunk) < frames:
            raise sd.CallbackStop

    stream = started_stream(
        lambda: sd.OutputStream(samplerate=rate, device=device, channels=1, dtype="float32",
                                blocksize=_BLOCK_FRAMES, latency=_LATENCY, callback=callback,
                                finished_callback=finished.set),
        lambda exc: AudioUnavailable(f"the recording cannot be played back: {exc}"))
    try:
        finished.wait(clip.seconds + _PLAYBACK_TAIL_S + _PLAYBACK_GRACE_S)
    finally:
        stream.abort(ignore_errors=True)
        stream.close(ignore_errors=True)
