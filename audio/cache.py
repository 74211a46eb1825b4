"""The voice cache on disk: one self-checking WAV file per rendered line.

Only the voice maker (a child process) writes it; the service only reads it. Each file is
a plain 16-bit mono WAV (any player can play it) with one extra RIFF chunk that holds a
CRC-32 of its header fields, its samples and its own name (the line's cache key), so a clip
damaged on the SD card (truncated, zeroed, garbage), edited, or swapped with another line's
file is known as soon as it is read, and is made again instead of being played wrong.

Only a regular file is read, never through a symlink, without blocking and up to MAX_BYTES:
a FIFO, a device or a link planted in the folder is refused at once, as damage.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np

from audio.clip import Clip
from audio.regular_file import read_regular, write_atomically
from device.core.errors import EbbtideError

# Our chunk: CRC-32 of the key, the fmt chunk and the data chunk, then the frame count. (The
# first version, "ebck", covered the samples only.)
_CHECK = b"ebc2"
_FMT = struct.Struct("<HHIIHH")  # PCM format, channels, rate, byte rate, align, bits
STALE_DAYS = 14  # a clip not used for this long, and not part of the current voice, goes
_TMP_STALE_S = 3600.0  # a temporary file this old was left by a writer that died
# No line's clip comes near this: a line is at most a few minutes, and 32 MiB is 5.8 minutes
# at 48 kHz (a recording's clip is bounded by recording.MAX_TAKE_S long before). It keeps a
# huge or endless file (a link to /dev/zero) from filling the memory of a Pi.
MAX_BYTES = 32 << 20


class DamagedClip(EbbtideError):
    """A cache file that is not what was written; the message says what is wrong."""


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


def make_private_dirs(directory: Path) -> None:
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


def _crc(key: str, fmt: bytes | memoryview, data: bytes | memoryview) -> int:
    return zlib.crc32(data, zlib.crc32(fmt, zlib.crc32(key.encode())))


def encode(clip: Clip, key: str) -> bytes:
    """The clip as a WAV file with its check chunk; `key` is the name it is stored under."""
    data = clip.pcm.tobytes()
    fmt = _FMT.pack(1, 1, clip.rate, clip.rate * 2, 2, 16)
    check = struct.pack("<II", _crc(key, fmt, data), len(clip.pcm))
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", len(data)) + data
            + _CHECK + struct.pack("<I", len(check)) + check)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decode(raw: bytes, key: str) -> Clip:
    """A clip from the bytes of the cache file named `key`; DamagedClip if it is not exactly
    what was written under that name."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise DamagedClip("not a WAV file")
    if struct.unpack_from("<I", raw, 4)[0] != len(raw) - 8:
        raise DamagedClip(f"{len(raw)} bytes, not the {struct.unpack_from('<I', raw, 4)[0] + 8} "
                          "written (cut off)")
    view = memoryview(raw)  # chunks are views: the samples are never copied
    chunks: dict[bytes, memoryview] = {}
    at = 12
    while at + 8 <= len(raw):
        name, size = raw[at:at + 4], struct.unpack_from("<I", raw, at + 4)[0]
        chunks[name] = view[at + 8:at + 8 + size]
        at += 8 + size + size % 2
    fmt, data, check = chunks.get(b"fmt "), chunks.get(b"data"), chunks.get(_CHECK)
    if fmt is None or data is None or check is None or len(check) != 8 or len(fmt) < _FMT.size:
        raise DamagedClip("its header is damaged")
    crc, frames = struct.unpack("<II", check)
    if len(data) != 2 * frames or _crc(key, fmt, data) != crc:
        raise DamagedClip("does not match its checksum (damaged, edited, or another line's "
                          "file)")
    audio_format, channels, rate, _, _, bits = _FMT.unpack(fmt[:_FMT.size])
    if (audio_format, channels, bits) != (1, 1, 16) or rate <= 0:
        raise DamagedClip("its format is damaged")
    return Clip.of_pcm(np.frombuffer(data, dtype="<i2"), rate)


def read(path: Path) -> Clip:
    """The checked clip at `path` (FileNotFoundError if there is none, DamagedClip if it is
    damaged or unreadable)."""
    try:
        raw = read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise DamagedClip(f"cannot be read ({error.strerror or error})") from error
    return decode(raw, path.name)


def write(path: Path, clip: Clip) -> None:
    """Write the clip under its name (its key), atomically (see write_atomically)."""
    write_atomically(path, encode(clip, path.name))


def remove_stale(directory: Path, keep: set[str], now: float | None = None,
                 days: float = STALE_DAYS) -> list[str]:
    """Remove the clips not in `keep` (file names) that were not used for `days`, and the
    temporary files of a writer that died, so the cache stays bounded; return their names.

    Clips of another recent voice or output (say `ebbtide render` at 48 kHz beside the
    speaker's 44.1 kHz) are kept for a while, so the two do not undo each other's work.
    """
    now = time.time() if now is None else now
    removed = []
    for path in directory.iterdir():
        if path.name in keep or not (path.suffix == ".wav" or path.name.endswith(".tmp")):
            continue
        with contextlib.suppress(OSError):
            age = now - path.stat().st_mtime
            if age > (_TMP_STALE_S if path.suffix == ".tmp" else days * 86400):
                path.unlink()
                removed.append(path.name)
    return removed
