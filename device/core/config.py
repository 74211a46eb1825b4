"""The configuration model: frozen dataclasses, one per [section] of config.toml, and the
safety bounds every value is checked against.

Every key has a built-in default, so an empty file (or none at all) is valid, and names
beside it the checker of its values: each key is declared once, here. Checking a parsed TOML
document is device/core/config_schema.py's job; finding and reading the file is
device/files/config_file.py's.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from device.core import parts as registry
from device.core.config_values import (
    GPIO_NOTE,
    audio_device,
    boolean,
    checked_by,
    clock_time,
    hex_color,
    integer,
    number,
    one_of,
    part_names,
    plain_text,
    rgb_pins,
    time_of_day,
)
from device.core.errors import EbbtideError
from device.core.patterns import BUILT_IN, BreathPattern
from device.core.voice import ENGINES

# Safety bounds: slow, never forced breathing (a rate of 3-12 a minute, no hold past 8 s,
# an exhale never cut below 1 s), and a session that ends within the hour.
RATE_RANGE = (3.0, 12.0)
INHALE_RANGE = (1.0, 8.0)
EXHALE_RANGE = (1.0, 12.0)
HOLD_RANGE = (0.0, 8.0)
TOP_UP_RANGE = (0.0, 3.0)
SESSION_MINUTES = (1.0, 60.0)
# The parts after breathing (grounding, body, aftercare, close) take about
# five minutes, so breathing may take at most 50 for the whole to stay within 60.
BREATHING_MINUTES = (1.0, 50.0)
# A paced-exhale breath spends two thirds of its period exhaling, and the
# exhale may last at most 12 s: so its rate must be at least 40/12.
PACED_MIN_RATE = math.ceil(40.0 / EXHALE_RANGE[1] * 10) / 10

# Each key below names its checker beside its default (config_values.py): the schema that
# parse() reads a document with is derived from these fields (config_schema.py).
MINUTES, PER_MINUTE = " minutes", " breaths per minute"
GPIO = integer(0, 27, GPIO_NOTE)


@dataclass(frozen=True)
class BreathingConfig:
    pattern: str = field(default="paced-exhale", metadata=checked_by(plain_text))
    minutes: float = field(default=4.0, metadata=checked_by(number(*BREATHING_MINUTES, MINUTES)))
    start_rate: float = field(default=8.0, metadata=checked_by(number(*RATE_RANGE, PER_MINUTE)))
    target_rate: float = field(default=6.0, metadata=checked_by(number(*RATE_RANGE, PER_MINUTE)))


MIN_BRIGHTNESS = 0.2  # below this a Pi's PWM has too few steps left to look like breathing


LIGHT_BACKENDS = ("auto", "gpiozero", "sysfs")


@dataclass(frozen=True)
class LightConfig:
    pin: int = field(default=18, metadata=checked_by(GPIO))
    max_brightness: float = field(default=0.8, metadata=checked_by(number(MIN_BRIGHTNESS, 1.0)))
    # sysfs: kernel hardware PWM; gpiozero: lgpio's software PWM
    backend: str = field(default="auto", metadata=checked_by(one_of(*LIGHT_BACKENDS)))
    # or "rgb": pins, common, color and night_color
    kind: str = field(default="single", metadata=checked_by(one_of("single", "rgb")))
    # red, green, blue
    pins: tuple[int, int, int] = field(default=(18, 23, 24), metadata=checked_by(rgb_pins))
    common: str = field(default="cathode", metadata=checked_by(one_of("cathode", "anode")))
    color: str = field(default="#ffc890", metadata=checked_by(hex_color))  # a warm white
    # amber, with no blue: the eyes stay dark-adapted
    night_color: str = field(default="#ff7e00", metadata=checked_by(hex_color))

    @property
    def gpio_pins(self) -> tuple[int, ...]:
        """The pins the light uses: its one pin, or an RGB light's three (red, green, blue)."""
        return tuple(self.pins) if self.kind == "rgb" else (self.pin,)

    def describe_pins(self) -> str:
        """The light's pins in words, for a person: "GPIO18", or "red GPIO18, green GPIO23,
        blue GPIO24"."""
        if self.kind == "rgb":
            return ", ".join(f"{colour} GPIO{pin}"
                             for colour, pin in zip(("red", "green", "blue"), self.pins,
                                                    strict=False))
        return f"GPIO{self.pin}"


