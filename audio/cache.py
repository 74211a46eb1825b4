"""Rendered prompts, kept in memory and on disk, so speech is synthesised once per wording.

Synthesis is cheap on a desktop but slow on a Pi Zero, and the script rarely changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import wave
from pathlib import Path

from audio.clip import Clip
from audio.tts import EspeakTTS

log = logging.getLogger("ebbtide.audio.cache")


def default_cache_dir() -> Path:
    """Where rendered voice clips live: under systemd's StateDirectory= (or CacheDirectory=),
    else the XDG cache."""
    # systemd joins several entries with ':'; the first one is ours.
    state = os.environ.get("STATE_DIRECTORY", "")
    if state:
        return Path(state.split(":", 1)[0]) / "voice"
    systemd = os.environ.get("CACHE_DIRECTORY", "")
    if systemd:
        return Path(systemd.split(":", 1)[0])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "ebbtide" / "voice"


def _make_private_dirs(directory: Path) -> None:
    """Create directory and any missing parents with mode 0700 (the words are private)."""
    missing = []
    path = directory
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")


class ClipCache:
    """Clips by text: from `directory/<sha256>.wav`, else rendered and stored there.

    With a directory, clips are read from disk each time (a few hundred KB, well within a
    sound's lead time) rather than all kept in memory: that is most of a session's memory.
    A missing or unwritable directory only costs speed: clips are then rendered once and
    kept in memory, and one warning says why nothing is stored.
    """

    def __init__(self, tts: EspeakTTS, directory: Path | None) -> None:
        self.tts = tts
        self.renders = 0  # syntheses done by this cache; cache hits do not count
        self._memory: dict[tuple[str, int | None], Clip] = {}
        self._lock = threading.Lock()
        self.directory: Path | None = None
        if directory is None:
            log.info("voice cache on disk is off; prompts are rendered at each start")
            return
        try:
            _make_private_dirs(Path(directory))
        except OSError as exc:
            self._give_up_disk(Path(directory), exc)
            return
        self.directory = Path(directory)

    def path_for(self, text: str, rate: int | None = None) -> Path | None:
        """The file that holds (or would hold) the clip for text, as rendered or resampled to
        `rate`; None without a directory."""
        if self.directory is None:
            return None
        name = f"{self.tts.identity}\n{text}" + ("" if rate is None else f"\n{rate} Hz")
        return self.directory / f"{hashlib.sha256(name.encode()).hexdigest()}.wav"

    def get(self, text: str, rate: int | None = None) -> Clip:
        """The clip for text, at `rate` if given (resampled once, then kept on disk too);
        renders it only on a miss (TTSUnavailable if it cannot)."""
        with self._lock:
            return self._get(text, rate)

    def _get(self, text: str, rate: int | None) -> Clip:
        clip = self._memory.get((text, rate))
        if clip is None:
            clip = self._load(text, rate)
        if clip is None:
            if rate is None:
                clip = self.tts.render(text)
                self.renders += 1
            else:
                clip = self._get(text, None).resampled(rate)
            self._store(text, rate, clip)
        if self.directory is None:  # the disk cache failed: memory is all there is
            self._memory[(text, rate)] = clip
        return clip

    def _load(self, text: str, rate: int | None) -> Clip | None:
        path = self.path_for(text, rate)
        if path is None:
            return None
        try:
            return Clip.from_wav_bytes(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, EOFError, ValueError, wave.Error) as exc:
            log.debug("cached clip %s is unreadable (%s); rendering it again", path.name, exc)
            return None

    def _store(self, text: str, rate: int | None, clip: Clip) -> None:
        """Write via a temporary file and os.replace, so a reader never sees half a clip."""
        path = self.path_for(text, rate)
        if path is None:
            return
        tmp_name = ""
        try:
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                file.write(clip.to_wav_bytes())
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp_name, path)
        except OSError as exc:
            if tmp_name:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
            self._give_up_disk(path.parent, exc)

    def _give_up_disk(self, directory: Path, exc: OSError) -> None:
        log.warning(
            "voice cache %s is not writable (%s); prompts are rendered at each start",
            directory,
            exc.strerror or exc,
        )
        self.directory = None
