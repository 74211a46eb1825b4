"""`ebbtide breath record --seconds N --out FILE.csv`: the configured breath sensor recorded
to a CSV file (`t_s,ax,ay,az`: seconds from the first sample, acceleration in g), with the
breathing rate over the last 30 s shown once a second. `ebbtide check` reads the sensor with
the same pieces (`sensor_report`).

The file appears whole or not at all (device/files/atomic_file.py). Ctrl-C ends the
recording early and keeps what was recorded; so does a sensor that stops answering (said in
one line). A recording with no sample at all leaves the file that was there as it was.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from device.commands import exit_codes
from device.core.config import SENSOR_KINDS, Config
from device.core.errors import EbbtideError
from device.files.atomic_file import atomic_file
from device.files.config_file import load_config
from device.sensing.breaths import MIN_SECONDS, WINDOW_S, current_rate
from device.service.wiring import sensor_for
from hardware.i2c_bus import BusOpener, SensorError, open_i2c_bus
from hardware.motion_chips import Sample
from hardware.motion_reader import Clock, MotionReader

HEADER = ("t_s", "ax", "ay", "az")
MAX_SECONDS = 6 * 3600  # what `breath analyze` reads at most (64 MB of CSV)
LOOK_S = 0.2  # how often the recording takes the reader's new samples
CHECK_SECONDS = max(10.0, MIN_SECONDS)  # `ebbtide check`'s reading: long enough for a rate


class NoSensor(EbbtideError):
    """[sensor] kind is "none"."""


class NoSamples(SensorError):
    """The sensor opened, but gave nothing before it stopped."""


def no_sensor(config: Config) -> NoSensor:
    where = str(config.source) if config.source else "your config file"
    *others, last = (f'"{kind}"' for kind in SENSOR_KINDS[1:])
    kinds = f"{', '.join(others)} or {last}"
    return NoSensor(f"no breath sensor is configured: set [sensor] kind to one of {kinds} in "
                    f"{where} "
                    "(config.example.toml shows the keys; the README's \"Sensing the breath\" "
                    "the wiring)")


def open_reader(config: Config, *, open_bus: BusOpener = open_i2c_bus,
                clock: Clock | None = None, after_failure: str) -> MotionReader:
    """A reader of the configured sensor, not yet started; NoSensor, or a SensorError in one
    line (the bus off, the i2c group, no chip, another chip)."""
    chip = sensor_for(config, open_bus)
    if chip is None:
        raise no_sensor(config)
    return MotionReader(chip, config.sensor.rate_hz, clock=clock, after_failure=after_failure)


@dataclass
class Recorded:
    """The samples taken so far: times from the first sample, acceleration in g."""

    t_s: list[float] = field(default_factory=list)
    accel_g: list[tuple[float, float, float]] = field(default_factory=list)
    first: float | None = None

    def add(self, samples: list[Sample]) -> None:
        for sample in samples:
            if self.first is None:
                self.first = sample.t
            self.t_s.append(sample.t - self.first)
            self.accel_g.append((sample.ax, sample.ay, sample.az))

    @property
    def seconds(self) -> float:
        return self.t_s[-1] if self.t_s else 0.0

    def rate_at(self, count: int) -> float | None:
        """The breathing rate over the 30 s before sample `count` (None: none readable)."""
        first = bisect.bisect_left(self.t_s, self.t_s[count - 1] - WINDOW_S, 0, count)
        return current_rate(np.asarray(self.t_s[first:count]),
                            np.asarray(self.accel_g[first:count]))


class Follow:
    """Hands a reader's new samples to `take` until `seconds` of them are read."""

    def __init__(self, reader: MotionReader, seconds: float,
                 take: Callable[[list[Sample]], None]) -> None:
        self.reader, self.seconds, self.take = reader, seconds, take
        self.number = 0  # the reader's next sample
        self.first: float | None = None

    def look(self) -> str | None:
        """Take what is new: "done" once `seconds` are read, "failed" if the reader has
        ended before, else None."""
        running = self.reader.running
        samples, self.number = self.reader.since(self.number)
        if samples:
            self.first = samples[0].t if self.first is None else self.first
            if samples[-1].t - self.first >= self.seconds:
                self.take([s for s in samples if s.t - self.first <= self.seconds])
                return "done"
            self.take(samples)
        return None if running else "failed"

    def run(self, look_s: float = LOOK_S,
            pause: Callable[[float], object] | None = None) -> str:
        """Look every `look_s` s until done or failed (the caller starts and stops the
        reader)."""
        pause = pause or threading.Event().wait
        while (ended := self.look()) is None:
            pause(look_s)
        return ended


def rate_words(rate: float | None, seconds: float) -> str:
    if rate is not None:
        return f"breathing {rate:.1f} a minute"
    if seconds < MIN_SECONDS:
        return f"no rate yet (the first needs {MIN_SECONDS:.0f} s)"
    return "no rate: still, moving, or no breathing seen"


