"""The sound of a session: the voice, the chime and the tide, mixed into one output stream.

This is the whole interface the device side uses. Times are clock seconds: a sound placed
`at` a time is heard then, because the stream says when each block reaches the speaker.
Audio faults never raise out of it: a missing speech engine or speaker, or an output that
dies mid-session, is logged once, and the session goes on with the light only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio import cache
from audio.chime import soft_chime
from audio.clip import Clip
from audio.mixer import Mixer
from audio.pacing import TideSound
from audio.stream import FALLBACK_RATE, AudioUnavailable, SoundStream, output_rate
from audio.voicemaker import FillReport, Interrupt, VoiceMaker
from device.core.pacing import Swell
from device.core.voice import Line, VoiceSettings

log = logging.getLogger("ebbtide.audio")
# The end of the line logged when a session's sound cannot start; that line's record has
# the attribute NO_OUTPUT set, so a screen that has already said there is no sound device
# (the demo) can leave it out.
LIGHT_ONLY = "the session runs with the light only"
NO_OUTPUT = "ebbtide_no_sound_output"

LEAD_S = 0.3  # how far ahead sounds should be placed: more than the output's latency
FADE_IN_S = 0.1  # all sound rises over this at the start of a session: no click, and
# the first word ("I'm here with you", a second long) keeps its first syllable
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
    """The voice, chime and tide of sessions: cached clips in one output stream."""

    lead = LEAD_S

    def __init__(
        self,
        *,
        voice: VoiceSettings | None = None,
        device: str | int | None = None,
        cache_dir: Path | None = None,
        mixer: Mixer | None = None,
        chime: bool = True,
        tide: bool = False,
        maker_command: list[str] | None = None,
        speaks: bool = True,
    ) -> None:
        """cache_dir None means default_cache_dir(). A given mixer means offline rendering:
        no stream is ever opened and the caller pulls the sound with mixer.render().
        maker_command runs the voice maker's child (tests give a fake engine). speaks=False
        ([voice] enabled = false) makes no line and says none: light, chime and tide only."""
        self.device = device
        self.speaks = speaks
        self._maker = VoiceMaker(voice or VoiceSettings(),
                                 cache_dir if cache_dir is not None else cache.default_cache_dir(),
                                 maker_command)
        self._lines: dict[str, Line] = {}
        self._cached: dict[str, Path] = {}  # by text: what the voice maker has made
        self._silent: set[str] = set()  # texts the voice maker could not make
        self.voice_report: FillReport | None = None  # the last fill: engine, model, lines
        self._mixer = mixer
        self._offline = mixer is not None
        if mixer is not None and mixer.anchor is None:
            # Offline, the mix keeps its own time: sample n is heard at n / rate seconds.
            mixer.anchor = (mixer.position, mixer.position / mixer.rate)
        self._with_chime = chime
        self._chime: np.ndarray | None = None
        self._tide: TideSound | None = None
        self._with_tide = tide
        # A mixer that hears the tide alone, beside the mix (`ebbtide render` measures it).
        self.tide_stem: Mixer | None = None
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
    def cache_directory(self) -> Path:
        """Where rendered lines are kept."""
        return self._maker.directory

    @property
    def rate(self) -> int:
        """The mixer's sample rate."""
        return self.mixer.rate

    def prepare(self, lines: Sequence[Line],
                progress: Callable[[int, int], None] | None = None,
                log_problems: bool = True,
                interrupt: Interrupt | None = None) -> dict[str, float]:
        """Have every line made (in a child process) before the first session; return the
        spoken seconds of each text that is ready.

        The chime and the tide's noise are made here too. Lines the voice maker could not make
        (no engine, or it crashed) are silent, with one log line (unless the caller says
        so itself, from voice_report); the light carries on. An `interrupt` that says quit
        (SIGTERM while starting) ends the making at once.
        """
        if self._with_chime:
            self._chime_samples()
        if self._with_tide:
            self._tide_sound()
        known = self.voice_report
        if known is not None and {line.text for line in lines} <= set(self._lines):
            # Asked again (another appliance on this speaker): the child already answered.
            return {ln.text: known.lines[ln.text].seconds for ln in lines
                    if ln.text in known.lines}
        self._lines = {line.text: line for line in lines}
        if not self.speaks:
            self.voice_report, self._silent = FillReport(), set(self._lines)
            return {}
        report = self._maker.fill(lines, self.rate, progress, interrupt)
        self.voice_report = report
        self._cached = {text: entry.path for text, entry in report.lines.items()}
        self._silent = {line.text for line in lines} - set(self._cached)
        if log_problems and not report.stopped:
            if report.failure:
                log.warning("%s; %d of %d lines are ready, the others are silent this time",
                            report.failure, len(report.lines), len(self._lines))
            for problem in report.problems:
                log.warning("%s", problem)
        return {text: entry.seconds for text, entry in report.lines.items()}

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
                log.warning("%s; %s", exc, LIGHT_ONLY, extra={NO_OUTPUT: True})
                return None
            self._stream = stream
            self._failure_told = False
        mixer.fade_to(0.0)
        mixer.fade_to(volume, FADE_IN_S)
        return self._delay()

    def _delay(self) -> float:
        """Seconds from now until a sound handed over now is sure to be heard on time.

        That is the first sample the mixer has not yet filled, but never sooner than the
        output's own latency: PortAudio fills its whole buffer in a burst of callbacks at the
        start, so right after the first one more blocks are about to be filled (a first word
        placed inside them was heard up to two blocks late).
        """
        if self._offline:
            return 0.0
        deadline = time.monotonic() + _START_WAIT_S
        while self.mixer.anchor is None and time.monotonic() < deadline:
            time.sleep(0.001)  # the first callback comes within a block or two
        earliest = self.mixer.earliest()
        if earliest is None:
            return 0.0
        latency = self._stream.latency if self._stream is not None else 0.0
        return min(max(earliest - time.monotonic(), latency, 0.0), _START_WAIT_S)

    def say(self, text: str, at: float | None = None) -> float:
        """Speak text from clock time `at` (None: as soon as possible).

        Returns its length in seconds (also when there is no speaker, so the session keeps
        its timing); 0.0 if the line has no voice. A line that was not prepared, or whose
        cached clip is gone or damaged, is made here and now, by the voice maker's child
        (see clip_or_make): the one way a session's runner can start the speech process.
        """
        clip = self.clip_or_make(text)
        if clip is None:
            return 0.0
        self._place(clip.pcm, at)
        return clip.seconds

    def chime(self, at: float | None = None) -> None:
        """Sound the soft chime that marks a new part (if it is switched on)."""
        if self._with_chime:
            self._place(self._chime_samples(), at)

    def pace(self, at: float, swell: Swell) -> None:
        """The tide of one breath phase (if switched on), heard from clock time `at`."""
        position = self._position(at) if self._with_tide else None
        if position is None:
            return
        samples = self._tide_sound().clip(swell, position)
        self.mixer.schedule(samples, position)
        if self.tide_stem is not None:
            self.tide_stem.schedule(samples, position)

    def hush(self) -> None:
        """Stop every sound at once, with a short fade."""
        if self._offline or self._stream is not None:  # else nothing plays or ever fills
            self.mixer.hush(FADE_OUT_S)
            if self.tide_stem is not None:
                self.tide_stem.hush(FADE_OUT_S)
        if self._tide is not None:
            self._tide.forget()  # the next swell rises from silence

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

    def _tide_sound(self) -> TideSound:
        """The tide's noise at the mixer's rate, made once."""
        if self._tide is None:
            self._tide = TideSound(self.rate)
        return self._tide

    def heard(self) -> list[tuple[float | None, float]]:
        """(asked, actual) clock times of the sounds started this session: when each was
        meant to be heard (None: as soon as possible) and when it reached the speaker."""
        rate = self.mixer.rate
        return [(None if asked < 0 else heard - (actual - asked) / rate, heard)
                for asked, actual, heard in self.mixer.starts() if heard is not None]

    def _place(self, samples: np.ndarray, at: float | None) -> None:
        """Schedule samples to be heard at clock time `at`, if there is an output."""
        if self._playing():
            self.mixer.schedule(samples, None if at is None else self._position(at))

    def _playing(self) -> bool:
        """Whether sounds can be heard this session (False: the light carries on alone)."""
        stream = self._stream
        return self._offline or (stream is not None and self._alive(stream))

    def _position(self, at: float) -> int | None:
        """The mix's sample heard at clock time `at` (a hair after: never before the light);
        None when nothing can be heard this session."""
        return self.mixer.sample_at(at + _LATE_S) if self._playing() else None

    def _alive(self, stream: SoundStream) -> bool:
        """False once the stream has stopped by itself; says so in one log line."""
        if stream.playing:
            return True
        if not self._failure_told:
            self._failure_told = True
            log.warning("%s; the session goes on with the light only", stream.failure)
        return False

    def clip_or_make(self, text: str) -> Clip | None:
        """The clip for text at the mixer's rate, read from the cache and checked; None if
        the line has no voice. Not just a getter: a damaged or missing file is made again at
        once (one log line), and so is a line that was not prepared, which runs the voice
        maker's child process and waits for it."""
        if not self.speaks:
            return None
        path = self._cached.get(text)
        if path is not None:
            try:
                return cache.read(path)
            except FileNotFoundError:
                log.warning("voice cache: the clip of %r is gone; making it again", text)
            except cache.DamagedClip:
                pass  # the voice maker finds it damaged too, says so and makes it again
        elif text in self._silent:
            return None
        else:
            log.debug("making a line that was not prepared: %r", text)
        report = self._maker.fill([self._lines.get(text, Line("unprepared", text))], self.rate)
        entry = report.lines.get(text)
        if entry is not None:
            try:
                self._cached[text] = entry.path
                return cache.read(entry.path)
            except (OSError, cache.DamagedClip) as error:  # the card itself is failing
                report.failure = f"voice cache: cannot read {entry.path} back ({error})"
        self._cached.pop(text, None)
        self._silent.add(text)
        log.warning("%s; the line %r is silent", report.failure, text)
        return None