@dataclass(frozen=True)
class ButtonConfig:
    pin: int = field(default=17, metadata=checked_by(GPIO))
    hold_seconds: float = field(default=2.0, metadata=checked_by(number(0.5, 10.0, " seconds")))


@dataclass(frozen=True)
class VoiceConfig:
    # false: a silent session, light (and chime, breath) only
    enabled: bool = field(default=True, metadata=checked_by(boolean))
    rate: int = field(default=140, metadata=checked_by(integer(80, 250, " words per minute")))
    volume: float = field(default=0.9, metadata=checked_by(number(0.0, 1.0)))
    voice: str = field(default="", metadata=checked_by(plain_text))
    script: str = field(default="", metadata=checked_by(plain_text))
    engine: str = field(default="auto", metadata=checked_by(one_of(*ENGINES)))
    model: str = field(default="", metadata=checked_by(plain_text))
    recordings: str = field(default="", metadata=checked_by(plain_text))


@dataclass(frozen=True)
class AudioConfig:
    device: str | int = field(default="", metadata=checked_by(audio_device))
    volume: float = field(default=0.8, metadata=checked_by(number(0.0, 1.0)))
    chime: bool = field(default=True, metadata=checked_by(boolean))
    # A soft tide that swells with each breath in and ebbs with each breath out, so the
    # session can be followed with eyes shut. Off by default only in a silent session.
    tide: bool = field(default=True, metadata=checked_by(boolean))

    @property
    def output(self) -> str | int | None:
        """The device to open: None for the system default."""
        return None if self.device == "" else self.device


@dataclass(frozen=True)
class NightConfig:
    """Quiet hours (local time): from `start` to `end`, sound and light are turned down."""

    start: str = field(default="21:00", metadata=checked_by(time_of_day))
    end: str = field(default="07:00", metadata=checked_by(time_of_day))
    volume_scale: float = field(default=0.6, metadata=checked_by(number(0.0, 1.0)))
    brightness_scale: float = field(default=0.5,
                                    metadata=checked_by(number(MIN_BRIGHTNESS, 1.0)))

    def active(self, now: datetime.time) -> bool:
        """Whether `now` is within the quiet hours; they may run over midnight."""
        start, end = clock_time(self.start), clock_time(self.end)
        now = now.replace(second=0, microsecond=0, tzinfo=None)
        if start <= end:
            return start <= now < end
        return now >= start or now < end

    def scales(self, now: datetime.time) -> tuple[float, float]:
        """(volume, brightness) multipliers for a session starting at `now`."""
        return (self.volume_scale, self.brightness_scale) if self.active(now) else (1.0, 1.0)


# The parts a session can have, in their usual order, and those it has by default: the
# registry's (device/core/parts.py). `close` is always last: the light fades off there.
ALL_PARTS = registry.names()
DEFAULT_PARTS = registry.default_names()


@dataclass(frozen=True)
class SessionConfig:
    """Which parts a session has, in order ([session] parts)."""

    parts: tuple[str, ...] = field(default=DEFAULT_PARTS,
                                   metadata=checked_by(part_names(registry.names)))


@dataclass(frozen=True)
class HapticConfig:
    """A vibration motor: none unless `pin` is set."""

    pin: int | None = field(default=None, metadata=checked_by(GPIO))
    # the duty of a full touch
    strength: float = field(default=0.7, metadata=checked_by(number(0.05, 1.0)))
    # below this duty the motor does not turn
    start_duty: float = field(default=0.35, metadata=checked_by(number(0.0, 0.95)))


@dataclass(frozen=True)
class HistoryConfig:
    enabled: bool = field(default=True, metadata=checked_by(boolean))
    # `ebbtide history` ends with one gentle line pointing to help (the card, the README)
    # when the device's sessions come often: 3 or more in the last 7 nights.
    help_note: bool = field(default=True, metadata=checked_by(boolean))


