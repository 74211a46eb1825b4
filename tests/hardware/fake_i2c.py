"""A fake I2C bus at the register level, with fake chips that behave as the datasheets say.

Each chip has its id register and its power-on register values, records every configuration
write, and serves its data registers from a waveform (g, and °/s, as functions of the time on
a clock the test controls) in its own byte order and at the scale its configuration chose,
only once configured (asleep or powered down, the data registers read 0). So the drivers'
scaling, sign, axis order and configuration are tested as the hardware presents them.

The bus has smbus2.SMBus's methods that the drivers use, and raises what the kernel raises:
OSError 121 (Remote I/O error) where no chip answers, or once a chip is unplugged.
"""

from __future__ import annotations

import errno
import math
import struct
from collections.abc import Callable
from typing import ClassVar

Vector = tuple[float, float, float]
Waveform = Callable[[float], Vector]


def still(t: float) -> Vector:
    """Lying flat: gravity along +z."""
    return (0.0, 0.0, 1.0)


def no_rotation(t: float) -> Vector:
    return (0.0, 0.0, 0.0)


def remote_io_error() -> OSError:
    return OSError(errno.EREMOTEIO, "Remote I/O error")


class FakeChip:
    """A register file: ids and power-on values, writes recorded, data made on reading."""

    id_register: int
    chip_id: int
    power_on: ClassVar[dict[int, int]] = {}

    def __init__(self, accel: Waveform = still, gyro: Waveform = no_rotation,
                 now: Callable[[], float] = lambda: 0.0, chip_id: int | None = None) -> None:
        self.accel, self.gyro, self.now = accel, gyro, now
        self.registers: dict[int, int] = dict(self.power_on)
        self.registers[self.id_register] = self.chip_id if chip_id is None else chip_id
        self.writes: list[tuple[int, int]] = []
        self.block_reads = 0
        self.unplugged_at = math.inf  # from this time on (on `now`), nothing answers

    def answers(self) -> bool:
        return self.now() < self.unplugged_at

    def write(self, register: int, value: int) -> None:
        assert 0 <= value <= 0xFF, f"a byte, not {value}"
        self.writes.append((register, value))
        self.registers[register] = value

    def read(self, register: int) -> int:
        return self.registers.get(register, 0)

    def read_block(self, register: int, length: int) -> list[int]:
        """`length` registers from `register` on (or `register` again and again, where the
        chip's address increment is off), the data registers as they read now."""
        self.block_reads += 1
        data = self.data()
        step = 1 if self.increments() else 0
        return [data.get(register + i * step, self.read(register + i * step))
                for i in range(length)]

    def increments(self) -> bool:
        return True

    def data(self) -> dict[int, int]:
        """The data registers as they read now (empty: not sampling)."""
        raise NotImplementedError


def _counts(values: Vector, per_unit: float) -> tuple[int, int, int]:
    """Values as the ADC's 16-bit two's complement counts (saturating, as the chips do)."""
    return tuple(max(-32768, min(32767, round(v * per_unit))) for v in values)  # type: ignore[return-value]


class FakeST(FakeChip):
    """ST's LSM6DS family (LSM6DS3TR-C, LSM6DSOX): little-endian, from OUTX_L_G (22h) for the
    gyroscope and OUTX_L_XL / OUTX_L_A (28h) for the accelerometer."""

    id_register = 0x0F
    # CTRL1_XL, CTRL2_G: power-down; CTRL3_C: IF_INC
    power_on: ClassVar[dict[int, int]] = {0x10: 0x00, 0x11: 0x00, 0x12: 0x04}
    # CTRL1_XL FS_XL (bits 3:2) -> mg per LSB; CTRL2_G FS_G (bits 3:2) -> mdps per LSB
    MG_PER_LSB: ClassVar[dict[int, float]] = {0b00: 0.061, 0b10: 0.122, 0b11: 0.244, 0b01: 0.488}
    MDPS_PER_LSB: ClassVar[dict[int, float]] = {0b00: 8.75, 0b01: 17.5, 0b10: 35.0, 0b11: 70.0}

    def increments(self) -> bool:
        return bool(self.registers[0x12] & 0x04)  # CTRL3_C IF_INC

    def data(self) -> dict[int, int]:
        out: dict[int, int] = {}
        ctrl1, ctrl2 = self.registers[0x10], self.registers[0x11]
        t = self.now()
        if ctrl2 >> 4:  # ODR_G not power-down
            lsb = self.MDPS_PER_LSB[(ctrl2 >> 2) & 3] / 1000
            out |= dict(enumerate(struct.pack("<3h", *_counts(self.gyro(t), 1 / lsb)), 0x22))
        if ctrl1 >> 4:  # ODR_XL not power-down
            lsb = self.MG_PER_LSB[(ctrl1 >> 2) & 3] / 1000
            out |= dict(enumerate(struct.pack("<3h", *_counts(self.accel(t), 1 / lsb)), 0x28))
        return out


class FakeLSM6DS3TRC(FakeST):
    chip_id = 0x6A


class FakeLSM6DSOX(FakeST):
    chip_id = 0x6C


class FakeMPU6050(FakeChip):
    """InvenSense's MPU-6050: big-endian from ACCEL_XOUT_H (3Bh), temperature, then the
    gyroscope from GYRO_XOUT_H (43h); it powers on asleep (PWR_MGMT_1 = 40h)."""

    id_register = 0x75
    chip_id = 0x68
    power_on: ClassVar[dict[int, int]] = {0x6B: 0x40, 0x19: 0, 0x1A: 0, 0x1B: 0, 0x1C: 0}
    TEMPERATURE_C = 25.0

    def data(self) -> dict[int, int]:
        if self.registers[0x6B] & 0x40:  # SLEEP
            return {}
        t = self.now()
        per_g = 16384 >> ((self.registers[0x1C] >> 3) & 3)  # ACCEL_CONFIG AFS_SEL
        per_dps = 131.0 / (1 << ((self.registers[0x1B] >> 3) & 3))  # GYRO_CONFIG FS_SEL
        temperature = round((self.TEMPERATURE_C - 36.53) * 340)
        raw = struct.pack(">7h", *_counts(self.accel(t), per_g), temperature,
                          *_counts(self.gyro(t), per_dps))
        return dict(enumerate(raw, 0x3B))


class FakeI2CBus:
    """smbus2.SMBus's methods the drivers use, over the chips at their addresses."""

    def __init__(self, chips: dict[int, FakeChip] | None = None) -> None:
        self.chips = chips or {}
        self.closed = False

    def _chip(self, address: int) -> FakeChip:
        assert not self.closed, "the bus was used after close()"
        chip = self.chips.get(address)
        if chip is None or not chip.answers():
            raise remote_io_error()
        return chip

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        return self._chip(i2c_addr).read(register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        self._chip(i2c_addr).write(register, value)

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        assert length <= 32, "SMBus block reads are at most 32 bytes"
        return self._chip(i2c_addr).read_block(register, length)

    def close(self) -> None:
        self.closed = True


class SteppingClock:
    """A reader's clock whose waits pass at once: time jumps to each deadline. It stops the
    reader (sets its wake) at `until`, so a reader's run() returns there."""

    def __init__(self, until: float = math.inf) -> None:
        self.t = 0.0
        self.until = until
        self.waits = 0

    def now(self) -> float:
        return self.t

    def wait_until(self, deadline: float, wake) -> None:
        self.waits += 1
        if deadline >= self.until:
            self.t = max(self.t, self.until)
            wake.set()
            return
        self.t = max(self.t, deadline)
