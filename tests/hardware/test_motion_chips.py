"""The breath sensor's chips on a fake bus at the register level (tests/hardware/fake_i2c.py):
each part identified, configured, and read in its own byte order and scale, so a swapped
axis, a lost sign or a wrong sensitivity shows as a wrong number of g."""

from __future__ import annotations

import pytest

from device.core.config import SENSOR_ADDRESSES
from hardware.i2c_bus import NoChip
from hardware.motion_chips import CHIPS, MotionChip, WrongChip, open_motion_chip
from tests.hardware.fake_i2c import (
    FakeChip,
    FakeI2CBus,
    FakeLSM6DS3TRC,
    FakeLSM6DSOX,
    FakeMPU6050,
    remote_io_error,
)

PARTS = [("lsm6ds3trc", FakeLSM6DS3TRC, 0x6A), ("lsm6dsox", FakeLSM6DSOX, 0x6A),
         ("mpu6050", FakeMPU6050, 0x68)]
# One count of each part's ADC at ±2 g, in g: what a reading may differ from the truth by.
COUNT_G = {"lsm6ds3trc": 0.061e-3, "lsm6dsox": 0.061e-3, "mpu6050": 1 / 16384}
COUNT_DPS = {"lsm6ds3trc": 8.75e-3, "lsm6dsox": 8.75e-3, "mpu6050": 1 / 131}
# Each axis different, of both signs, with high and low bytes that differ: a swapped axis,
# a swapped byte order or a lost sign each read far off.
TILTED = (0.3, -0.7, 0.65)
TURNING = (12.5, -40.0, 3.3)


def chip_on_bus(kind: str, fake: FakeChip, address: int, **options) -> MotionChip:
    return open_motion_chip(kind, 1, address, open_bus=lambda n: FakeI2CBus({address: fake}),
                            **options)


@pytest.mark.parametrize(("kind", "fake_class", "address"), PARTS)
@pytest.mark.parametrize("gyro", [False, True])
def test_each_part_reads_g_along_its_own_axes(kind, fake_class, address, gyro):
    fake = fake_class(accel=lambda t: TILTED, gyro=lambda t: TURNING)
    chip = chip_on_bus(kind, fake, address, gyro=gyro)
    reading = chip.read()
    assert reading is not None
    assert reading.accel == pytest.approx(TILTED, abs=COUNT_G[kind] / 2 + 1e-12)
    if gyro:
        assert reading.gyro == pytest.approx(TURNING, abs=COUNT_DPS[kind] / 2 + 1e-12)
    else:
        assert reading.gyro is None
    assert fake.block_reads == 1, "one block read per sample"


@pytest.mark.parametrize(("kind", "fake_class", "address"), PARTS)
def test_readings_follow_the_waveform_through_time(kind, fake_class, address):
    clock = {"t": 0.0}
    fake = fake_class(accel=lambda t: (0.01 * t, -1.0 + 0.02 * t, 1.5 - t),
                      now=lambda: clock["t"])
    chip = chip_on_bus(kind, fake, address)
    for t in (0.0, 0.5, 1.0, 2.5):
        clock["t"] = t
        reading = chip.read()
        assert reading is not None
        assert reading.accel == pytest.approx((0.01 * t, -1.0 + 0.02 * t, 1.5 - t),
                                              abs=COUNT_G[kind])


@pytest.mark.parametrize(("kind", "fake_class", "address"), PARTS)
def test_the_full_range_is_two_g_each_way(kind, fake_class, address):
    fake = fake_class(accel=lambda t: (1.99, -1.99, -0.001))
    reading = chip_on_bus(kind, fake, address).read()
    assert reading is not None
    assert reading.accel == pytest.approx((1.99, -1.99, -0.001), abs=COUNT_G[kind])


@pytest.mark.parametrize("kind", ["lsm6ds3trc", "lsm6dsox"])
@pytest.mark.parametrize(("rate_hz", "odr_hz"), [(25, 52), (26, 52), (40, 104), (50, 104)])
def test_an_st_chip_samples_at_least_twice_as_fast_as_it_is_read(kind, rate_hz, odr_hz):
    fake = FakeLSM6DSOX() if kind == "lsm6dsox" else FakeLSM6DS3TRC()
    chip_on_bus(kind, fake, 0x6A, rate_hz=rate_hz)
    ctrl1_xl = fake.registers[0x10]
    odr = {0b0011: 52, 0b0100: 104}[ctrl1_xl >> 4]
    assert odr == odr_hz
    assert (ctrl1_xl >> 2) & 3 == 0b00, "FS_XL: ±2 g"
    assert fake.registers[0x12] & 0x40, "CTRL3_C BDU: no sample mixed from two"
    assert fake.registers[0x11] == 0, "the gyroscope stays powered down unless asked for"
    assert [register for register, _ in fake.writes] == [0x12, 0x10, 0x11]