class LiveRate:
    """The rate shown once a second of samples: redrawn in place on a terminal, a line every
    ten seconds elsewhere (a log, a pipe)."""

    def __init__(self, recorded: Recorded, out: IO[str], live: bool | None = None) -> None:
        self.recorded = recorded
        self.out = out
        self.live = out.isatty() if live is None else live
        self.shown = 0  # whole seconds shown so far
        self.count = 0

    def __call__(self, samples: list[Sample]) -> None:
        """Take new samples; show each whole second they complete."""
        for _ in samples:
            self.count += 1
            second = int(self.recorded.t_s[self.count - 1])
            if second > self.shown:
                self.shown = second
                if self.live or second % 10 == 0:
                    rate = self.recorded.rate_at(self.count)
                    line = f"{second:5d} s  {rate_words(rate, second)}"
                    self.out.write(f"\r{line:<60}" if self.live else line + "\n")
                    self.out.flush()

    def done(self) -> None:
        if self.live:
            self.out.write("\n")


def write_rows(writer: Callable[[list[str]], object], recorded: Recorded, start: int) -> int:
    """The rows from sample `start` on; the number of the next."""
    for t, (ax, ay, az) in zip(recorded.t_s[start:], recorded.accel_g[start:], strict=True):
        writer([f"{t:.4f}", f"{ax:.6f}", f"{ay:.6f}", f"{az:.6f}"])
    return len(recorded.t_s)


def record_to(out: Path, reader: MotionReader, seconds: float, *, show: IO[str],
              live: bool | None = None, look_s: float = LOOK_S,
              pause: Callable[[float], object] | None = None) -> tuple[Recorded, str]:
    """Record `reader` (started here, stopped before returning) into `out`: (what was
    recorded, "done", "failed" or "interrupted")."""
    try:
        return _record_to(out, reader, seconds, show, live, look_s, pause)
    finally:
        reader.stop()  # closes the chip, also when the file could not even be begun


def _record_to(out: Path, reader: MotionReader, seconds: float, show: IO[str],
               live: bool | None, look_s: float,
               pause: Callable[[float], object] | None) -> tuple[Recorded, str]:
    recorded = Recorded()
    display = LiveRate(recorded, show, live)
    with atomic_file(out, text=True) as file:
        rows = csv.writer(file, lineterminator="\n")
        rows.writerow(HEADER)
        written = 0

        def take(samples: list[Sample]) -> None:
            nonlocal written
            recorded.add(samples)
            display(samples)
            written = write_rows(rows.writerow, recorded, written)

        follow = Follow(reader, seconds, take)
        reader.start()
        try:
            ended = follow.run(look_s, pause)
        except KeyboardInterrupt:
            ended = "interrupted"
        finally:
            reader.stop()
        if ended == "interrupted":
            follow.look()  # what came between the last look and Ctrl-C
        display.done()
        if not recorded.t_s:
            raise reader.failure or NoSamples("the breath sensor gave no sample")
    return recorded, ended


def record(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = Path(args.out)
    reader = open_reader(config, after_failure="the recording ends there")
    print(f"recording {reader.chip.describe()} for {args.seconds:g} s into {out} "
          "(Ctrl-C ends it early and keeps what was recorded)")
    recorded, ended = record_to(out, reader, args.seconds, show=sys.stdout)
    kept = f"{len(recorded.t_s)} samples, {recorded.seconds:.1f} s, in {out}"
    if ended == "failed":
        print(f"the sensor stopped answering: kept {kept}")
        return exit_codes.FAILED
    print(f"recorded {kept}" + (" (ended early by Ctrl-C)" if ended == "interrupted" else ""))
    return exit_codes.OK


def seconds_to_record(text: str) -> float:
    """--seconds: 1 to 6 hours' worth, for argparse."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 1 <= seconds <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 1 to "
                                         f"{MAX_SECONDS}")
    return seconds


def sensor_report(config: Config, *, open_bus: BusOpener = open_i2c_bus,
                  clock: Clock | None = None, look_s: float = LOOK_S,
                  pause: Callable[[float], object] | None = None,
                  announce: Callable[[str], object] | None = None) -> str:
    """`ebbtide check`'s line about the breath sensor: none configured; why it cannot be read;
    or a reading of CHECK_SECONDS with the rate, if someone is breathing on it."""
    if config.sensor.kind == "none":
        return ('sensor: none configured ([sensor] kind = "none"): sessions are paced without '
                "sensing the breath")
    try:
        reader = open_reader(config, open_bus=open_bus, clock=clock,
                             after_failure="the check ends there")
    except SensorError as error:
        return f"sensor: warning: {error}; sessions run without sensing the breath"
    if announce:
        announce(f"sensor: reading the {reader.chip.describe()} for {CHECK_SECONDS:g} s: rest "
                 "it on your belly and breathe as you are")
    recorded = Recorded()
    reader.start()
    try:
        ended = Follow(reader, CHECK_SECONDS, recorded.add).run(look_s, pause)
    finally:
        reader.stop()
    name = reader.chip.describe()
    if ended == "failed":
        return (f"sensor: warning: {name} stopped answering after {recorded.seconds:.1f} s; "
                "sessions run without sensing the breath if it does so again: check its cable")
    rate = recorded.rate_at(len(recorded.t_s)) if recorded.t_s else None
    per_second = (len(recorded.t_s) - 1) / recorded.seconds if recorded.seconds else 0.0
    return (f"sensor: {name}: {len(recorded.t_s)} samples in {recorded.seconds:.0f} s "
            f"({per_second:.0f} a second); {rate_words(rate, recorded.seconds)}")
