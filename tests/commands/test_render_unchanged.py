"""With no breath sensor, `ebbtide render` writes what it wrote before the adaptive pacer
(issue 23): the fixed plan, unchanged. tests/data/render-fixed-plan/ holds the files the code
of c5be6ba (the last commit before the adaptive pacer) rendered from the same inputs; see
tests/data/README.md.

The inputs do not depend on a speech engine: every line is a recording made here from
integers and math.sin (its bytes the same on every machine), so the lines' lengths, and with
them the plan, are too. events.csv, light.csv and haptic.csv must be byte-identical.
session.wav is compared through levels.csv (the mix's and the tide's level every 50 ms, to
0.01 dB, measured on the float mix) and its length: the tide moved by one sample changes
some blocks' levels, while a last bit of a float that numpy computes differently on another
machine or version (which could flip a 16-bit sample, and so the WAV's digest) moves a level
by some 1e-13 dB.

Run as a script, it writes those files with whatever code is on the path (how the fixture was
made; never to be remade from code after c5be6ba unless the render is meant to change):
  PYTHONPATH=CHECKOUT python tests/commands/test_render_unchanged.py OUT_DIR
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import math
import struct
import sys
import wave
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "render-fixed-plan"

# name: (config, the time of day it starts at, or None for by day)
CASES = {
    # The paced-exhale ramp, from another start to another target (the ramp ends inside the
    # breathing part), with a motor, by day.
    "paced": ({"breathing": {"pattern": "paced-exhale", "minutes": 3, "start_rate": 10,
                             "target_rate": 5},
               "haptic": {"pin": 12},
               "session": {"parts": ["arrive", "breathe", "feel", "close"]}}, None),
    # A pattern with holds and no rate, in the quiet hours.
    "box-night": ({"breathing": {"pattern": "box", "minutes": 1},
                   "session": {"parts": ["arrive", "breathe", "close"]}},
                  datetime.time(23, 30)),
}
EXACT = ("events.csv", "light.csv", "haptic.csv")  # compared byte for byte


def take(text: str, max_seconds: float | None) -> bytes:
    """A recording for a line: 0.3 s of faint hiss, a hum with a syllable's swell whose length
    follows the text (within the line's room), 0.3 s of hiss; 48 kHz 16-bit mono WAV bytes,
    the same on every machine (integers and math.sin only)."""
    rate = 48000
    seconds = 0.3 + 0.04 * len(text)
    if max_seconds is not None:
        seconds = min(seconds, 0.8 * max_seconds)
    words = round(seconds * rate)
    quiet = round(0.3 * rate)
    state = 12345
    samples = []
    for n in range(quiet + words + quiet):
        state = (1103515245 * state + 12345) % (1 << 31)
        hiss = (state >> 16) % 21 - 10
        k = n - quiet
        voice = 0
        if 0 <= k < words:
            envelope = math.sin(math.pi * k / words) * (0.4 + 0.6 * abs(math.sin(
                2 * math.pi * 3 * k / rate)))
            voice = round(9000 * envelope * (math.sin(2 * math.pi * 150 * k / rate)
                                             + 0.5 * math.sin(2 * math.pi * 300 * k / rate)))
        samples.append(max(-32767, min(32767, voice + hiss)))
    frames = struct.pack(f"<{len(samples)}h", *samples)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(frames), b"WAVE", b"fmt ",
                         16, 1, 1, rate, 2 * rate, 2, 16, b"data", len(frames))
    return header + frames


def render_case(name: str, folder: Path) -> Path:
    """Render case `name` into folder/name (its recordings in folder/recordings-name)."""
    from device.commands.render import render_session
    from device.core.config_schema import parse
    from device.core.plan import voice_lines
    from device.files.script_file import load_script

    settings, at = CASES[name]
    recordings = folder / f"recordings-{name}"
    recordings.mkdir(parents=True, exist_ok=True)
    voice = {"engine": "espeak", "recordings": str(recordings)}
    config = parse({**settings, "voice": voice})
    script = load_script()
    for line in voice_lines(config, script):
        (recordings / f"{line.id}.wav").write_bytes(take(line.text, line.max_seconds))
    out = folder / name
    render_session(config, script, out, at)
    return out


def write_fixture(folder: Path) -> None:
    """Render every case and keep what the test compares."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for name in CASES:
            out = render_case(name, Path(scratch))
            keep = folder / name
            keep.mkdir(parents=True, exist_ok=True)
            for file in ("events.csv", "levels.csv"):
                shutil.copyfile(out / file, keep / file)
            with (keep / "sha256").open("w") as f:
                for file in (*EXACT, "session.wav"):
                    if (out / file).exists():
                        digest = hashlib.sha256((out / file).read_bytes()).hexdigest()
                        f.write(f"{digest}  {file}\n")
            with wave.open(str(out / "session.wav")) as w:
                (keep / "frames").write_text(f"{w.getnframes()} {w.getframerate()}\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _levels(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("name", sorted(CASES))
def test_with_no_sensor_the_render_is_the_fixed_plan_as_it_was(tmp_path, name):
    """The same events at the same times, the same light and touch every 10 ms, and the same
    sound every 50 ms as c5be6ba rendered."""
    out = render_case(name, tmp_path)
    was = FIXTURE / name
    assert (out / "events.csv").read_text() == (was / "events.csv").read_text()
    digests = {file: digest for digest, file in
               (line.split("  ") for line in (was / "sha256").read_text().splitlines())}
    written = {file for file in EXACT if (out / file).exists()}
    assert written == set(digests) - {"session.wav"}
    for file in sorted(written):
        assert _sha256(out / file) == digests[file], f"{file} differs from the fixed plan's"
    with wave.open(str(out / "session.wav")) as w:
        assert f"{w.getnframes()} {w.getframerate()}" == (was / "frames").read_text().strip()
    now, then = _levels(out / "levels.csv"), _levels(was / "levels.csv")
    assert now[0] == then[0] and len(now) == len(then)
    moved = [(row, old) for row, old in zip(now[1:], then[1:], strict=True) if row != old]
    assert not moved, f"{len(moved)} of {len(now) - 1} level blocks differ, first {moved[:3]}"


if __name__ == "__main__":
    write_fixture(Path(sys.argv[1]))
