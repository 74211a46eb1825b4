"""The breath sensor's chips: ST's LSM6DS3TR-C and LSM6DSOX, and InvenSense's MPU-6050.

Each is identified by its id register, set to its ±2 g range at an output rate at least twice
the reading's, and read as one block of data registers per sample, scaled to g with the
datasheet's sensitivity. The register names below are the datasheets' (ST: the LSM6DS3TR-C
and LSM6DSOX datasheets; InvenSense: "MPU-6000 and MPU-6050 Register Map and Descriptions").

| | LSM6DS3TR-C / LSM6DSOX | MPU-6050 |
| --- | --- | --- |
| id | WHO_AM_I (0Fh) = 6Ah / 6Ch | WHO_AM_I (75h) = 68h |
| address | 6Ah (SDO/SA0 low), 6Bh (high) | 68h (AD0 low), 69h (high) |
| ±2 g | CTRL1_XL (10h) FS_XL = 00 | ACCEL_CONFIG (1Ch) AFS_SEL = 0 |
| sensitivity | 0.061 mg/LSB | 16384 LSB/g |
| data | OUTX_L_XL / OUTX_L_A (28h): X Y Z, low byte first | ACCEL_XOUT_H (3Bh): high first |
| noise density | 90 / 70 µg/√Hz | 400 µg/√Hz |

Both families' data are 16-bit two's complement. The gyroscope is optional (`gyro=True`):
±250 dps, 8.75 mdps/LSB (ST, OUTX_L_G 22h, just before the accelerometer's) or 131 LSB per
°/s (MPU-6050, GYRO_XOUT_H 43h, after the temperature).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from hardware.i2c_bus import (
    BusOpener,
    I2CBus,
    SensorError,
    device_path,
    open_i2c_bus,
    transfer_failed,
)

Vector = tuple[float, float, float]

# What an id register reads on the parts people are likely to have on that bus, to name a
# wrong one: (register, value) -> part.
KNOWN_IDS: dict[tuple[int, int], str] = {
    (0x0F, 0x69): "LSM6DS3",
    (0x0F, 0x6A): "LSM6DS3TR-C or LSM6DSL",
    (0x0F, 0x6C): "LSM6DSOX or LSM6DSO",
    (0x75, 0x68): "MPU-6050",
    (0x75, 0x70): "MPU-6500",
    (0x75, 0x71): "MPU-9250",
    (0x75, 0x73): "MPU-9255",
}


class WrongChip(SensorError):
    """A chip answers at the address, but its id register says it is another part."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: `t` in seconds on the monotonic clock, acceleration in g along the chip's
    own axes, and the rotation in degrees a second if the gyroscope is read."""

    t: float
    ax: float
    ay: float
    az: float
    gyro: Vector | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What the data registers held: acceleration in g, rotation in °/s (or None)."""

    accel: Vector
    gyro: Vector | None = None


