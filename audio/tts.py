"""Offline speech synthesis with espeak-ng through pyttsx3, rendered into memory.

Only the voice maker's child process uses it (see audio/voice_child.py).

pyttsx3 is imported lazily so that `import audio.tts` works on a machine without it or
without libespeak-ng1; only rendering raises TTSUnavailable there.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import threading
import wave
from importlib import metadata
from typing import Any

import numpy as np

from audio.clip import Clip
from device.core.errors import EbbtideError

log = logging.getLogger("ebbtide.audio.tts")

# espeak-ng can be initialised once per process and pyttsx3 hands out one engine per driver,
# so every EspeakTTS shares this engine and takes turns under the lock.
_engine_lock = threading.Lock()
_engine: Any = None
_default_voice = ""
_finished = threading.Event()
_errors: list[str] = []  # what the driver reported during the current utterance
_applied: tuple[str, int, float] | None = None  # (voice, rate, volume) the engine has now

# pyttsx3's espeak driver always writes 22050 Hz mono 16-bit WAV.
_ESPEAK_RATE = 22050

# Generous bound for one utterance, even on a Pi Zero; beyond it the engine is stuck.
_RENDER_TIMEOUT_S = 30.0


def espeak_version() -> str:
    """libespeak-ng's own version (a new one may sound different), or "missing"."""
    try:
        from pyttsx3.drivers import _espeak

        return _espeak.Info(None).decode()
    except Exception:  # no pyttsx3 or no libespeak-ng: rendering will say so
        return "missing"


class TTSUnavailable(EbbtideError):
    """No usable speech engine; the message says what to install or what went wrong."""


class EspeakMissing(TTSUnavailable):
    """espeak-ng (or pyttsx3) cannot start at all here: no line can be spoken with it."""


def _pyttsx3_version() -> str:
    try:
        return metadata.version("pyttsx3")
    except metadata.PackageNotFoundError:
        return "missing"


def _shared_engine() -> Any:
    """The process-wide pyttsx3 espeak engine (call with _engine_lock held)."""
    global _engine, _default_voice
    if _engine is not None:
        return _engine
    try:
        import pyttsx3

        engine = pyttsx3.init("espeak")
    except ImportError as exc:
        raise EspeakMissing(f"no speech engine: pyttsx3 is not installed ({exc})") from exc
    except (OSError, RuntimeError) as exc:
        raise EspeakMissing(
            "no speech engine: libespeak-ng1 is not installed (apt-get install espeak-ng)"
        ) from exc
    except Exception as exc:  # any other driver failure means the same to the user
        raise EspeakMissing(f"no speech engine: espeak failed to start ({exc})") from exc
    # The driver reports the end of every utterance here, from espeak's own thread.
    engine.connect("finished-utterance", lambda **_: _finished.set())
    engine.connect("error", lambda exception=None, **_: _errors.append(str(exception)))
    _never_cancel(engine)
    # Prime: the driver starts out "busy", and in that state the first runAndWait() returns
    # ~10 ms after starting synthesis instead of waiting for it. An empty run clears that.
    with contextlib.redirect_stdout(io.StringIO()):
        engine.runAndWait()
    _default_voice = str(engine.getProperty("voice") or "")
    _engine = engine
    atexit.register(_release_engine)
    return engine


def _release_engine() -> None:
    """Let pyttsx3 tidy up while the interpreter still works (its __del__ needs contextlib)."""
    global _engine
    with _engine_lock:
        _engine = None


def _never_cancel(engine: Any) -> None:
    """Turn the espeak driver's stop() into a no-op on our engine.

    pyttsx3 2.99 trap: every runAndWait() calls the driver's stop(), which calls
    espeak_Cancel() whenever espeak's worker thread is busy, and espeak queues rate and
    volume changes on that same thread. So the rate just set for this utterance is sometimes
    thrown away and the previous instance's rate is used. We never interrupt a rendering,
    so nothing is lost by not cancelling.
    """
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    if driver is not None and hasattr(driver, "stop"):
        driver.stop = lambda: None


def _variant_names() -> set[str]:
    """Lower-case espeak variant names ('f3', 'klatt', ...) via pyttsx3's espeak bindings.

    pyttsx3 lists only full voices; an unknown '+variant' is ignored by espeak silently.
    The bindings are pinned with pyttsx3==2.99; if they ever change, skip the check.
    """
    try:
        import ctypes

        from pyttsx3.drivers import _espeak

        spec = _espeak.VOICE()
        spec.languages = b"variant"
        found = _espeak.ListVoices(ctypes.pointer(spec))
        return {v.identifier.decode("utf-8").rsplit("/", 1)[-1].lower() for v in found}
    except Exception:  # an unchecked variant is better than refusing to speak
        return set()


