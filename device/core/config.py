"""The configuration model: frozen dataclasses, one per [section] of config.toml, and the
safety bounds every value is checked against.

Every key has a built-in default, so an empty file (or none at all) is valid. Checking a
parsed TOML document against these bounds is device/core/config_schema.py's job; finding
and reading the file is device/files/config_file.py's.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from device.core.patterns import BUILT_IN, BreathPattern

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


@dataclass(frozen=True)
class BreathingConfig:
    pattern: str = "paced-exhale"
    minutes: float = 4.0
    start_rate: float = 8.0
    target_rate: float = 6.0


MIN_BRIGHTNESS = 0.2  # below this a Pi's PWM has too few steps left to look like breathing


LIGHT_BACKENDS = ("auto", "gpiozero", "sysfs")


@dataclass(frozen=True)
class LightConfig:
    pin: int = 18
    max_brightness: float = 0.8
    backend: str = "auto"  # sysfs: kernel hardware PWM; gpiozero: lgpio's software PWM
    kind: str = "single"  # or "rgb": pins, common, color and night_color
    pins: tuple[int, int, int] = (18, 23, 24)  # red, green, blue
    common: str = "cathode"
    color: str = "#ffc890"  # a warm white
    night_color: str = "#ff7e00"  # amber, with no blue: the eyes stay dark-adapted

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
    pin: int = 17
    hold_seconds: float = 2.0


@dataclass(frozen=True)
class VoiceConfig:
    enabled: bool = True  # false: a silent session, light (and chime, breath) only
    rate: int = 140
    volume: float = 0.9
    voice: str = ""
    script: str = ""
    engine: str = "auto"
    model: str = ""
    recordings: str = ""


@dataclass(frozen=True)
class AudioConfig:
    device: str | int = ""
    volume: float = 0.8
    chime: bool = True
    # A soft tide that swells with each breath in and ebbs with each breath out, so the
    # session can be followed with eyes shut. Off by default only in a silent session.
    tide: bool = True

    @property
    def output(self) -> str | int | None:
        """The device to open: None for the system default."""
        return None if self.device == "" else self.device


@dataclass(frozen=True)
class NightConfig:
    """Quiet hours (local time): from `start` to `end`, sound and light are turned down."""

    start: str = "21:00"
    end: str = "07:00"
    volume_scale: float = 0.6
    brightness_scale: float = 0.5

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


# The parts a session can have, in their usual order. `close` is always last: the light
# fades off there.
ALL_PARTS = ("arrive", "breathe", "feel", "ground", "body", "aftercare", "partner", "close")
DEFAULT_PARTS = ("arrive", "breathe", "feel", "ground", "body", "aftercare", "close")


@dataclass(frozen=True)
class SessionConfig:
    """Which parts a session has, in order ([session] parts)."""

    parts: tuple[str, ...] = DEFAULT_PARTS


@dataclass(frozen=True)
class HapticConfig:
    """A vibration motor: none unless `pin` is set."""

    pin: int | None = None
    strength: float = 0.7  # the duty of a full touch
    start_duty: float = 0.35  # below this duty the motor does not turn


@dataclass(frozen=True)
class HistoryConfig:
    enabled: bool = True
    # `ebbtide history` ends with one gentle line pointing to help (the card, the README)
    # when the device's sessions come often: 3 or more in the last 7 nights.
    help_note: bool = True


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


class ConfigError(Exception):
    """One or more problems in a config file, each a complete sentence for a person."""

    def __init__(self, problems: list[str], usable: Config | None = None) -> None:
        """`usable`: the config with the voice model left out, when that is all that is wrong
        (the appliance then speaks with espeak-ng rather than with none of the settings)."""
        # A value may hold a line break ("a\nb" in TOML); each problem stays one line.
        problems = [p.replace("\r", "\\r").replace("\n", "\\n") for p in problems]
        super().__init__("\n".join(problems))
        self.problems = problems
        self.usable = usable


def clock_time(text: str) -> datetime.time:
    """An "HH:MM" text (already checked) as a time of day."""
    hours, _, minutes = text.partition(":")
    return datetime.time(int(hours), int(minutes))