class MotionChip:
    """One chip at one address: `open()` identifies and configures it, `read()` gives the
    latest reading (None while it has none yet), `close()` powers it down and lets the bus go.

    A failed transfer in `read()` is left as the OSError the bus raised: the reader says
    what it means mid-session (device/service and hardware/motion_reader.py).
    """

    kind: ClassVar[str]  # the [sensor] kind
    part: ClassVar[str]  # the part, as printed on it
    ADDRESSES: ClassVar[tuple[int, ...]]  # the default first
    ID_REGISTER: ClassVar[int]
    ID_NAME: ClassVar[str]
    CHIP_ID: ClassVar[int]

    def __init__(self, bus: I2CBus, bus_number: int, address: int | None = None, *,
                 rate_hz: float = 50.0, gyro: bool = False) -> None:
        self.bus = bus
        self.bus_number = bus_number
        self.address = self.ADDRESSES[0] if address is None else address
        self.rate_hz = rate_hz
        self.gyro = gyro

    def describe(self) -> str:
        """"LSM6DSOX at 0x6a on /dev/i2c-1"."""
        return f"{self.part} at {self.address:#04x} on {device_path(self.bus_number)}"

    def open(self) -> None:
        """Check the id register and configure the chip; a SensorError (one line) if either
        fails."""
        try:
            found = self.bus.read_byte_data(self.address, self.ID_REGISTER)
            if found != self.CHIP_ID:
                raise self._wrong_chip(found)
            for register, value in self.configuration():
                self.bus.write_byte_data(self.address, register, value)
        except OSError as error:
            raise transfer_failed(error, self.bus_number, self.address, self.part) from None

    def _wrong_chip(self, found: int) -> WrongChip:
        name = KNOWN_IDS.get((self.ID_REGISTER, found))
        theirs = f", the id of {_a(name)}" if name else ""
        kind = next((chip.kind for chip in CHIPS.values()
                     if (self.ID_REGISTER, found) == (chip.ID_REGISTER, chip.CHIP_ID)), None)
        advice = (f'set [sensor] kind = "{kind}"' if kind
                  else "check [sensor] kind and address")
        return WrongChip(
            f"the chip at {self.address:#04x} on {device_path(self.bus_number)} is not "
            f"{_a(self.part)}: its {self.ID_NAME} register ({self.ID_REGISTER:#04x}) reads "
            f"{found:#04x}{theirs} ({_a(self.part)}'s reads {self.CHIP_ID:#04x}); {advice}")

    def configuration(self) -> list[tuple[int, int]]:
        """The register writes that set the chip up, in order: (register, value)."""
        raise NotImplementedError

    def read(self) -> Reading | None:
        raise NotImplementedError

    def power_down(self) -> list[tuple[int, int]]:
        """The register writes that put the chip to sleep."""
        raise NotImplementedError

    def close(self) -> None:
        """Put the chip to sleep (if it still answers) and close the bus."""
        try:
            for register, value in self.power_down():
                self.bus.write_byte_data(self.address, register, value)
        except OSError:
            pass  # it stopped answering: there is nothing to power down
        finally:
            self.bus.close()


def _a(name: str) -> str:
    return f"an {name}" if name[0] in "AEFHILMNORSX" else f"a {name}"


class _STChip(MotionChip):
    """ST's LSM6DS family: the same registers for the parts below."""

    ADDRESSES = (0x6A, 0x6B)
    ID_REGISTER, ID_NAME = 0x0F, "WHO_AM_I"
    CTRL1_XL, CTRL2_G, CTRL3_C = 0x10, 0x11, 0x12
    OUTX_L_G, OUTX_L_XL = 0x22, 0x28
    BDU, IF_INC = 0x40, 0x04  # CTRL3_C: block data update; addresses step in a block read
    # CTRL1_XL / CTRL2_G: ODR_XL / ODR_G in bits 7:4; FS_XL = 00 (±2 g), FS_G = 00 (250 dps).
    ODR_CODES: ClassVar[dict[float, int]] = {26.0: 0b0010, 52.0: 0b0011, 104.0: 0b0100}
    G_PER_LSB = 0.061e-3  # linear acceleration sensitivity LA_So at ±2 g
    DPS_PER_LSB = 8.75e-3  # angular rate sensitivity G_So at ±250 dps

    def output_rate(self) -> float:
        """The slowest output data rate at least twice the reading's (so each read is fresh)."""
        return min(odr for odr in self.ODR_CODES if odr >= 2 * self.rate_hz - 1e-9)

    def configuration(self) -> list[tuple[int, int]]:
        odr = self.ODR_CODES[self.output_rate()] << 4
        return [(self.CTRL3_C, self.BDU | self.IF_INC),
                (self.CTRL1_XL, odr),
                (self.CTRL2_G, odr if self.gyro else 0)]

    def read(self) -> Reading | None:
        if self.gyro:  # OUTX_L_G to OUTZ_H_XL: the gyroscope's three, then the accelerometer's
            block = self.bus.read_i2c_block_data(self.address, self.OUTX_L_G, 12)
            gx, gy, gz, ax, ay, az = struct.unpack("<6h", bytes(block))
            rotation: Vector | None = (gx * self.DPS_PER_LSB, gy * self.DPS_PER_LSB,
                                       gz * self.DPS_PER_LSB)
        else:
            block = self.bus.read_i2c_block_data(self.address, self.OUTX_L_XL, 6)
            ax, ay, az = struct.unpack("<3h", bytes(block))
            rotation = None
        if ax == ay == az == 0:  # just switched on: no sample made yet
            return None
        return Reading((ax * self.G_PER_LSB, ay * self.G_PER_LSB, az * self.G_PER_LSB),
                       rotation)

    def power_down(self) -> list[tuple[int, int]]:
        return [(self.CTRL1_XL, 0), (self.CTRL2_G, 0)]  # ODR 0000: power-down


