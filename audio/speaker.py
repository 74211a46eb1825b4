"""The sound of a session: the voice, the chime and the breath, mixed into one output stream.

This is the whole interface the device side uses. Times are clock seconds: a sound placed
`at` a time is heard then, because the stream says when each block reaches the speaker.
Audio faults never raise out of it: a missing speech engine or speaker, or an output that
dies mid-session, is logged once, and the session goes on with the light only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.breath import BreathSound
from audio.cache import ClipCache, default_cache_dir
from audio.chime import soft_chime
from audio.clip import Clip
from audio.mixer import Mixer
from audio.stream import FALLBACK_RATE, AudioUnavailable, SoundStream, output_rate
from audio.tts import EspeakTTS, TTSUnavailable

log = logging.getLogger("ebbtide.audio")

LEAD_S = 0.3  # how far ahead sounds should be placed: more than the output's latency
FADE_IN_S = 0.5  # all sound rises over this at the start of a session
FADE_OUT_S = 0.12  # and falls over this when it is stopped: quick, and never a click
# A sound is placed this much after its moment, so the voice never leads the light it
# belongs to (sound early is noticed sooner than sound late).
_LATE_S = 0.002
_START_WAIT_S = 0.5  # how long open() waits for the stream to say when it is heard
_CLOSE_GRACE_S = 0.5  # how long close() lets the fade-out play before it stops the stream


@dataclass(frozen=True)
class AudioReport:
    """How the sound went in one session (all zero is a clean session)."""

    underflows: int  # blocks the device ran dry: heard as a crackle
    dropped: int  # sounds not played because too many were already playing
    failure: str | None  # why the output stopped mid-session, if it did
    first_heard: float | None  # clock time the first sound reached the speaker
    late_ms: float  # the most any sound was heard after its moment (0: all on time)


class Speaker:
    """The voice, chime and breath sound of sessions: cached clips in one output stream."""

    lead = LEAD_S

    def __init__(
        self,
        *,
        voice: str = "",
        rate: int = 140,
        volume: float = 0.9,
        device: str | int | None = None,
        cache_dir: Path | None = None,
        mixer: Mixer | None = None,
        chime: bool = True,
        breath_sound: bool = False,
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
        if mixer is not None and mixer.anchor is None:
            # Offline, the mix keeps its own time: sample n is heard at n / rate seconds.
            mixer.anchor = (mixer.position, mixer.position / mixer.rate)
        self._seconds: dict[str, float] = {}  # spoken length of each line prepared
        self._voice_ok = True
        self._with_chime = chime
        self._chime: np.ndarray | None = None
        self._breath: BreathSound | None = None
        self._with_breath = breath_sound
        self._stream: SoundStream | None = None
        self._failure_told = False  # the output's failure this session is in the log

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
    def cache_directory(self) -> Path | None:
        """Where rendered lines are kept; None when only in memory."""
        return self._cache.directory

    @property
    def rate(self) -> int:
        """The mixer's sample rate."""
        return self.mixer.rate

    def prepare(self, texts: Iterable[str]) -> dict[str, float]:
        """Render/cache every text now (before the first session); return spoken seconds per text.

        The chime and breath sound are made here too. If the TTS engine is unavailable: log
        ONE clear line, return {}, and say() becomes a no-op.
        """
        if self._with_chime:
            self._chime_samples()
        if self._with_breath:
            self._breath_sound()
        seconds: dict[str, float] = {}
        for text in texts:
            clip = self.clip(text)
            if clip is None:
                return {}
            seconds[text] = clip.seconds
        return seconds

    def open(self, volume: float = 1.0) -> float | None:
        """Start a session's sound at `volume` (0-1), fading in.

        Returns the seconds until a sound placed now can be heard, or None (and one log
        line) if there is no output: then the session runs with the light only.
        """
        mixer = self.mixer
        if not self._offline and self._stream is None:
            mixer.clear()
            stream = SoundStream(mixer, self.device)
            try:
                stream.start()
            except AudioUnavailable as exc:
                log.warning("%s; the session runs with the light only", exc)
                return None
            self._stream = stream
            self._failure_told = False
        mixer.fade_to(0.0)
        mixer.fade_to(volume, FADE_IN_S)
        return self._delay()

    def _delay(self) -> float:
        """Seconds from now until the first sample the mixer has not yet filled is heard."""
        if self._offline:
            return 0.0
        deadline = time.monotonic() + _START_WAIT_S
        while self.mixer.anchor is None and time.monotonic() < deadline:
            time.sleep(0.001)  # the first callback comes within a block or two
        earliest = self.mixer.earliest()
        return 0.0 if earliest is None else min(max(earliest - time.monotonic(), 0.0),
                                                _START_WAIT_S)

    def say(self, text: str, at: float | None = None) -> float:
        """Speak text from clock time `at` (None: as soon as possible).

        Returns its length in seconds (also when there is no speaker, so the session keeps
        its timing); 0.0 if the voice is unavailable.
        """
        if text not in self._seconds and self._voice_ok:
            log.debug("rendering a prompt that was not prepared: %r", text)
        clip = self.clip(text)
        if clip is None:
            return 0.0
        self._place(clip.pcm, at)
        return clip.seconds

    def chime(self, at: float | None = None) -> None:
        """Sound the soft chime that marks a new part (if it is switched on)."""
        if self._with_chime:
            self._place(self._chime_samples(), at)

    def breathe(self, at: float, seconds: float, levels: Sequence[float], inhale: bool) -> None:
        """The breath sound of one phase (if switched on), loudness following `levels`."""
        if self._with_breath:
            self._place(self._breath_sound().clip(seconds, levels, inhale), at)

    def hush(self) -> None:
        """Stop every sound at once, with a short fade."""
        if self._offline or self._stream is not None:  # else nothing plays or ever fills
            self.mixer.hush(FADE_OUT_S)

    def close(self) -> AudioReport | None:
        """End the session's sound: fade out, let the fade play, then release the device."""
        stream, self._stream = self._stream, None
        if stream is None:
            return None
        mixer = self.mixer
        if self._alive(stream):
            mixer.hush(FADE_OUT_S)
            mixer.fade_to(0.0, FADE_OUT_S)
            deadline = time.monotonic() + _CLOSE_GRACE_S
            while (mixer.busy or mixer.gain > 0) and stream.playing and \
                    time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(min(stream.latency, 0.1))  # the fade's last block reaches the speaker
        stream.close()
        heard = self.heard()
        mixer.clear()  # nothing left over plays when the next session opens
        late = [actual - asked for asked, actual in heard if asked is not None]
        report = AudioReport(stream.underflows, mixer.dropped, stream.failure,
                             heard[0][1] if heard else None,
                             round(max(0.0, *late) * 1000, 2) if late else 0.0)
        if report.underflows or report.dropped:
            log.warning("audio this session: the output ran dry %d times, %d sounds were "
                        "dropped", report.underflows, report.dropped)
        return report

    def _chime_samples(self) -> np.ndarray:
        """The chime at the mixer's rate, made once."""
        if self._chime is None:
            self._chime = soft_chime(self.rate)
        return self._chime

    def _breath_sound(self) -> BreathSound:
        """The breath sound's noise at the mixer's rate, made once."""
        if self._breath is None:
            self._breath = BreathSound(self.rate)
        return self._breath

    def heard(self) -> list[tuple[float | None, float]]:
        """(asked, actual) clock times of the sounds started this session: when each was
        meant to be heard (None: as soon as possible) and when it reached the speaker."""
        rate = self.mixer.rate
        return [(None if asked < 0 else heard - (actual - asked) / rate, heard)
                for asked, actual, heard in self.mixer.starts() if heard is not None]

    def _place(self, samples: np.ndarray, at: float | None) -> None:
        """Schedule samples to be heard at clock time `at`, if there is an output."""
        stream = self._stream
        if not self._offline and (stream is None or not self._alive(stream)):
            return  # no output this session: the light carries on alone
        position = None if at is None else self.mixer.sample_at(at + _LATE_S)
        self.mixer.schedule(samples, position)

    def _alive(self, stream: SoundStream) -> bool:
        """False once the stream has stopped by itself; says so in one log line."""
        if stream.playing:
            return True
        if not self._failure_told:
            self._failure_told = True
            log.warning("%s; the session goes on with the light only", stream.failure)
        return False

    def clip(self, text: str) -> Clip | None:
        """The clip for text at the mixer's rate, from the cache; None without a voice."""
        if not self._voice_ok:
            return None
        try:
            clip = self._cache.get(text, self.rate)
        except TTSUnavailable as exc:
            self._voice_ok = False
            log.warning("%s; sessions run without the voice", exc)
            return None
        self._seconds[text] = clip.seconds
        return clip