@pytest.mark.parametrize("rate_hz", [25, 33, 50])
def test_the_mpu6050_wakes_and_samples_at_least_twice_as_fast_as_it_is_read(rate_hz):
    fake = FakeMPU6050()
    assert fake.registers[0x6B] & 0x40, "it powers on asleep"
    chip_on_bus("mpu6050", fake, 0x68, rate_hz=rate_hz)
    assert not fake.registers[0x6B] & 0x40, "PWR_MGMT_1 SLEEP cleared"
    assert fake.registers[0x1A] & 7 == 5, "DLPF_CFG 5: 10 Hz, so the internal rate is 1 kHz"
    sample_rate = 1000 / (1 + fake.registers[0x19])
    assert 2 * rate_hz <= sample_rate <= 4 * rate_hz
    assert fake.registers[0x1C] == 0, "AFS_SEL 0: ±2 g"


def test_an_st_block_read_needs_the_address_to_step():
    """With CTRL3_C IF_INC off, a block read would give X's low byte six times: the driver
    sets it (it is on at power-on, but a chip left configured by another program may not be)."""
    fake = FakeLSM6DSOX(accel=lambda t: TILTED)
    fake.registers[0x12] = 0x00
    reading = chip_on_bus("lsm6dsox", fake, 0x6A).read()
    assert reading is not None and reading.accel == pytest.approx(TILTED, abs=1e-4)


@pytest.mark.parametrize(("kind", "fake_class", "address"), PARTS)
def test_the_other_address_is_read_when_configured(kind, fake_class, address):
    other = address + 1
    chip = chip_on_bus(kind, fake_class(accel=lambda t: TILTED), other)
    assert chip.address == other
    assert chip.describe().endswith(f"at {other:#04x} on /dev/i2c-1")


def test_a_chip_with_no_sample_yet_gives_no_reading():
    """Just woken, the data registers still read 0 on every axis: that is no sample, not a
    weightless one."""
    reading = chip_on_bus("mpu6050", FakeMPU6050(accel=lambda t: (0.0, 0.0, 0.0)), 0x68).read()
    assert reading is None


def test_an_lsm6dsox_where_an_lsm6ds3trc_is_configured_is_named():
    bus = FakeI2CBus({0x6A: FakeLSM6DSOX()})
    with pytest.raises(WrongChip) as raised:
        open_motion_chip("lsm6ds3trc", 1, None, open_bus=lambda n: bus)
    message = str(raised.value)
    assert message == (
        "the chip at 0x6a on /dev/i2c-1 is not an LSM6DS3TR-C: its WHO_AM_I register (0x0f) "
        "reads 0x6c, the id of an LSM6DSOX or LSM6DSO (an LSM6DS3TR-C's reads 0x6a); set "
        '[sensor] kind = "lsm6dsox"')
    assert bus.closed
    assert bus.chips[0x6A].writes == [], "nothing is written to a chip that is not the part"


def test_an_unknown_chip_id_is_shown_as_found():
    bus = FakeI2CBus({0x68: FakeMPU6050(chip_id=0x72)})
    with pytest.raises(WrongChip, match=r"is not an MPU-6050: its WHO_AM_I register \(0x75\) "
                                        r"reads 0x72 \(an MPU-6050's reads 0x68\); check "
                                        r"\[sensor\] kind and address$"):
        open_motion_chip("mpu6050", 1, None, open_bus=lambda n: bus)


@pytest.mark.parametrize(("kind", "address"), [("lsm6dsox", 0x6A), ("mpu6050", 0x68)])
def test_no_chip_at_the_address_says_how_to_look(kind, address):
    bus = FakeI2CBus({})
    with pytest.raises(NoChip) as raised:
        open_motion_chip(kind, 1, None, open_bus=lambda n: bus)
    message = str(raised.value)
    assert message.startswith(f"no chip answers at address {address:#04x} on /dev/i2c-1")
    assert "SDA to GPIO2 (pin 3), SCL to GPIO3 (pin 5)" in message
    assert "`i2cdetect -y 1`" in message and "\n" not in message
    assert bus.closed


def test_closing_puts_the_chip_to_sleep_and_lets_the_bus_go():
    st, mpu = FakeLSM6DSOX(), FakeMPU6050()
    buses = {"lsm6dsox": FakeI2CBus({0x6A: st}), "mpu6050": FakeI2CBus({0x68: mpu})}
    for kind, bus in buses.items():
        open_motion_chip(kind, 1, None, open_bus=lambda n, bus=bus: bus).close()
        assert bus.closed
    assert st.registers[0x10] >> 4 == 0 and st.registers[0x11] >> 4 == 0, "power-down"
    assert mpu.registers[0x6B] & 0x40, "asleep"


def test_closing_a_chip_that_stopped_answering_still_lets_the_bus_go():
    fake = FakeLSM6DSOX()
    bus = FakeI2CBus({0x6A: fake})
    chip = open_motion_chip("lsm6dsox", 1, None, open_bus=lambda n: bus)
    fake.unplugged_at = 0.0
    with pytest.raises(OSError) as raised:
        chip.read()
    assert raised.value.errno == remote_io_error().errno
    chip.close()
    assert bus.closed


def test_the_config_and_the_drivers_agree_on_parts_and_addresses():
    assert {kind: chip.ADDRESSES for kind, chip in CHIPS.items()} == dict(SENSOR_ADDRESSES)
