"""The one sounddevice OutputStream a session plays through, fed by a Mixer.

sounddevice is imported lazily: importing it fails without libportaudio2, and `ebbtide`
must still start (light only) on such a machine.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from audio.mixer import Mixer
from device.core.errors import EbbtideError

log = logging.getLogger("ebbtide.audio.stream")

# Used when the output rate cannot be asked (no device yet); nearly every DAC supports it.
FALLBACK_RATE = 48000
# Seconds of sound buffered ahead of the speaker. PortAudio's "low" (a few ms) underflows
# through PulseAudio and would make a Pi Zero wake every 2 ms; 30 ms plays steadily here,
# even with both cores busy, and puts the first word about 20-50 ms after a press (the
# buffer PortAudio fills with silence at the start is part of that).
LATENCY_S = 0.03
# Frames per callback. Each callback costs a fixed 150-200 us of one core here (most of it
# the interpreter and numpy waking cold in sounddevice's wrapper and the mixer, the rest
# PortAudio and ALSA), whatever its size: 768 frames (16-17 ms) cost less CPU than 512
# (11 ms) and keep the first sound well within 100 ms of a press (the bench's
# press_to_audio_ms).
BLOCK_FRAMES = 768
# How long PortAudio may take to load or to open and start a stream. A sound server that
# accepts a connection and never answers (PulseAudio hung) blocks both for good; after
# this the session goes on with the light only.
ANSWER_S = 3.0


class AudioUnavailable(EbbtideError):
    """No usable audio output; the message says why in words a person can act on."""


NO_OUTPUT = ("no audio output device found: connect a speaker or headphones (or start the "
             "sound server, if the system uses one), then try again")


def no_device_at_all(error: Exception) -> bool:
    """PortAudio's "Error querying device -1": it sees no device of that kind at all, which
    is said in a person's words instead."""
    return str(error).startswith("Error querying device -1")


NO_ANSWER = (f"the sound system did not answer within {ANSWER_S:g} s (PortAudio or the "
             "sound server hangs; restarting it, or the device, may help)")


class _Loading:
    """sounddevice's import, in a thread of its own: importing it starts PortAudio, which
    asks every device (the sound server's too) and waits for each answer.

    Meanwhile sounddevice points the process's stderr at /dev/null (to hide ALSA's chatter),
    and puts it back only once PortAudio has started: a hung start would take the log with
    it, so stderr is put back here when the wait is given up.
    """

    def __init__(self) -> None:
        self.module: Any = None
        self.error: BaseException | None = None
        self.stderr = os.dup(2)
        self._lock = threading.Lock()  # the thread's end, or giving up: one of them first
        self.thread = threading.Thread(target=self._load, name="ebbtide-portaudio-load",
                                       daemon=True)
        self.given_up = False  # waited ANSWER_S once: later callers are told at once
        self.thread.start()

    def _load(self) -> None:
        try:
            import sounddevice
        except (ImportError, OSError) as exc:
            self.error = exc
        else:
            self.module = sounddevice
        finally:
            with self._lock:
                os.close(self.stderr)
                self.stderr = -1

    def give_up(self) -> None:
        """Stop waiting for PortAudio to start, and have the log back."""
        with self._lock:
            self.given_up = True
            if self.stderr >= 0:
                os.dup2(self.stderr, 2)


_loading: _Loading | None = None
_loading_lock = threading.Lock()


def load_sounddevice() -> Any:
    """sounddevice, imported only when sound is wanted: it needs libportaudio2 to import.
    An import that has not finished within ANSWER_S is AudioUnavailable (NO_ANSWER)."""
    global _loading
    with _loading_lock:
        loading = _loading = _loading or _Loading()
    if loading.thread.is_alive() and not loading.given_up:
        loading.thread.join(ANSWER_S)
    if loading.thread.is_alive():
        loading.give_up()
        raise AudioUnavailable(NO_ANSWER)
    if loading.module is None:
        raise AudioUnavailable(
            "no audio output: libportaudio2 is not installed (apt-get install libportaudio2)"
        ) from loading.error
    return loading.module


def list_output_devices() -> list[str]:
    """Names of the devices PortAudio can play to (as seen when sounddevice was imported)."""
    sd = load_sounddevice()
    return [str(d["name"]) for d in sd.query_devices() if d["max_output_channels"] > 0]


def _device_info(device: str | int | None) -> dict[str, Any]:
    """PortAudio's description of an output device, or AudioUnavailable saying what is wrong."""
    sd = load_sounddevice()
    try:
        return dict(sd.query_devices(device, "output"))
    except ValueError as exc:  # no (or more than one) device matching the name
        names = ", ".join(repr(n) for n in list_output_devices()) or "none"
        raise AudioUnavailable(f"audio device {device!r} not found; available: {names}") from exc
    except sd.PortAudioError as exc:
        if no_device_at_all(exc):
            raise AudioUnavailable(NO_OUTPUT) from exc
        raise AudioUnavailable(f"no audio output device ({exc})") from exc


