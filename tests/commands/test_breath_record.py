"""`ebbtide breath record` and `ebbtide check`'s sensor line, on the fake I2C bus
(tests/hardware/fake_i2c.py) with a stepping clock: nothing sleeps, and the breathing on the
puck is known."""

from __future__ import annotations

import io
import logging
import math
import os
import re
import threading
from pathlib import Path

import pytest

from device.cli import main
from device.commands.breath import read_recording
from device.commands.breath_record import (
    CHECK_SECONDS,
    open_reader,
    record_to,
    sensor_report,
)
from device.core.config_schema import parse
from device.core.errors import EbbtideError
from device.sensing.breaths import read_breaths
from hardware.motion_reader import ChipStopped
from tests.hardware.fake_i2c import FakeI2CBus, FakeLSM6DSOX, FakeMPU6050, SteppingClock
from tests.polling import wait_until

BREATHS_PER_MINUTE = 12.0


def rate_in(line: str) -> float:
    """The rate a line shows ("... breathing 11.9 a minute")."""
    found = re.search(r"breathing (\d+\.\d) a minute$", line.rstrip())
    assert found, line
    return float(found.group(1))


def breathing(t: float) -> tuple[float, float, float]:
    """A belly rising and falling 12 times a minute under a puck resting on it, tilted."""
    rise = 0.004 * math.sin(2 * math.pi * BREATHS_PER_MINUTE / 60 * t)
    return (0.25 + rise, -0.1 + 0.3 * rise, 0.96 - 0.5 * rise)


def puck(fake, clock, kind: str = "lsm6dsox", address: int = 0x6A, **sensor):
    """A reader of `fake` on a fake bus, on `clock` (at 50 a second unless `sensor` says)."""
    fake.now = clock.now
    config = parse({"sensor": {"kind": kind, "rate_hz": 50, **sensor}})
    bus = FakeI2CBus({address: fake})
    return open_reader(config, open_bus=lambda n: bus, clock=clock, after_failure="the "
                       "recording ends there"), bus


def test_a_recording_is_the_waveform_in_g_from_time_zero(tmp_path):
    reader, bus = puck(FakeLSM6DSOX(accel=breathing), SteppingClock(until=40.0))
    out = tmp_path / "breath.csv"
    shown = io.StringIO()
    _, ended = record_to(out, reader, 30, show=shown, live=False, look_s=0.001)
    assert ended == "done"
    lines = out.read_text().splitlines()
    assert lines[0] == "t_s,ax,ay,az"
    assert lines[1] == "0.0000,0.249978,-0.099979,0.960018", "g, to the count: 4098 x 0.061 mg"
    assert len(lines) == 1 + 1501
    t_s, accel = read_recording(out)  # what `breath analyze` reads
    assert t_s[-1] == pytest.approx(30.0)
    assert accel[125] == pytest.approx(breathing(t_s[125]), abs=1e-4)
    assert read_breaths(t_s, accel).rate_bpm == pytest.approx(BREATHS_PER_MINUTE, abs=0.5)
    lines = shown.getvalue().splitlines()
    assert lines[0] == "   10 s  no rate yet (the first needs 15 s)"
    assert [line[:16] for line in lines[1:]] == ["   20 s  breathi", "   30 s  breathi"]
    assert [rate_in(line) for line in lines[1:]] == pytest.approx([12, 12], abs=0.25)
    assert bus.closed


def test_on_a_terminal_the_rate_is_redrawn_every_second(tmp_path):
    reader, _ = puck(FakeMPU6050(accel=breathing), SteppingClock(until=20.0), "mpu6050", 0x68,
                     rate_hz=25)
    shown = io.StringIO()
    record_to(tmp_path / "b.csv", reader, 18, show=shown, live=True, look_s=0.001)
    redraws = shown.getvalue().split("\r")[1:]
    assert len(redraws) == 18
    assert redraws[0].startswith("    1 s  no rate yet")
    assert redraws[-1].startswith("   18 s  breathing ")
    assert rate_in(redraws[-1]) == pytest.approx(BREATHS_PER_MINUTE, abs=0.25)


class HeldAt:
    """A reader's clock that steps to `at`, then waits (really) until the reader is stopped:
    a person breathing on the puck until Ctrl-C."""

    def __init__(self, at: float) -> None:
        self.t, self.at = 0.0, at

    def now(self) -> float:
        return self.t

    def wait_until(self, deadline, wake) -> None:
        if deadline >= self.at:
            wake.wait(10)
            return
        self.t = max(self.t, deadline)


def test_ctrl_c_keeps_what_was_recorded(tmp_path):
    reader, _ = puck(FakeLSM6DSOX(accel=breathing), HeldAt(5.0))

    def ctrl_c_once_five_seconds_are_read(seconds):
        wait_until(lambda: reader.count >= 250, 10, "five seconds of samples")
        raise KeyboardInterrupt

    out = tmp_path / "early.csv"
    _, ended = record_to(out, reader, 600, show=io.StringIO(), live=False,
                                pause=ctrl_c_once_five_seconds_are_read)
    assert ended == "interrupted"
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 250 and lines[-1].startswith("4.9800,")
    assert not reader.running


def test_a_sensor_that_stops_answering_ends_the_recording_keeping_it(tmp_path, caplog):
    fake = FakeLSM6DSOX(accel=breathing)
    reader, _ = puck(fake, SteppingClock())
    fake.unplugged_at = 3.0
    out = tmp_path / "cut.csv"
    with caplog.at_level(logging.INFO, logger="ebbtide"):
        _, ended = record_to(out, reader, 60, show=io.StringIO(), live=False,
                                    look_s=0.001)
    assert ended == "failed"
    assert len(out.read_text().splitlines()) == 1 + 150
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].endswith("stopped answering after 3.0 s (remote i/o "
                                               "error); the recording ends there: check its "
                                               "cable")