class EspeakTTS:
    """Renders text to a Clip with espeak-ng (22050 Hz mono), with leading silence trimmed."""

    engine_name = "espeak-ng"

    def __init__(self, voice: str = "", rate: int = 140, volume: float = 0.9) -> None:
        self.voice = voice.strip()
        self.rate = int(rate)
        self.volume = float(volume)
        self._resolved: str | None = None  # voice id given to espeak, once checked

    @property
    def identity(self) -> str:
        """Everything that changes the sound of a rendering; part of the cache key.

        It does not need the engine, so cached clips load without starting espeak.
        """
        return (
            f"{self.engine_name}|pyttsx3 {_pyttsx3_version()}|voice={self.voice.lower()}"
            f"|rate={self.rate}|volume={self.volume:.3f}"
        )

    @property
    def voice_in_use(self) -> str:
        """The espeak voice id actually speaking (known after the first render)."""
        return self._resolved or self.voice

    def render(self, text: str) -> Clip:
        """Synthesise one utterance into memory; raises TTSUnavailable if espeak cannot."""
        if not text.strip():
            return Clip(np.zeros(0, dtype=np.float32), _ESPEAK_RATE)
        with _engine_lock:
            engine = _shared_engine()
            if self._resolved is None:
                self._resolved = self._resolve_voice(engine)
            data, errors = self._synthesise(engine, text, self._resolved)
        for message in errors:
            log.warning("espeak: %s", message)
        if not data:
            raise TTSUnavailable(f"speech engine produced no audio for {text!r}")
        try:
            return Clip.from_wav_bytes(data).trimmed()
        except (EOFError, ValueError, wave.Error) as exc:
            raise TTSUnavailable(f"speech engine wrote a broken WAV ({exc})") from exc

    def _synthesise(self, engine: Any, text: str, voice: str) -> tuple[bytes, list[str]]:
        """One save_to_file + one runAndWait, then make sure espeak reported the end.

        The WAV is written from espeak's own thread when the utterance ends; runAndWait()
        normally waits for that (see the priming in _shared_engine), and the event is a
        safety net. The driver prints "Audio saved to ..." there, so stdout stays redirected.
        """
        global _applied
        buffer = io.BytesIO()
        _errors.clear()
        settings = (voice, self.rate, self.volume)
        if settings != _applied:  # reloading the voice each time is wasted work
            # espeak-ng synthesises on its own thread, and changing the voice does not wait
            # for it: wait here, so a voice is never swapped under a running synthesis.
            from pyttsx3.drivers import _espeak

            _espeak.Synchronize()
            engine.setProperty("voice", voice)
            engine.setProperty("rate", self.rate)
            engine.setProperty("volume", self.volume)
            _applied = settings
        _finished.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                engine.save_to_file(text, buffer)
                engine.runAndWait()
            except Exception as exc:
                raise TTSUnavailable(f"speech engine failed: {exc}") from exc
            if not _finished.wait(_RENDER_TIMEOUT_S):
                raise TTSUnavailable("speech engine did not finish an utterance")
        return buffer.getvalue(), list(_errors)

    @staticmethod
    def _voice_ids(engine: Any) -> list[str]:
        return [str(v.id) for v in engine.getProperty("voices")]

    def _resolve_voice(self, engine: Any) -> str:
        """The voice id to use: the requested one if espeak has it, else the default.

        espeak ignores an unknown name or variant silently, and a voice whose data fails to
        load renders nothing; so check once (with a one-syllable test) and log one line.
        """
        if not self.voice:
            return _default_voice
        base, _, variant = self.voice.lower().partition("+")
        known = {vid.lower(): vid for vid in self._voice_ids(engine)}
        by_short_name = {vid.rsplit("/", 1)[-1]: vid for vid in known}
        voice_id = known.get(base) or by_short_name.get(base)
        if voice_id is None:
            log.warning(
                "voice %r is not an espeak voice (e.g. gmw/en, gmw/en-us); using the default %r",
                self.voice,
                _default_voice,
            )
            return _default_voice
        variants = _variant_names() if variant else set()
        if variant and variants and variant not in variants:
            log.warning(
                "voice variant %r is not an espeak variant (e.g. f3, m1); using %r",
                variant,
                voice_id,
            )
            variant = ""
        chosen = f"{voice_id}+{variant}" if variant else voice_id
        data, errors = self._synthesise(engine, "a", chosen)
        if errors or not data:
            log.warning(
                "voice %r does not work here (%s); using the default %r",
                chosen,
                "; ".join(errors) or "no audio",
                _default_voice,
            )
            return _default_voice
        return chosen
