"""Lines recorded in a loved one's own voice: read, checked, cleaned and saved as WAV files.

A household records them with `ebbtide record` (or brings its own WAV files), one per line,
named after the line's id. Each file is checked before it replaces the synthetic voice: a
silent, clipped or far too long recording would be worse than the voice it replaces, so it is
refused with a message that says what to do. Only numpy and the standard library are used.
"""

from __future__ import annotations

import errno
import io
import math
import os
import struct
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.clip import Clip
from audio.loudness import normalised
from audio.regular_file import NotRegular, read_regular
from device.core.errors import EbbtideError
from device.core.text import minutes_text

SAVE_RATE = 48000  # what `save_recording` writes; the voice maker resamples to the output's rate
# The longest file read as a line's recording: twice the longest take `ebbtide record` makes
# (60 s), room enough for a file brought from elsewhere with silence around the words. The
# raw samples are held in memory while they are checked (about 32 bytes a sample at the
# peak), so this bounds the voice maker's memory to about 190 MB for the longest mono file at
# 48 kHz; a 10-minute file (936 MB) is refused from its header, before its samples are read.
MAX_RECORDING_S = 120.0
# ... and its size: 120 s of 48 kHz stereo 24-bit is 35 MB; anything larger is not one line.
MAX_RECORDING_BYTES = 40 << 20

# Trimming works on the level of 10 ms frames, relative to the recording's own noise floor.
_FRAME_S = 0.01
_FLOOR_DB = -120.0  # digital silence, for arithmetic: far under any converter's own noise
_NOISE_PERCENTILE = 10  # the quietest tenth of a recording is its room noise
_SOUND_OVER_NOISE_DB = 8.0  # a frame this far over the noise floor is sound
_SOUND_UNDER_PEAK_DB = 50.0  # ... or this close to the loudest frame, over digital silence
_EDGE_OVER_NOISE_DB = 3.0  # from the first sound, a soft onset is followed back to here
_ONSET_REACH_S = 0.2  # ... but no further back than this
_DECAY_REACH_S = 0.3  # likewise after the last sound, for the voice's decay and the room's echo
_LEAD_S = 0.01  # kept before the onset
_TAIL_S = 0.05  # kept after the decay
_FADE_S = 0.005  # so the cut through the room noise is not a click
_JOIN_GAP_S = 0.25  # sounds closer than this are one stretch of speech
_CLICK_S = 0.06  # a stretch this short, apart from the rest, is a click (a key, the mouse)
_MIN_SOUND_S = 0.15  # less sound than this holds no words
# A take whose last this-long is all sound, near the voice's own level, ends mid-speech: a
# finished line ends in its decay and the room's quiet. (Longer than a key's click.)
_CUT_OFF_S = 0.1
_CUT_OFF_UNDER_PEAK_DB = 25.0

# Refusals.
_SILENT_DB = -50.0  # loudest 10 ms under this: nothing (or next to nothing) was heard
_MIN_VOICE_OVER_NOISE_DB = 16.0  # a voice is this far over its room noise, at least
_FULL_SCALE = 0.999  # a sample this close to full scale is at the converter's limit
# More than one sample in a thousand at full scale is clipping, not one loud peak: speech levelled
# to a 0 dBFS peak has under 0.01% there, and speech overdriven by 2-3 dB has 0.1-1%.
_CLIPPED_SHARE = 0.001

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_SAVE_AS = "save it as a 16-bit PCM WAV (most recording apps can export one) and try again"


class RecordingError(EbbtideError):
    """A recording that cannot be used; the message says what is wrong and what to do."""


def load_recording(path: Path, max_seconds: float | None = None) -> Clip:
    """The recording at `path`, cleaned (see `clean`), or RecordingError saying why not.

    Reads 8-, 16-, 24- or 32-bit integer PCM WAV files at any rate; stereo is averaged to mono.
    `max_seconds` is the most its place in a session allows, after trimming. Only a regular
    file is read (a symlink only to a file in the same folder), never blocking, and at most
    MAX_RECORDING_S long.
    """
    return recording_clip(read_recording(Path(path)), max_seconds)


def recording_clip(data: bytes, max_seconds: float | None = None) -> Clip:
    """A recording file's bytes (from `read_recording`) as `load_recording` gives them."""
    frames, rate = _parse_wav(bytearray(data))
    return _checked(frames, rate, max_seconds)


def usable(clip: Clip, max_seconds: float | None = None) -> Clip:
    """A fresh take, cleaned, or RecordingError saying why it cannot be used.

    The same checks as `load_recording`, so a take that is kept will also be spoken.
    """
    return _checked(clip.samples.astype(np.float64)[:, np.newaxis], clip.rate, max_seconds)


