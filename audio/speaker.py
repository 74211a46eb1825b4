"""The voice of a session: cached clips mixed into one output stream.

This is the whole interface the device side uses. Audio faults never raise out of it: a
missing speech engine or speaker is logged once, and the session runs with the light only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from audio.cache import ClipCache, default_cache_dir
from audio.clip import Clip
from audio.mixer import Mixer
from audio.stream import FALLBACK_RATE, AudioUnavailable, SoundStream, output_rate
from audio.tts import EspeakTTS, TTSUnavailable

log = logging.getLogger("ebbtide.audio")

_HUSH_FADE_S = 0.05
# How long close() lets a hush fade play out before it stops the stream.
_CLOSE_GRACE_S = 0.3


class Speaker:
    """The voice of a session: cached clips mixed into one output stream."""

    def __init__(
        self,
        *,
        voice: str = "",
        rate: int = 140,
        volume: float = 0.9,
        device: str | int | None = None,
        cache_dir: Path | None = None,
        mixer: Mixer | None = None,
    ) -> None:
        """cache_dir None means default_cache_dir(). A given mixer means offline rendering:
        no stream is ever opened and the caller pulls the sound with mixer.render()."""
        self.device = device
        self._cache = ClipCache(
            EspeakTTS(voice, rate, volume),
            cache_dir if cache_dir is not None else default_cache_dir(),
        )
        self._mixer = mixer
        self._offline = mixer is not None
        self._clips: dict[str, Clip] = {}  # at the mixer's rate, ready to schedule
        self._voice_ok = True
        self._stream: SoundStream | None = None

    @property
    def mixer(self) -> Mixer:
        """The mixer everything is scheduled into (made at the output device's rate)."""
        if self._mixer is None:
            try:
                rate = output_rate(self.device)
            except AudioUnavailable:
                rate = FALLBACK_RATE  # open() will say what is wrong with the device
            self._mixer = Mixer(rate)
        return self._mixer

    @property
    def rate(self) -> int:
        """The mixer's sample rate: `at` positions count samples at this rate."""
        return self.mixer.rate

    def prepare(self, texts: Iterable[str]) -> dict[str, float]:
        """Render/cache every text now (before the first session); return spoken seconds per text.

        If the TTS engine is unavailable: log ONE clear line, return {}, and say() becomes a
        no-op.
        """
        seconds: dict[str, float] = {}
        for text in texts:
            clip = self._clip(text)
            if clip is None:
                return {}
            seconds[text] = clip.seconds
        return seconds

    def open(self) -> bool:
        """Open the output stream for a session; False (and one log line) if there is none."""
        if self._offline or self._stream is not None:
            return True
        stream = SoundStream(self.mixer, self.device)
        try:
            stream.start()
        except AudioUnavailable as exc:
            log.warning("%s; the session runs with the light only", exc)
            return False
        self._stream = stream
        return True

    def say(self, text: str, at: int | None = None) -> float:
        """Start speaking text (at sample position `at` of the mixer, or ASAP).

        Returns its length in seconds (also when there is no speaker, so the session keeps
        its timing); 0.0 if the voice is unavailable. Never raises for audio faults.
        """
        if text not in self._clips and self._voice_ok:
            log.debug("rendering a prompt that was not prepared: %r", text)
        clip = self._clip(text)
        if clip is None:
            return 0.0
        if self._offline or self._stream is not None:
            self.mixer.schedule(clip.samples, at)
        return clip.seconds

    def hush(self) -> None:
        """Stop speaking at once (short fade)."""
        if self._offline or self._stream is not None:  # else nothing plays or ever fills
            self.mixer.hush(_HUSH_FADE_S)

    def close(self) -> None:
        """End the session's sound: let a hush fade play out, then release the device."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        mixer = self.mixer
        if mixer.busy:
            mixer.hush(_HUSH_FADE_S)
            deadline = time.monotonic() + _CLOSE_GRACE_S
            while mixer.busy and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(min(stream.latency, 0.1))  # the fade's last block reaches the speaker
        stream.close()
        mixer.clear()  # nothing left over plays when the next session opens
        if stream.underflows or stream.errors or mixer.dropped:
            log.warning("audio this session: the output ran dry %d times, the mixer failed %d "
                        "times, %d clips were dropped",
                        stream.underflows, stream.errors, mixer.dropped)

    def _clip(self, text: str) -> Clip | None:
        """The clip for text at the mixer's rate, loading it once; None without a voice."""
        clip = self._clips.get(text)
        if clip is not None or not self._voice_ok:
            return clip
        try:
            clip = self._cache.get(text).resampled(self.rate)
        except TTSUnavailable as exc:
            self._voice_ok = False
            log.warning("%s; sessions run without the voice", exc)
            return None
        self._clips[text] = clip
        return clip
