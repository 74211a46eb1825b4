"""`ebbtide breath`: the breath sensor's commands. `analyze FILE.csv [--json OUT]` reads a
recording of the sensor (`t_s,ax,ay,az`, seconds and g) and says what it holds: the median
rate, the breaths found and the share of the time the breath could be read. `record` makes
such a recording from the configured sensor (device/commands/breath_record.py).

Each subcommand is one entry in ACTIONS (and its parser in device/cli.py).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audio.regular_file import NotRegular, read_regular
from device.commands import exit_codes
from device.core.errors import EbbtideError
from device.files.atomic_file import atomic_file
from device.sensing.breaths import MIN_SECONDS, WINDOW_S, BreathReading, read_breaths

HEADER = ("t_s", "ax", "ay", "az")
MAX_CSV_BYTES = 64 * 2**20  # about 6 hours at 50 Hz; a recording is never near it
MIN_RATE_HZ = 10.0  # the sensor records at 25-50 Hz; below 10 the breath's shape is lost


class BreathFileError(EbbtideError):
    """A recording that cannot be read; the message names the file and what is wrong."""


def read_recording(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The times (s) and accelerations (g, N x 3) of a `t_s,ax,ay,az` CSV file, or
    BreathFileError in one line naming the file and what is wrong with it."""
    where = str(path)
    try:
        raw = read_regular(path, MAX_CSV_BYTES)
    except FileNotFoundError:
        raise BreathFileError(f"{where}: no such file.") from None
    except NotRegular as error:
        raise BreathFileError(f"{where}: cannot be read as a recording: {error.strerror}.") \
            from None
    except OSError as error:
        raise BreathFileError(f"{where}: cannot be read: {(error.strerror or '').lower()}.") \
            from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BreathFileError(f"{where}: is not a CSV text file (it holds bytes that are not "
                              "text); give a recording from `ebbtide breath record`.") from None
    lines = text.splitlines()
    header = tuple(cell.strip() for cell in lines[0].split(",")) if lines else ()
    if header != HEADER:
        shown = lines[0][:60] if lines else "(the file is empty)"
        raise BreathFileError(f"{where}: its first line should be t_s,ax,ay,az, but it is "
                              f"{shown!r}.")
    rows: list[list[float]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            values = [float(cell) for cell in cells]
        except ValueError:
            values = []
        if len(values) != 4:
            raise BreathFileError(f"{where}: line {number} is not four numbers "
                                  f"(t_s,ax,ay,az): {line[:60]!r}.")
        if not all(math.isfinite(v) for v in values):
            raise BreathFileError(f"{where}: line {number} holds a number that is not "
                                  f"finite: {line[:60]!r}.")
        if rows and values[0] < rows[-1][0]:
            raise BreathFileError(f"{where}: line {number}: the time goes back, from "
                                  f"{rows[-1][0]:g} s to {values[0]:g} s.")
        rows.append(values)
    seconds = rows[-1][0] - rows[0][0] if len(rows) > 1 else 0.0
    if seconds < MIN_SECONDS:
        raise BreathFileError(f"{where}: holds only {seconds:.1f} s of samples; at least "
                              f"{MIN_SECONDS:.0f} s are needed ({WINDOW_S:.0f} s for a full "
                              "reading).")
    data = np.asarray(rows)
    rate = (len(rows) - 1) / seconds
    if rate < MIN_RATE_HZ:
        raise BreathFileError(f"{where}: holds {rate:.1f} samples a second; at least "
                              f"{MIN_RATE_HZ:.0f} are needed (the sensor records 25-50).")
    return data[:, 0], data[:, 1:]


def reading_json(reading: BreathReading) -> dict[str, object]:
    """The --json shape, exactly: windows, breaths and the median rate."""
    return {
        "windows": [{"t_s": w.t_s, "rate_bpm": w.rate_bpm, "quality": w.quality,
                     "moving": w.moving} for w in reading.windows],
        "breaths": [{"inhale_s": b.inhale_s, "exhale_s": b.exhale_s} for b in reading.breaths],
        "rate_bpm": reading.rate_bpm,
    }


def summary(path: Path, t_s: np.ndarray, reading: BreathReading) -> str:
    """What the recording holds, for a person."""
    seconds = float(t_s[-1] - t_s[0])
    windows = reading.windows
    rated = sum(w.rate_bpm is not None for w in windows)
    moving = sum(w.moving for w in windows)
    unclear = len(windows) - rated - moving
    lines = [f"{path}: {seconds:.0f} s of samples, about {(t_s.size - 1) / seconds:.0f} a "
             "second."]
    if reading.rate_bpm is None:
        lines.append("Breathing rate: none could be read (movement or an unclear signal "
                     "throughout).")
    else:
        lines.append(f"Breathing rate: {reading.rate_bpm:.1f} a minute (the median of "
                     f"{rated} reading{'s' if rated != 1 else ''}).")
    lines.append(f"Breaths found: {len(reading.breaths)}.")
    lines.append(f"Usable signal: {reading.usable_share:.0%} of the time ({len(windows)} "
                 f"window{'s' if len(windows) != 1 else ''} of {WINDOW_S:.0f} s, every 10 s: "
                 f"{rated} with a rate, {moving} with movement, {unclear} unclear).")
    return "\n".join(lines)


def analyze(args: argparse.Namespace) -> int:
    path = Path(args.file)
    t_s, accel_g = read_recording(path)
    reading = read_breaths(t_s, accel_g)
    print(summary(path, t_s, reading))
    if args.json:
        with atomic_file(Path(args.json), text=True) as out:
            out.write(json.dumps(reading_json(reading), indent=1) + "\n")
    return exit_codes.OK


def record(args: argparse.Namespace) -> int:
    from device.commands.breath_record import record as record_sensor  # loads the hardware

    return record_sensor(args)


ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {"analyze": analyze,
                                                           "record": record}


def cmd_breath(args: argparse.Namespace) -> int:
    return ACTIONS[args.breath_command](args)
