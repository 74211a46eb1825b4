"""The voice: how long the script takes to make, cold and warm, Piper beside espeak-ng.

Speech is made in a child process (`audio.voice_child`, started by `audio.voicemaker`) into
a cache that the service only reads. A cold render (an empty cache folder) is what a first
start, a new voice or a new script costs; a warm fill (every line cached) is what every
start of the service pays. Both are timed through `VoiceMaker.fill`, as the service calls
it, at 48000 Hz, so the child's start, the engine's load, levelling, resampling and writing
are all counted.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from audio.cache import default_cache_dir
from audio.voicemaker import VoiceMaker
from device.core.config import Config
from device.core.voice import Line, VoiceSettings

RATE = 48000
OURS, BASELINE = "piper", "espeak"  # the default voice, and the usual one


@dataclass(frozen=True)
class Fill:
    """One VoiceMaker.fill, timed."""

    engine: str  # as the voice maker says, e.g. "piper 1.8.0"
    seconds: float  # the whole fill, child start to its end
    per_line_s: list[float]  # between one line's report and the next (the first: from start)
    rendered: int  # lines the engine spoke (not from the cache)
    spoken_s: float  # seconds of speech made
    failure: str | None
    peak_mb: float | None  # the speech process's peak resident memory (VmHWM)


def settings_for(config: Config, engine: str) -> VoiceSettings:
    """The [voice] settings of `config`, with `engine`."""
    v = config.voice
    return replace(VoiceSettings(v.engine, v.model, v.voice, v.rate, v.volume, v.recordings),
                   engine=engine)


def fill(settings: VoiceSettings, lines: Sequence[Line], directory: Path) -> Fill:
    """Time one fill of `lines` into `directory`, line by line."""
    stamps: list[float] = []
    started = time.monotonic()
    report = VoiceMaker(settings, directory).fill(
        lines, RATE, lambda done, total: stamps.append(time.monotonic()))
    seconds = time.monotonic() - started
    return Fill(report.engine, seconds, [b - a for a, b in itertools.pairwise([started, *stamps])],
                report.rendered, sum(entry.seconds for entry in report.lines.values()),
                report.failure, report.peak_mb)


def cold(settings: VoiceSettings, lines: Sequence[Line], into: Path | None = None) -> Fill:
    """A fill into an empty folder: `into` (kept, for later use) or a temporary one."""
    if into is not None:
        into.mkdir(parents=True, exist_ok=False)  # must be new: a cold render
        return fill(settings, lines, into)
    with tempfile.TemporaryDirectory(prefix="ebbtide-bench-voice-") as scratch:  # removed
        return fill(settings, lines, Path(scratch))


@dataclass(frozen=True)
class VoiceTiming:
    ours: list[Fill]  # cold, Piper
    baseline: list[Fill]  # cold, espeak-ng
    warm: list[Fill]  # every line cached, the default engine
    lines: int  # lines in each cold render
    script_lines: int  # lines in the whole script
    peak_mb: float | None  # the speech process's peak making the whole script cold, Piper


def seed(folder: Path, source: Path) -> None:
    """Copy the clips already made in `source` (a user's voice cache: only read) into
    `folder`, so a quick run renders only what is missing there."""
    folder.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith("."):  # not a writer's temporary
            shutil.copy2(path, folder / path.name)


def measure_voice(config: Config, lines: Sequence[Line], caches: dict[str, Path],
                  subset: int | None, runs: int, warm_runs: int) -> VoiceTiming:
    """Cold renders of `lines` (the first `subset` of them, if given), `runs` times for each
    engine, each into a new folder; then the warm fill of the whole script in caches[OURS].

    Without a subset, the first cold render of each engine goes into its folder in `caches`
    (which must not exist yet); the later ones into temporary folders. With a subset, those
    folders are only filled (from the user's cache if it has the clips, else made), untimed.
    """
    cold_lines = list(lines[:subset]) if subset else list(lines)
    timed: dict[str, list[Fill]] = {OURS: [], BASELINE: []}
    for engine in (OURS, BASELINE):
        settings = settings_for(config, engine)
        for run in range(runs):
            into = caches[engine] if subset is None and run == 0 else None
            timed[engine].append(cold(settings, cold_lines, into))
    # The speech process's memory peaks on the longest piece: the whole script, cold.
    peak = (cold(settings_for(config, OURS), lines).peak_mb if subset
            else max((f.peak_mb or 0.0 for f in timed[OURS]), default=None))
    if subset:
        for engine, folder in caches.items():
            seed(folder, default_cache_dir())
            fill(settings_for(config, engine), lines, folder)
    warm = [fill(settings_for(config, OURS), lines, caches[OURS]) for _ in range(warm_runs)]
    return VoiceTiming(timed[OURS], timed[BASELINE], warm, len(cold_lines), len(lines), peak)