def clean(clip: Clip) -> Clip:
    """The clip without DC offset and without the silence before and after the words.

    The silence is found relative to the recording's own noise floor, so a quiet room and a
    noisy one are trimmed alike, and a lone click at either end (the key that started or
    stopped the recording) is left out. A few ms are kept before the first sound and a short
    tail after the last, so no soft onset or fading word is cut. All quiet: an empty clip.
    """
    x = clip.samples.astype(np.float64)
    return _trimmed(x - x.mean() if len(x) else x, clip.rate)


def save_recording(path: Path, clip: Clip) -> None:
    """Write a take to `path`: cleaned, levelled, 48 kHz 16-bit mono, readable by its owner only.

    A take that `load_recording` would refuse raises RecordingError and writes nothing. The
    file is replaced atomically (a crash leaves the old take or the new one, never half a file),
    and a missing folder is made private (0700): this is a person's voice.
    """
    path = Path(path)
    cleaned = usable(clip).resampled(SAVE_RATE)
    levelled = Clip(normalised(cleaned.samples, SAVE_RATE), SAVE_RATE)
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
    # mkstemp makes the file 0600, whatever the umask.
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(levelled.to_wav_bytes())
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading --


def _parse_wav(data: bytearray) -> tuple[np.ndarray, int]:
    """Samples as float64 in -1..1, shape (frames, channels), and the rate."""
    tag, bits = _wav_format(data)
    _check_length(data)
    if tag == _WAVE_FORMAT_IEEE_FLOAT:
        raise RecordingError(f"it is a {bits}-bit floating-point WAV, which Ebbtide does not "
                             f"read; {_SAVE_AS}")
    if tag != _WAVE_FORMAT_PCM:
        raise RecordingError(f"it is a compressed WAV (format {tag:#06x}), which Ebbtide does "
                             f"not read; {_SAVE_AS}")
    try:
        with wave.open(_as_plain_pcm(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, struct.error) as error:
        raise RecordingError(f"it is not a WAV file that can be read ({error}); "
                             f"{_SAVE_AS}") from None
    if channels < 1 or rate < 1 or width not in (1, 2, 3, 4):
        raise RecordingError(f"its WAV header is damaged ({channels} channels, {rate} Hz, "
                             f"{8 * width}-bit); {_SAVE_AS}")
    samples = _decode(raw[: len(raw) - len(raw) % (width * channels)], width)
    return samples.reshape(-1, channels), rate


def read_recording(path: Path) -> bytes:
    """A recording file's bytes, or RecordingError saying why not: a regular file, or a
    symlink to one inside the same folder (a household may link takes), read without
    blocking and up to MAX_RECORDING_BYTES. A FIFO, a device or a link out of the folder is
    refused at once."""
    try:
        try:
            return read_regular(path, MAX_RECORDING_BYTES)
        except NotRegular as refusal:
            if refusal.errno != errno.ELOOP:
                raise
            folder = path.parent.resolve()
            target = path.resolve()
            if not target.is_relative_to(folder):
                raise RecordingError(f"it is a link to {target}, outside its folder; put the "
                                     "recording itself in the folder") from None
            return read_regular(target, MAX_RECORDING_BYTES)
    except NotRegular as refusal:
        if refusal.errno == errno.EFBIG:
            raise RecordingError(f"{refusal.strerror}: far too long for one line (at most "
                                 f"{MAX_RECORDING_S:.0f} seconds). Please record the line "
                                 "again more briefly, or trim it") from None
        raise RecordingError(f"{refusal.strerror}, so it is not read; put a WAV file "
                             "there") from None
    except (OSError, RuntimeError) as error:  # RuntimeError: a loop of links
        why = error.strerror if isinstance(error, OSError) else "a loop of links"
        raise RecordingError(f"it cannot be read ({why or error})") from None


def _check_length(data: bytearray) -> None:
    """Refuse a recording longer than MAX_RECORDING_S from its header, before its samples
    are decoded (what takes the memory)."""
    fmt = data_size = None
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = struct.unpack_from("<4sI", data, offset)
        if chunk == b"fmt " and size >= 16 and offset + 24 <= len(data):
            fmt = struct.unpack_from("<HHIIHH", data, offset + 8)
        elif chunk == b"data":
            data_size = min(size, len(data) - offset - 8)
            break
        offset += 8 + size + (size & 1)
    if fmt is None or data_size is None:
        return  # the wave module says what is missing
    _, channels, rate, _, _, bits = fmt
    frame_bytes = channels * max(1, bits // 8)
    if rate <= 0 or frame_bytes <= 0:
        return
    seconds = data_size / frame_bytes / rate
    if seconds > MAX_RECORDING_S:
        raise RecordingError(f"it is {minutes_text(seconds)} long, far too long for one line (a "
                             f"recording may be at most {MAX_RECORDING_S:.0f} seconds). Please "
                             "record the line again more briefly, or trim it")


def _wav_format(data: bytearray) -> tuple[int, int]:
    """The format tag (the real one inside WAVE_FORMAT_EXTENSIBLE) and bits per sample.

    The standard library's wave module says only "unknown format: 3" for a float file; this
    tells a person which kind of file they have.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RecordingError(f"it is not a WAV file; {_SAVE_AS}")
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = struct.unpack_from("<4sI", data, offset)
        body = offset + 8
        if chunk == b"fmt ":
            if size < 16 or body + 16 > len(data):
                break
            tag, bits = struct.unpack_from("<H", data, body)[0], struct.unpack_from(
                "<H", data, body + 14)[0]
            if tag == _WAVE_FORMAT_EXTENSIBLE and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack_from("<H", data, body + 24)[0]  # the sub-format GUID
            return tag, bits
        offset = body + size + (size & 1)
    raise RecordingError(f"it is not a complete WAV file (its format is missing); {_SAVE_AS}")


def _as_plain_pcm(data: bytearray) -> io.BytesIO:
    """The file as a stream the wave module reads: WAVE_FORMAT_EXTENSIBLE (what most editors
    write for 24-bit) is relabelled plain PCM, which is what it holds."""
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = struct.unpack_from("<4sI", data, offset)
        if chunk == b"fmt ":
            if struct.unpack_from("<H", data, offset + 8)[0] == _WAVE_FORMAT_EXTENSIBLE:
                struct.pack_into("<H", data, offset + 8, _WAVE_FORMAT_PCM)
            break
        offset += 8 + size + (size & 1)
    return io.BytesIO(bytes(data))


def _decode(raw: bytes, width: int) -> np.ndarray:
    """Little-endian PCM of 1 to 4 bytes a sample as float64 in -1..1 (8-bit is unsigned)."""
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 3:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        return values.astype(np.float64) / float(1 << 23)
    kind = "<i2" if width == 2 else "<i4"
    return np.frombuffer(raw, dtype=kind).astype(np.float64) / float(1 << (8 * width - 1))


# -- checking and trimming --


@dataclass(frozen=True)
class _Sound:
    """Where the words are in a recording, and how they stand out from the room."""

    start: int  # first sample kept
    stop: int  # one past the last sample kept
    sound_s: float  # seconds of frames over the threshold
    peak_db: float  # the loudest 10 ms, dBFS
    noise_db: float  # the room's level, dBFS
    cut_off: bool = False  # sound right up to the last frames: it ends mid-speech


def _checked(frames: np.ndarray, rate: int, max_seconds: float | None) -> Clip:
    """Refuse what would sound wrong in a session; otherwise the cleaned clip."""
    if len(frames) == 0:
        raise RecordingError("it is empty: there is no sound in it. Please record the line "
                             "again")
    mono = frames.mean(axis=1)
    mono = mono - mono.mean()
    sound = _find_sound(mono, rate)
    if sound.peak_db < _SILENT_DB:
        raise RecordingError("it is silent, or so quiet that no voice can be heard. Check that "
                             "the microphone is plugged in, switched on and not muted, then "
                             "record the line again")
    if sound.peak_db - sound.noise_db < _MIN_VOICE_OVER_NOISE_DB or sound.stop <= sound.start:
        raise RecordingError("it holds only background noise, with no clear voice. Please "
                             "record the line again somewhere quiet, speaking a little closer "
                             "to the microphone")
    if sound.sound_s < _MIN_SOUND_S:
        raise RecordingError("it is too short to hold the words (only a click or a breath was "
                             "heard). Please record the line again, stopping only after you "
                             "have finished speaking")
    if sound.cut_off:
        raise RecordingError("it ends mid-speech: the voice is still going at its very end, "
                             "so the last words are cut off. Please record the line again, "
                             "stopping a moment after you have finished speaking")
    span = frames[sound.start : sound.stop]
    at_limit = np.count_nonzero(np.abs(span).max(axis=1) >= _FULL_SCALE)
    if at_limit > _CLIPPED_SHARE * len(span):
        share = 100.0 * at_limit / len(span)
        raise RecordingError(f"it is clipped: the voice was too loud for the microphone "
                             f"({share:.1f}% of it is at full scale), which sounds harsh. "
                             "Please record it again a little further from the microphone, or "
                             "with its level turned down")
    clip = _faded(mono[sound.start : sound.stop], rate)
    if max_seconds is not None and clip.seconds > max_seconds:
        raise RecordingError(f"it is {clip.seconds:.1f} seconds long (without the silence "
                             f"around it), and this line has room for at most "
                             f"{max_seconds:.1f} seconds. Please record it again a little "
                             "more briefly")
    return clip


def _trimmed(x: np.ndarray, rate: int) -> Clip:
    sound = _find_sound(x, rate)
    if sound.stop <= sound.start or sound.peak_db - sound.noise_db < _SOUND_OVER_NOISE_DB:
        return Clip(np.zeros(0, dtype=np.int16), rate)
    return _faded(x[sound.start : sound.stop], rate)


def _faded(x: np.ndarray, rate: int) -> Clip:
    return Clip(x, rate).faded(_FADE_S)


def _frame_levels(x: np.ndarray, frame: int) -> np.ndarray:
    """RMS of each frame in dBFS, at least _FLOOR_DB; the last frame may be short."""
    n = math.ceil(len(x) / frame)
    padded = np.zeros(n * frame)
    padded[: len(x)] = x
    power = (padded.reshape(n, frame) ** 2).sum(axis=1)
    counts = np.full(n, frame, dtype=np.float64)
    counts[-1] = len(x) - (n - 1) * frame
    floor = 10.0 ** (_FLOOR_DB / 10.0)
    return 10.0 * np.log10(np.maximum(power / counts, floor))


def _find_sound(x: np.ndarray, rate: int) -> _Sound:
    """Where the words start and stop, with the margins to keep around them."""
    if len(x) == 0:
        return _Sound(0, 0, 0.0, _FLOOR_DB, _FLOOR_DB)
    frame = max(1, round(_FRAME_S * rate))
    levels = _frame_levels(x, frame)
    peak = float(levels.max())
    # The room's level: the quietest tenth of the frames, or the ends if they are quieter (a
    # recording cleaned before has little silence left, and only at its ends). Digital silence
    # at an end (a stream's first block) says nothing about the room.
    noise = float(np.percentile(levels, _NOISE_PERCENTILE))
    ends = np.concatenate((levels[:2], levels[-2:]))
    ends = ends[ends > _FLOOR_DB]
    if len(ends):
        noise = min(noise, float(ends.min()))
    threshold = max(noise + _SOUND_OVER_NOISE_DB, peak - _SOUND_UNDER_PEAK_DB)
    loud = _without_clicks(levels >= threshold, frame / rate)
    if not loud.any():
        return _Sound(0, 0, 0.0, peak, noise)
    first, last = int(np.argmax(loud)), len(loud) - 1 - int(np.argmax(loud[::-1]))
    edge = noise + _EDGE_OVER_NOISE_DB
    reach_back = round(_ONSET_REACH_S / _FRAME_S)
    while first > 0 and reach_back > 0 and levels[first - 1] > edge:
        first, reach_back = first - 1, reach_back - 1
    reach_on = round(_DECAY_REACH_S / _FRAME_S)
    while last < len(levels) - 1 and reach_on > 0 and levels[last + 1] > edge:
        last, reach_on = last + 1, reach_on - 1
    start = max(0, first * frame - round(_LEAD_S * rate))
    stop = min(len(x), (last + 1) * frame + round(_TAIL_S * rate))
    end = max(1, round(_CUT_OFF_S / _FRAME_S))
    cut_off = bool(len(loud) > end and loud[-end:].all()
                   and float(np.median(levels[-end:])) >= peak - _CUT_OFF_UNDER_PEAK_DB)
    return _Sound(start, stop, float(loud.sum()) * frame / rate, peak, noise, cut_off)


def _without_clicks(loud: np.ndarray, frame_s: float) -> np.ndarray:
    """Loud frames without a short burst at either end that stands apart from the rest."""
    loud = loud.copy()
    join = round(_JOIN_GAP_S / frame_s)
    click = round(_CLICK_S / frame_s)
    # Stretches of sound: runs of loud frames, joined across gaps shorter than `join`.
    indices = np.flatnonzero(loud)
    if len(indices) == 0:
        return loud
    breaks = np.flatnonzero(np.diff(indices) > join)
    starts = np.concatenate(([indices[0]], indices[breaks + 1]))
    stops = np.concatenate((indices[breaks], [indices[-1]])) + 1
    stretches = list(zip(starts.tolist(), stops.tolist(), strict=True))
    while len(stretches) > 1 and stretches[0][1] - stretches[0][0] <= click:
        begin, end = stretches.pop(0)
        loud[begin:end] = False
    while len(stretches) > 1 and stretches[-1][1] - stretches[-1][0] <= click:
        begin, end = stretches.pop()
        loud[begin:end] = False
    return loud
