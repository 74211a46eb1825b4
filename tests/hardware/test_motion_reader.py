"""The breath sensor's reader: samples on absolute deadlines into a ring buffer, a user that
never waits for the bus, and a chip that stops answering said once. Its clock is a stepping
one (tests/hardware/fake_i2c.py): time jumps to each deadline, nothing sleeps."""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np
import pytest

from hardware.motion_chips import open_motion_chip
from hardware.motion_reader import ChipStopped, MotionReader
from tests.hardware.fake_i2c import FakeI2CBus, FakeLSM6DSOX, FakeMPU6050, SteppingClock
from tests.polling import wait_until


def breathing(t: float) -> tuple[float, float, float]:
    """A belly rising and falling 12 times a minute under a puck tilted a little."""
    rise = 0.01 * math.sin(2 * math.pi * 0.2 * t)
    return (0.1 + rise, -0.2 + 0.5 * rise, 0.97 - 0.3 * rise)


def reader_on(fake, clock: SteppingClock, kind: str = "lsm6dsox", address: int = 0x6A,
              rate_hz: float = 50.0, **options) -> tuple[MotionReader, FakeI2CBus]:
    fake.now = clock.now
    bus = FakeI2CBus({address: fake})
    chip = open_motion_chip(kind, 1, address, rate_hz=rate_hz, open_bus=lambda n: bus)
    return MotionReader(chip, rate_hz, clock=clock, **options), bus


@pytest.mark.parametrize(("kind", "fake_class", "address"),
                         [("lsm6dsox", FakeLSM6DSOX, 0x6A), ("mpu6050", FakeMPU6050, 0x68)])
def test_samples_come_on_the_deadlines_with_the_chips_values(kind, fake_class, address):
    clock = SteppingClock(until=10.0)
    reader, bus = reader_on(fake_class(accel=breathing), clock, kind, address)
    reader.run()
    t, accel = reader.latest()
    assert reader.count == len(t) == 500
    assert t == pytest.approx(np.arange(500) / 50, abs=1e-9), "absolute deadlines: no drift"
    truth = np.array([breathing(ti) for ti in t])
    assert np.abs(accel - truth).max() < 1e-4
    assert bus.closed, "the reader closes the chip when it ends"


def test_the_latest_seconds_are_the_newest_samples():
    clock = SteppingClock(until=20.0)
    reader, _ = reader_on(FakeLSM6DSOX(accel=breathing), clock, rate_hz=25)
    reader.run()
    t, accel = reader.latest(5.0)
    assert accel.shape == (len(t), 3)
    assert t[0] == pytest.approx(t[-1] - 5.0) and t[-1] == pytest.approx(19.96)


def test_the_buffer_keeps_only_the_last_seconds_asked_for():
    clock = SteppingClock(until=30.0)
    reader, _ = reader_on(FakeLSM6DSOX(accel=breathing), clock, keep_s=10.0)
    reader.run()
    t, _ = reader.latest()
    assert reader.count == 1500
    assert len(t) == 500 and t[0] == pytest.approx(20.0)
    assert reader.span == pytest.approx((0.0, 29.98)), "the whole reading, beyond the buffer"
    assert np.all(np.diff(t) > 0), "oldest first, across the ring's seam"


def test_a_user_asking_for_what_is_new_misses_none_and_sees_none_twice():
    clock = SteppingClock(until=math.inf)
    reader, _ = reader_on(FakeLSM6DSOX(accel=breathing), clock, keep_s=2.0)
    seen: list[float] = []
    number = 0
    stops = iter([1.3, 2.9, 4.7, 6.0])

    def wait_until_next_look(deadline, wake):  # the user looks every so often
        nonlocal number
        if deadline >= clock.until:
            samples, number = reader.since(number)
            seen.extend(s.t for s in samples)
            clock.until = next(stops, math.inf)
            if clock.until == math.inf:
                wake.set()
                return
        clock.t = max(clock.t, deadline)

    clock.until = next(stops)
    clock.wait_until = wait_until_next_look
    reader.run()
    assert seen == pytest.approx([k / 50 for k in range(300)])