def test_a_recording_with_no_sample_leaves_the_file_that_was_there(tmp_path):
    fake = FakeLSM6DSOX(accel=breathing)
    reader, _ = puck(fake, SteppingClock())
    fake.unplugged_at = 0.0
    out = tmp_path / "kept.csv"
    out.write_text("t_s,ax,ay,az\n0,0,0,1\n")
    with pytest.raises(ChipStopped):
        record_to(out, reader, 60, show=io.StringIO(), live=False, look_s=0.001)
    assert out.read_text() == "t_s,ax,ay,az\n0,0,0,1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.csv"], "no temporary file left"


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_record_with_no_sensor_configured_says_how_to_set_one(tmp_path, capsys):
    path = config_file(tmp_path, "[voice]\nenabled = false\n")
    code = main(["breath", "record", "--seconds", "5", "--out", str(tmp_path / "x.csv"),
                 "--config", str(path)])
    assert code == 1
    assert capsys.readouterr().err == (
        'ebbtide: no breath sensor is configured: set [sensor] kind to one of "lsm6ds3trc", '
        f'"lsm6dsox" or "mpu6050" in {path} (config.example.toml shows the keys; the README\'s '
        '"Sensing the breath" the wiring)\n')
    assert not (tmp_path / "x.csv").exists()


def test_record_on_a_bus_that_is_off_says_how_to_switch_it_on(tmp_path, capsys):
    bus = next(n for n in range(1, 256) if not os.path.exists(f"/dev/i2c-{n}"))
    path = config_file(tmp_path, f'[sensor]\nkind = "mpu6050"\nbus = {bus}\n')
    code = main(["breath", "record", "--seconds", "5", "--out", str(tmp_path / "x.csv"),
                 "--config", str(path)])
    assert code == 1
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith(
        f"ebbtide: the I2C bus /dev/i2c-{bus} does not exist: switch I2C on with `sudo "
        "raspi-config nonint do_i2c 0`")


@pytest.mark.parametrize("seconds", ["0", "-3", "nan", "ten", "21601"])
def test_record_refuses_a_length_it_cannot_record(seconds, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["breath", "record", "--seconds", seconds, "--out", str(tmp_path / "x.csv")])
    assert exited.value.code == 2
    assert "is not a number of seconds from 1 to 21600" in capsys.readouterr().err


def test_check_says_when_no_sensor_is_configured():
    assert sensor_report(parse({})) == (
        'sensor: none configured ([sensor] kind = "none"): sessions are paced without sensing '
        "the breath")


def test_check_reads_the_breathing_on_the_puck():
    clock = SteppingClock(until=CHECK_SECONDS + 1)
    fake = FakeLSM6DSOX(accel=breathing, now=clock.now)
    config = parse({"sensor": {"kind": "lsm6dsox"}})
    heard: list[str] = []
    line = sensor_report(config, open_bus=lambda n: FakeI2CBus({0x6A: fake}), clock=clock,
                         look_s=0.001, announce=heard.append)
    assert line.startswith(f"sensor: LSM6DSOX at 0x6a on /dev/i2c-1: "
                           f"{int(CHECK_SECONDS * 25) + 1} samples in {CHECK_SECONDS:.0f} s "
                           "(25 a second); breathing ")
    assert rate_in(line) == pytest.approx(BREATHS_PER_MINUTE, abs=0.25)
    assert heard == [f"sensor: reading the LSM6DSOX at 0x6a on /dev/i2c-1 for "
                     f"{CHECK_SECONDS:g} s: rest it on your belly and breathe as you are"]


def test_check_on_a_still_puck_gives_no_rate():
    clock = SteppingClock(until=CHECK_SECONDS + 1)
    fake = FakeMPU6050(now=clock.now)  # lying flat, no one breathing on it
    config = parse({"sensor": {"kind": "mpu6050"}})
    line = sensor_report(config, open_bus=lambda n: FakeI2CBus({0x68: fake}), clock=clock,
                         look_s=0.001)
    assert line.startswith("sensor: MPU-6050 at 0x68 on /dev/i2c-1: ")
    assert line.endswith("; no rate: still, moving, or no breathing seen")


def test_check_names_a_chip_that_is_not_there():
    config = parse({"sensor": {"kind": "lsm6ds3trc", "address": 0x6B}})
    line = sensor_report(config, open_bus=lambda n: FakeI2CBus({0x6A: FakeLSM6DSOX()}))
    assert line.startswith("sensor: warning: no chip answers at address 0x6b on /dev/i2c-1")
    assert line.endswith("; sessions run without sensing the breath")


def test_a_check_never_leaves_the_sensor_being_read():
    before = threading.active_count()
    clock = SteppingClock(until=CHECK_SECONDS + 1)
    fake = FakeLSM6DSOX(accel=breathing, now=clock.now)
    bus = FakeI2CBus({0x6A: fake})
    sensor_report(parse({"sensor": {"kind": "lsm6dsox"}}), open_bus=lambda n: bus,
                  clock=clock, look_s=0.001)
    assert bus.closed and threading.active_count() == before
    assert fake.registers[0x10] >> 4 == 0, "powered down"


def test_a_file_that_cannot_be_begun_leaves_the_sensor_closed(tmp_path):
    reader, bus = puck(FakeLSM6DSOX(accel=breathing), SteppingClock(until=5.0))
    with pytest.raises(EbbtideError, match="it is a folder"):
        record_to(tmp_path, reader, 5, show=io.StringIO(), live=False, look_s=0.001)
    assert bus.closed and not reader.running