class LSM6DS3TRC(_STChip):
    kind, part = "lsm6ds3trc", "LSM6DS3TR-C"
    CHIP_ID = 0x6A


class LSM6DSOX(_STChip):
    kind, part = "lsm6dsox", "LSM6DSOX"
    CHIP_ID = 0x6C


class MPU6050(MotionChip):
    """InvenSense's MPU-6050, which wakes up asleep (PWR_MGMT_1 SLEEP = 1)."""

    kind, part = "mpu6050", "MPU-6050"
    ADDRESSES = (0x68, 0x69)
    ID_REGISTER, ID_NAME, CHIP_ID = 0x75, "WHO_AM_I", 0x68
    SMPLRT_DIV, CONFIG, GYRO_CONFIG, ACCEL_CONFIG = 0x19, 0x1A, 0x1B, 0x1C
    ACCEL_XOUT_H, GYRO_XOUT_H, PWR_MGMT_1 = 0x3B, 0x43, 0x6B
    SLEEP = 0x40
    CLKSEL_PLL_X = 0x01  # the X gyroscope's PLL, which the datasheet recommends for stability
    # DLPF_CFG = 5: accelerometer bandwidth 10 Hz, so the internal rate is 1 kHz.
    DLPF_10_HZ, INTERNAL_RATE = 5, 1000.0
    LSB_PER_G = 16384.0  # AFS_SEL = 0 (±2 g)
    LSB_PER_DPS = 131.0  # FS_SEL = 0 (±250 °/s)

    def sample_divider(self) -> int:
        """SMPLRT_DIV: sample rate = 1 kHz / (1 + SMPLRT_DIV), at least twice the reading's."""
        return max(0, int(self.INTERNAL_RATE // (2 * self.rate_hz)) - 1)

    def configuration(self) -> list[tuple[int, int]]:
        return [(self.PWR_MGMT_1, self.CLKSEL_PLL_X),  # SLEEP = 0: awake
                (self.SMPLRT_DIV, self.sample_divider()),
                (self.CONFIG, self.DLPF_10_HZ),
                (self.GYRO_CONFIG, 0),
                (self.ACCEL_CONFIG, 0)]

    def read(self) -> Reading | None:
        rotation: Vector | None = None
        if self.gyro:  # ACCEL_XOUT_H to GYRO_ZOUT_L: accelerometer, temperature, gyroscope
            block = self.bus.read_i2c_block_data(self.address, self.ACCEL_XOUT_H, 14)
            ax, ay, az, _temperature, gx, gy, gz = struct.unpack(">7h", bytes(block))
            rotation = (gx / self.LSB_PER_DPS, gy / self.LSB_PER_DPS, gz / self.LSB_PER_DPS)
        else:
            block = self.bus.read_i2c_block_data(self.address, self.ACCEL_XOUT_H, 6)
            ax, ay, az = struct.unpack(">3h", bytes(block))
        if ax == ay == az == 0:  # just woken: no sample made yet
            return None
        return Reading((ax / self.LSB_PER_G, ay / self.LSB_PER_G, az / self.LSB_PER_G),
                       rotation)

    def power_down(self) -> list[tuple[int, int]]:
        return [(self.PWR_MGMT_1, self.SLEEP | self.CLKSEL_PLL_X)]


CHIPS: dict[str, type[MotionChip]] = {chip.kind: chip for chip in (LSM6DS3TRC, LSM6DSOX,
                                                                    MPU6050)}


def open_motion_chip(kind: str, bus: int, address: int | None = None, *,
                     rate_hz: float = 50.0, gyro: bool = False,
                     open_bus: BusOpener = open_i2c_bus) -> MotionChip:
    """The chip of [sensor] `kind` at `address` (None: the part's default) on bus number
    `bus`, identified and configured; a SensorError (one line) if it cannot be."""
    chip_class = CHIPS[kind]
    opened = open_bus(bus)
    chip = chip_class(opened, bus, address, rate_hz=rate_hz, gyro=gyro)
    try:
        chip.open()
    except BaseException:
        opened.close()
        raise
    return chip