def test_the_gyroscope_is_kept_when_it_is_read():
    clock = SteppingClock(until=1.0)
    fake = FakeMPU6050(accel=breathing, gyro=lambda t: (1.0, -2.0, 0.5))
    fake.now = clock.now
    bus = FakeI2CBus({0x68: fake})
    chip = open_motion_chip("mpu6050", 1, None, gyro=True, open_bus=lambda n: bus)
    reader = MotionReader(chip, 50, clock=clock)
    reader.run()
    samples, _ = reader.since(0)
    assert samples[-1].gyro == pytest.approx((1.0, -2.0, 0.5), abs=0.01)
    assert (samples[-1].ax, samples[-1].az) == pytest.approx(breathing(samples[-1].t)[::2],
                                                              abs=1e-3)


def test_a_reader_held_up_skips_the_deadlines_it_missed_and_stays_on_its_beat():
    clock = SteppingClock(until=4.0)
    real_wait = clock.wait_until
    held = {"done": False}

    def wait_once_held_up(deadline, wake):
        real_wait(deadline, wake)
        if clock.t >= 1.0 and not held["done"]:
            held["done"] = True
            clock.t += 0.5  # the Pi was busy for half a second
    clock.wait_until = wait_once_held_up
    reader, _ = reader_on(FakeLSM6DSOX(accel=breathing), clock)
    reader.run()
    t, _ = reader.latest()
    assert reader.late == 24
    assert np.all(np.isclose((t * 50) % 1, 0, atol=1e-6) | np.isclose((t * 50) % 1, 1,
                                                                       atol=1e-6)), \
        "after the hold-up the samples are back on the 20 ms grid"
    assert len(t) == 200 - 24


def test_a_chip_that_stops_answering_is_said_once_and_the_thread_ends(caplog):
    clock = SteppingClock()  # no end: only the chip's failure stops the reader
    fake = FakeLSM6DSOX(accel=breathing)
    reader, bus = reader_on(fake, clock)
    fake.unplugged_at = 2.0
    with caplog.at_level(logging.INFO, logger="ebbtide"):
        reader.start()
        wait_until(lambda: not reader.running, 10, "the reader's thread ending")
    assert [r.getMessage() for r in caplog.records] == [
        "the breath sensor (LSM6DSOX at 0x6a on /dev/i2c-1) stopped answering after 2.0 s "
        "(remote i/o error); the session goes on without it: check its cable"]
    assert isinstance(reader.failure, ChipStopped)
    t, _ = reader.latest()
    assert len(t) == 100 and t[-1] < 2.0, "what was read before is kept"
    assert bus.closed
    reader.stop()  # the user's stop afterwards is harmless, and quick


def test_the_user_never_waits_for_the_bus():
    """While a transfer hangs (a stuck bus), a look at the samples returns at once."""
    clock = SteppingClock()
    fake = FakeLSM6DSOX(accel=breathing)
    reader, _ = reader_on(fake, clock)
    inside, release = threading.Event(), threading.Event()
    read_block = fake.read_block

    def hanging_read(register, length):
        if clock.t >= 1.0:
            inside.set()
            release.wait(10)
        return read_block(register, length)

    fake.read_block = hanging_read
    reader.start()
    try:
        assert inside.wait(10)
        t, _ = reader.latest()
        assert len(t) == 50 and reader.count == 50
    finally:
        release.set()
        reader.stop()
    assert not reader.running


def test_stop_ends_the_thread_at_once_on_the_real_clock():
    fake = FakeLSM6DSOX(accel=breathing)
    bus = FakeI2CBus({0x6A: fake})
    reader = MotionReader(open_motion_chip("lsm6dsox", 1, open_bus=lambda n: bus), 25)
    reader.start()
    wait_until(lambda: reader.count > 0, 10, "a first sample")
    began = time.monotonic()
    reader.stop()
    assert not reader.running and bus.closed
    assert time.monotonic() - began < 0.5, "stop() does not wait out the 40 ms between reads"