def describe_output(device: str | int | None = None) -> str:
    """One line about the output a session would use (None: the default)."""
    info = _device_info(device)
    return (
        f"{info['name']} ({info['max_output_channels']} channels, "
        f"{info['default_samplerate']:.0f} Hz)"
    )


def started_stream(make: Callable[[], Any],
                   unavailable: Callable[[Exception], AudioUnavailable]) -> Any:
    """A PortAudio stream made by `make()` and started, or `unavailable(error)` raised (and
    nothing left open) if it will not open or start; AudioUnavailable (NO_ANSWER) if that
    has not happened within ANSWER_S (a stream that starts later is closed at once)."""
    load_sounddevice()  # PortAudio loaded first, itself within ANSWER_S
    opening = _Opening(make)
    opening.thread.join(ANSWER_S)
    with opening.lock:
        if opening.error is not None:
            raise unavailable(opening.error) from opening.error
        if opening.stream is None:
            opening.abandoned = True
            raise AudioUnavailable(NO_ANSWER)
        return opening.stream


class _Opening:
    """make() and start() of one stream, in a thread of its own (see ANSWER_S)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.lock = threading.Lock()
        self.stream: Any = None
        self.error: Exception | None = None
        self.abandoned = False  # the caller stopped waiting: a late stream is closed
        self._make = make
        self.thread = threading.Thread(target=self._open, name="ebbtide-portaudio-open",
                                       daemon=True)
        self.thread.start()

    def _open(self) -> None:
        # Anything make() or start() raises means no sound (PortAudioError, ValueError for a
        # bad device, or something stranger): said at once, not after ANSWER_S as silence.
        try:
            stream = self._make()
        except Exception as exc:
            self.error = exc
            return
        try:
            stream.start()
        except Exception as exc:
            stream.close(ignore_errors=True)
            self.error = exc
            return
        with self.lock:
            if not self.abandoned:
                self.stream = stream
                return
        stream.abort(ignore_errors=True)
        stream.close(ignore_errors=True)


def output_rate(device: str | int | None = None) -> int:
    """The device's own sample rate, so the stream needs no resampling below us."""
    return round(_device_info(device)["default_samplerate"])


class SoundStream:
    """A running output stream whose callback is mixer.fill; the mixer's rate is used.

    The callback tells the mixer when each block will be heard on the monotonic clock, so
    clips can be placed for a moment in time. If the callback fails or the device goes away,
    the stream stops and `failure` says why; nothing is retried until the next start().
    """

    def __init__(self, mixer: Mixer, device: str | int | None = None,
                 blocksize: int = BLOCK_FRAMES) -> None:
        self.mixer = mixer
        self.device = device
        self.blocksize = blocksize
        self.underflows = 0  # blocks the device ran dry (heard as a crackle)
        self.failure: str | None = None  # why the stream stopped by itself, if it did
        self._stream: Any = None
        self._closing = False
        self._abort: type[Exception] = Exception  # sounddevice.CallbackAbort once started

    @property
    def rate(self) -> int:
        return self.mixer.rate

    def start(self) -> None:
        """Open and start the PortAudio stream; AudioUnavailable with a clear reason if not."""
        if self._stream is not None:
            return
        sd = load_sounddevice()
        _device_info(self.device)  # a missing device gets a message that lists the others
        self.failure = None
        self._closing = False
        self._abort = sd.CallbackAbort
        self._stream = started_stream(
            lambda: sd.OutputStream(samplerate=self.mixer.rate, blocksize=self.blocksize,
                                    device=self.device, channels=self.mixer.channels,
                                    dtype="float32", latency=LATENCY_S,
                                    callback=self._callback, finished_callback=self._finished),
            lambda exc: AudioUnavailable(f"audio device {self.device!r} cannot play: {exc}"))

    def close(self) -> None:
        """Stop at once and release the device (call after the mixer went quiet)."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._closing = True
        # abort(), not stop(): stop() drains PortAudio's buffers, which takes over a second
        # through PulseAudio's ALSA plugin; by now those buffers only hold silence.
        stream.abort(ignore_errors=True)
        stream.close(ignore_errors=True)

    @property
    def latency(self) -> float:
        """Seconds from the callback to the speaker, as PortAudio estimates it."""
        stream = self._stream
        return float(stream.latency) if stream is not None else 0.0

    @property
    def playing(self) -> bool:
        """True while started and not stopped by a failure."""
        return self._stream is not None and self.failure is None

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: mix and count underflows; never block or allocate arrays.

        A failure plays silence and stops the stream (CallbackAbort), so a broken mix is
        never heard twice; the session goes on with the light only.
        """
        if status.output_underflow:
            self.underflows += 1
        heard_at = time.monotonic() + (time_info.outputBufferDacTime - time_info.currentTime)
        try:
            self.mixer.fill(outdata, heard_at)
        except Exception as error:
            outdata.fill(0)
            self.failure = f"the sound mixer failed ({error})"
            raise self._abort from error

    def _finished(self) -> None:
        """PortAudio's thread, once the stream has stopped: by close(), or by itself."""
        if not self._closing and self.failure is None:
            self.failure = "the audio output stopped (the device went away)"