# The breath sensor's parts ([sensor] kind) and the I2C addresses each can have, its default
# first: the chip's SDO/SA0 pin (ST) or AD0 pin (InvenSense) low, then high. The drivers in
# hardware/motion_chips.py declare the same (tests/hardware/test_motion_chips.py compares).
SENSOR_ADDRESSES: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "lsm6ds3trc": (0x6A, 0x6B), "lsm6dsox": (0x6A, 0x6B), "mpu6050": (0x68, 0x69)})
SENSOR_KINDS = ("none", *SENSOR_ADDRESSES)
SENSOR_RATE_HZ = (25, 50)  # breathing is under 1 Hz and movement a few: enough, and cheap


@dataclass(frozen=True)
class SensorConfig:
    """A motion sensor on I2C that feels the breath: none unless `kind` is set."""

    kind: str = field(default="none", metadata=checked_by(one_of(*SENSOR_KINDS)))
    # /dev/i2c-N: 1 is the Pi's header (GPIO2 SDA, GPIO3 SCL)
    bus: int = field(default=1, metadata=checked_by(integer(0, 255, " (/dev/i2c-N)")))
    # None: the part's default (SENSOR_ADDRESSES); checked against the part in parse()
    address: int | None = field(default=None,
                                metadata=checked_by(integer(0x03, 0x77, " (an I2C address)")))
    # 25: the breath is read on a 10 Hz grid, and each sample wakes a thread (50 Hz costs
    # twice the CPU for nothing the reading uses)
    rate_hz: int = field(default=25, metadata=checked_by(integer(*SENSOR_RATE_HZ,
                                                                 " samples a second")))

    @property
    def chip_address(self) -> int | None:
        """The address to read: the one set, else the part's default (None: no sensor)."""
        if self.kind == "none":
            return None
        return self.address if self.address is not None else SENSOR_ADDRESSES[self.kind][0]


@dataclass(frozen=True)
class Config:
    """The whole configuration; `source` is the file it came from, if any."""

    breathing: BreathingConfig = BreathingConfig()
    light: LightConfig = LightConfig()
    button: ButtonConfig = ButtonConfig()
    voice: VoiceConfig = VoiceConfig()
    audio: AudioConfig = AudioConfig()
    night: NightConfig = NightConfig()
    session: SessionConfig = SessionConfig()
    haptic: HapticConfig = HapticConfig()
    history: HistoryConfig = HistoryConfig()
    sensor: SensorConfig = SensorConfig()
    patterns: Mapping[str, BreathPattern] = field(
        default_factory=lambda: MappingProxyType({})
    )
    source: Path | None = None

    def pattern(self) -> BreathPattern:
        """The breathing pattern chosen in `[breathing] pattern`."""
        name = self.breathing.pattern
        return self.patterns.get(name) or BUILT_IN[name]


@dataclass(frozen=True)
class SessionSettings:
    """How a session starting at one time of day is shown and heard: quieter and dimmer
    (and amber, for an RGB light) in the quiet hours of [night]."""

    night: bool
    volume: float  # [audio] volume times the quiet hours' scale
    max_brightness: float
    color: str  # an RGB light's colour


def session_settings(config: Config, at: datetime.time | None) -> SessionSettings:
    """The settings of a session starting at local time `at` (None: by day)."""
    night = at is not None and config.night.active(at)
    volume, brightness = config.night.scales(at) if at is not None else (1.0, 1.0)
    return SessionSettings(night, config.audio.volume * volume,
                           max(MIN_BRIGHTNESS, config.light.max_brightness * brightness),
                           config.light.night_color if night else config.light.color)


class ConfigError(EbbtideError):
    """One or more problems in a config file, each a complete sentence for a person."""

    def __init__(self, problems: list[str], usable: Config | None = None) -> None:
        """`usable`: the config with the voice model left out, when that is all that is wrong
        (the appliance then speaks with espeak-ng rather than with none of the settings)."""
        # A value may hold a line break ("a\nb" in TOML); each problem stays one line.
        problems = [p.replace("\r", "\\r").replace("\n", "\\n") for p in problems]
        super().__init__("\n".join(problems))
        self.problems = problems
        self.usable = usable
