"""Configuration: a TOML file read into frozen dataclasses, checked against the safety bounds.

Every key has a built-in default, so an empty file (or none at all) is valid.
Every problem becomes one `ConfigError` line that names the file, the key, the
value and what is allowed.
"""

from __future__ import annotations

import datetime
import difflib
import math
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from audio.voicemaker import ENGINES
from device.core.errors import EbbtideError
from device.core.patterns import BUILT_IN, BreathPattern, paced_seconds
from device.core.script import built_in_languages, is_built_in

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


def user_config_path() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / (
        "ebbtide/config.toml"
    )


SYSTEM_CONFIG_PATH = Path("/etc/ebbtide/config.toml")


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
        start, end = _clock_time(self.start), _clock_time(self.end)
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


# -- value checkers: each returns the cleaned value or raises _Bad(allowed) --


class _Bad(Exception):
    def __init__(self, allowed: str) -> None:
        super().__init__(allowed)
        self.allowed = allowed


def _fmt(n: float) -> str:
    return f"{n:g}"


def _number(low: float, high: float, unit: str = "") -> Callable[[Any], float]:
    allowed = f"a number from {_fmt(low)} to {_fmt(high)}{unit}"

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(allowed)
        if not (low <= value <= high) or math.isnan(value):
            raise _Bad(allowed)
        return float(value)

    return check


def _integer(low: int, high: int, what: str = "") -> Callable[[Any], int]:
    allowed = f"a whole number from {low} to {high}{what}"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Bad(allowed)
        return value

    return check


def _has_control(text: str) -> bool:
    """Whether `text` holds a control character (NUL, a line break, escape...): no name,
    path or voice has one, and a path with NUL cannot even be opened."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def _text(value: Any) -> str:
    if not isinstance(value, str) or _has_control(value):
        raise _Bad("a quoted string without control characters")
    return value


def _one_of(*choices: str) -> Callable[[Any], str]:
    allowed = " or ".join(f'"{c}"' for c in choices)

    def check(value: Any) -> str:
        if value not in choices:
            raise _Bad(allowed)
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("true or false")
    return value


def _clock_time(text: str) -> datetime.time:
    hours, _, minutes = text.partition(":")
    return datetime.time(int(hours), int(minutes))


def _time_of_day(value: Any) -> str:
    allowed = 'a time of day in quotes, 24-hour "HH:MM" such as "22:30"'
    digits = value[:2] + value[3:] if isinstance(value, str) else ""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":" or \
            not (digits.isascii() and digits.isdigit()):
        raise _Bad(allowed)
    try:
        _clock_time(value)
    except ValueError:
        raise _Bad(allowed) from None
    return value


# PortAudio numbers its devices from 0, one per card and way of using it: a few dozen at most.
AUDIO_DEVICE_NUMBERS = (0, 999)


def _device(value: Any) -> str | int:
    low, high = AUDIO_DEVICE_NUMBERS
    if (isinstance(value, str) and not _has_control(value)) or (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    ):
        return value
    raise _Bad(f'a device name in quotes, or a device number from {low} to {high} ("" for the '
               "default)")


_GPIO = " (a BCM GPIO number)"


def _color(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower()
    raise _Bad('a colour as "#rrggbb", such as "#ff7e00" (amber)')


def _rgb_pins(value: Any) -> tuple[int, int, int]:
    if (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 27
                    for v in value) and len(set(value)) == 3):
        return (value[0], value[1], value[2])
    raise _Bad("three different GPIO numbers (0 to 27) for red, green and blue, such as "
               "[18, 23, 24]")


def _parts(value: Any) -> tuple[str, ...]:
    """A list of part names: each known, each once, `close` last."""
    known = ", ".join(ALL_PARTS)
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise _Bad(f"a list of part names from {known}, ending with close")
    for name in value:
        if name not in ALL_PARTS:
            hint = _nearest(name, list(ALL_PARTS)).replace("mean ", 'mean "').rstrip("?")
            raise _Bad(f'part names from {known} ("{name}" is not one of them.'
                       + (f'{hint}"?)' if hint else ")"))
    twice = next((name for name in value if value.count(name) > 1), None)
    if twice:
        raise _Bad(f'each part once ("{twice}" is there {value.count(twice)} times)')
    if value[-1] != "close":
        raise _Bad('a list that ends with "close": the light fades off there')
    return tuple(value)


_SCHEMA: dict[str, dict[str, Callable[[Any], Any]]] = {
    "breathing": {
        "pattern": _text,
        "minutes": _number(*BREATHING_MINUTES, " minutes"),
        "start_rate": _number(*RATE_RANGE, " breaths per minute"),
        "target_rate": _number(*RATE_RANGE, " breaths per minute"),
    },
    "light": {
        "pin": _integer(0, 27, _GPIO),
        "max_brightness": _number(MIN_BRIGHTNESS, 1.0),
        "backend": _one_of(*LIGHT_BACKENDS),
        "kind": _one_of("single", "rgb"),
        "pins": _rgb_pins,
        "common": _one_of("cathode", "anode"),
        "color": _color,
        "night_color": _color,
    },
    "button": {
        "pin": _integer(0, 27, _GPIO),
        "hold_seconds": _number(0.5, 10.0, " seconds"),
    },
    "voice": {
        "enabled": _boolean,
        "rate": _integer(80, 250, " words per minute"),
        "volume": _number(0.0, 1.0),
        "voice": _text,
        "script": _text,
        "engine": _one_of(*ENGINES),
        "model": _text,
        "recordings": _text,
    },
    "audio": {
        "device": _device,
        "volume": _number(0.0, 1.0),
        "chime": _boolean,
        "tide": _boolean,
        # Before the tide, an optional breath sound had this key (false in the example
        # config that installs copied): true still turns the pacing sound on.
        "breath_sound": _boolean,
    },
    "night": {
        "start": _time_of_day,
        "end": _time_of_day,
        "volume_scale": _number(0.0, 1.0),
        "brightness_scale": _number(MIN_BRIGHTNESS, 1.0),
    },
    "session": {"parts": _parts},
    "haptic": {
        "pin": _integer(0, 27, _GPIO),
        "strength": _number(0.05, 1.0),
        "start_duty": _number(0.0, 0.95),
    },
    "history": {"enabled": _boolean, "help_note": _boolean},
}

_PATTERN_KEYS: dict[str, Callable[[Any], float]] = {
    "inhale": _number(*INHALE_RANGE, " seconds"),
    "top_up": _number(*TOP_UP_RANGE, " seconds"),
    "hold_in": _number(*HOLD_RANGE, " seconds"),
    "exhale": _number(*EXHALE_RANGE, " seconds"),
    "hold_out": _number(*HOLD_RANGE, " seconds"),
}

_SECTION_CLASSES = {
    "breathing": BreathingConfig,
    "light": LightConfig,
    "button": ButtonConfig,
    "voice": VoiceConfig,
    "audio": AudioConfig,
    "night": NightConfig,
    "session": SessionConfig,
    "haptic": HapticConfig,
    "history": HistoryConfig,
}


def _nearest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" Did you mean {match[0]}?" if match else ""


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "[" + ", ".join(_show(v) for v in value) + "]"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "[" + ", ".join(str(v) for v in value) + "]"
        return "a list"
    if isinstance(value, str):
        shown = "".join(c.encode("unicode_escape").decode("ascii")
                        if unicodedata.category(c) == "Cc" else c for c in value)
        return f'"{shown}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Reader:
    """Checks one parsed document, collecting every problem before raising."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def bad(self, key: str, value: Any, allowed: str) -> None:
        end = "" if allowed.endswith(("?", ".")) else "."
        self.problems.append(
            f"{self.where}: {key} = {_show(value)} is not allowed: use {allowed}{end}")

    def unknown(self, key: str, value: Any, known: list[str], prefix: str) -> None:
        hint = _nearest(key.rsplit(".", 1)[-1], known)
        hint = hint.replace("mean ", f"mean {prefix}") if hint else ""
        listed = ", ".join(known)
        self.problems.append(
            f"{self.where}: unknown key {key} = {_show(value)}.{hint} Known keys here: {listed}."
        )

    def section(self, name: str, table: Any) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.bad(name, table, f"a [{name}] table")
            return {}
        schema = _SCHEMA[name]
        values = {}
        for key, value in table.items():
            if key not in schema:
                self.unknown(f"{name}.{key}", value, list(schema), f"{name}.")
                continue
            try:
                values[key] = schema[key](value)
            except _Bad as bad:
                self.bad(f"{name}.{key}", value, bad.allowed)
        return values

    def pattern(self, name: str, table: Any) -> BreathPattern | None:
        key = f"patterns.{name}"
        if name in BUILT_IN:
            self.bad(key, table, "a name of your own: this one is built in")
            return None
        if not isinstance(table, dict):
            self.bad(key, table, f"a [{key}] table with inhale and exhale")
            return None
        values: dict[str, float] = {}
        for k, v in table.items():
            if k not in _PATTERN_KEYS:
                self.unknown(f"{key}.{k}", v, list(_PATTERN_KEYS), f"{key}.")
                continue
            try:
                values[k] = _PATTERN_KEYS[k](v)
            except _Bad as bad:
                self.bad(f"{key}.{k}", v, bad.allowed)
        missing = [k for k in ("inhale", "exhale") if k not in table]
        if missing:
            self.problems.append(
                f"{self.where}: [{key}] has no {' or '.join(missing)}: "
                "a pattern needs inhale and exhale in seconds."
            )
        if missing or len(values) < len([k for k in table if k in _PATTERN_KEYS]):
            return None
        pattern = BreathPattern(name, **values)
        breath_in = pattern.inhale + pattern.top_up
        if pattern.exhale < breath_in:
            self.bad(f"{key}.exhale", table["exhale"],
                     f"at least the inhale and top-up together ({_fmt(breath_in)} s): "
                     "a long exhale is what calms")
            return None
        low, high = RATE_RANGE
        if not low <= pattern.rate <= high:
            self.problems.append(
                f"{self.where}: [{key}] makes one breath {_fmt(round(pattern.seconds, 2))} s, "
                f"{_fmt(round(pattern.rate, 2))} breaths per minute: allowed "
                f"{_fmt(low)} to {_fmt(high)} breaths per minute "
                f"(a breath of {_fmt(60 / high)} to {_fmt(60 / low)} s)."
            )
            return None
        return pattern


# [profile] name: defaults for a kind of device; any key set in the file still wins.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "bedside": {},
    # A Pi Zero 2 W worn or held, with earphones: the breath as touch, a light kept dim.
    "wearable": {"haptic": {"pin": 12}, "light": {"max_brightness": MIN_BRIGHTNESS}},
}


def _with_profile(document: Mapping[str, Any], reader: _Reader) -> dict[str, Any]:
    """The document over its profile's defaults ([profile] itself taken out)."""
    merged = {k: v for k, v in document.items() if k != "profile"}
    table = document.get("profile", {})
    if not isinstance(table, dict):
        reader.bad("profile", table, "a [profile] table with name")
        return merged
    for key, value in table.items():
        if key != "name":
            reader.unknown(f"profile.{key}", value, ["name"], "profile.")
        elif not isinstance(value, str) or value not in PROFILES:
            reader.bad("profile.name", value, " or ".join(f'"{p}"' for p in PROFILES))
        else:
            for section, defaults in PROFILES[value].items():
                mine = merged.get(section, {})
                if isinstance(mine, dict):
                    merged[section] = {**defaults, **mine}
    return merged


def parse(document: Mapping[str, Any], where: str = "config",
          folder: Path | None = None) -> Config:
    """Turn a parsed TOML document into a checked Config, or raise ConfigError.

    `folder` is where relative paths in the file start from (the file's own folder).
    """
    reader = _Reader(where)
    sections: dict[str, Any] = {}
    patterns: dict[str, BreathPattern] = {}
    known = [*_SCHEMA, "patterns", "profile"]
    document = _with_profile(document, reader)
    for name, table in document.items():
        if name in _SCHEMA:
            values = reader.section(name, table)
            if name == "audio" and values.pop("breath_sound", False):
                values.setdefault("tide", True)
            sections[name] = _SECTION_CLASSES[name](**values)
        elif name == "patterns":
            if not isinstance(table, dict):
                reader.bad("patterns", table, "[patterns.NAME] tables")
                continue
            for pname, ptable in table.items():
                pattern = reader.pattern(pname, ptable)
                if pattern:
                    patterns[pname] = pattern
        else:
            reader.unknown(name, table, known, "")
    model_problems: list[str] = []
    if "voice" in sections:
        sections["voice"] = _with_voice_paths(sections["voice"], reader, folder, model_problems)
    config = Config(**sections, patterns=MappingProxyType(patterns))
    audio = document.get("audio")
    chosen = isinstance(audio, dict) and ("tide" in audio or audio.get("breath_sound") is True)
    if not config.voice.enabled and not chosen:  # a silent session stays silent
        config = replace(config, audio=replace(config.audio, tide=False))
    _check_breathing(config, reader, document)
    if config.light.kind == "rgb" and config.button.pin in config.light.pins:
        reader.bad("light.pins", list(config.light.pins),
                   f"pins other than button.pin ({config.button.pin})")
    elif config.light.kind == "single" and config.light.pin == config.button.pin:
        button_set = isinstance(document.get("button"), dict) and "pin" in document["button"]
        key, other = ("button.pin", "light.pin") if button_set else ("light.pin", "button.pin")
        reader.bad(key, config.light.pin, f"a pin other than {other} ({config.light.pin})")
    haptic = config.haptic
    if haptic.start_duty >= haptic.strength and "haptic" in document:
        reader.bad("haptic.start_duty", haptic.start_duty,
                   f"less than haptic.strength ({_fmt(haptic.strength)}): a touch runs from "
                   "where the motor starts up to its strength")
    light_pins = config.light.pins if config.light.kind == "rgb" else (config.light.pin,)
    if haptic.pin is not None and haptic.pin in (*light_pins, config.button.pin):
        reader.bad("haptic.pin", haptic.pin, "a pin of its own, not the light's or the button's")
    if reader.problems or model_problems:
        usable = None
        if not reader.problems:
            usable = replace(config, voice=replace(config.voice, engine="espeak", model=""))
        raise ConfigError(reader.problems + model_problems, usable)
    return config


def _path(reader: _Reader, key: str, value: str, folder: Path | None, kind: str,
          exists: Callable[[Path], bool]) -> Path | None:
    """A path key made absolute (from the config file's folder) and checked; None if bad."""
    try:
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = ((folder or Path.cwd()) / path).absolute()
        found = exists(path)
    except (OSError, RuntimeError) as error:  # a name too long, or "~nobody/..."
        reader.bad(key, value, f"the path of {kind} ({error})")
        return None
    if not found:
        what = "a file" if exists is Path.is_file else "a folder"
        reader.bad(key, value, f"the path of {kind}; {path} is not {what} (a relative path "
                               "starts from the config file's folder)")
        return None
    return path


def _with_voice_paths(voice: VoiceConfig, reader: _Reader, folder: Path | None,
                      model_problems: list[str]) -> VoiceConfig:
    """[voice] script, model and recordings made absolute and checked. Problems with the
    model go to `model_problems`: without it, the appliance can still speak."""
    script, model, recordings = voice.script, voice.model, voice.recordings
    if script and not is_built_in(script):
        languages = ", ".join(f'"{name}"' for name in built_in_languages())
        path = _path(reader, "voice.script", script, folder,
                     f"a script file, or the language of a built-in script ({languages})",
                     Path.is_file)
        script = str(path) if path else script
    if recordings:
        path = _path(reader, "voice.recordings", recordings, folder,
                     "a folder of recordings (ID.wav)",
                     lambda p: p.is_dir() or not p.exists())  # `ebbtide record` makes it
        recordings = str(path) if path else recordings
    if model:
        from audio.piper import model_problem

        model_reader = _Reader(reader.where)
        path = _path(model_reader, "voice.model", model, folder,
                     "a Piper voice file (.onnx, with its .onnx.json beside it)", Path.is_file)
        problem = model_problem(path) if path else None
        if problem:
            model_reader.bad("voice.model", model, f"a Piper voice file that works: {problem}")
        model_problems += model_reader.problems
        model = str(path) if path else model
    return replace(voice, script=script, model=model, recordings=recordings)


def _check_breathing(config: Config, reader: _Reader, document: Mapping[str, Any]) -> None:
    b = config.breathing
    names = sorted({*BUILT_IN, *config.patterns})
    declared = document.get("patterns") if isinstance(document.get("patterns"), dict) else {}
    if b.pattern not in BUILT_IN and b.pattern not in config.patterns:
        if b.pattern not in declared:  # a broken user pattern was reported already
            hint = _nearest(b.pattern, names)
            reader.bad("breathing.pattern", b.pattern,
                       f"one of {', '.join(names)}, or a [patterns.NAME] of your own.{hint}"
                       .rstrip("."))
        return
    if not config.pattern().paced:
        return
    for key in ("start_rate", "target_rate"):
        rate = getattr(b, key)
        _inhale, exhale = paced_seconds(rate)
        if rate < PACED_MIN_RATE:
            reader.bad(f"breathing.{key}", rate,
                       f"{_fmt(PACED_MIN_RATE)} to {_fmt(RATE_RANGE[1])} breaths per minute "
                       f"for paced-exhale (at {_fmt(rate)} the exhale would last "
                       f"{_fmt(round(exhale, 1))} s, over the {_fmt(EXHALE_RANGE[1])} s limit)")
    if b.target_rate > b.start_rate:
        reader.bad("breathing.target_rate", b.target_rate,
                   f"at most breathing.start_rate ({_fmt(b.start_rate)}): the pace slows "
                   "toward the target, never speeds up")


MAX_CONFIG_BYTES = 1024 * 1024  # a config is a few kilobytes; /dev/zero would never end


def _read_config_file(path: Path) -> bytes:
    """The file's bytes, read without blocking on a pipe and never more than
    MAX_CONFIG_BYTES, or ConfigError in one plain line."""
    where = str(path)
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer (fstat then refuses it).
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError([f"{where}: no such config file."]) from None
    except OSError as error:
        raise ConfigError([f"{where}: cannot read the config file: {error.strerror}."]) from None
    try:
        kind = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(kind):
            raise ConfigError([f"{where}: is a directory, not a config file."])
        if stat.S_ISFIFO(kind) or stat.S_ISSOCK(kind):
            raise ConfigError([f"{where}: is a pipe, not a config file: give the path of a "
                               "TOML text file."])
        os.set_blocking(descriptor, True)
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(descriptor, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise ConfigError([f"{where}: cannot read the config file: {error.strerror}."]) from None
    finally:
        os.close(descriptor)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError([f"{where}: is not a config file: it holds more than "
                           f"{MAX_CONFIG_BYTES // (1024 * 1024)} MB (a config file is a few "
                           "kilobytes of TOML text)."])
    return b"".join(chunks)


def load(path: Path) -> Config:
    """Read and check one TOML file."""
    where = str(path)
    data = _read_config_file(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{where}: is not UTF-8 text; a config file is TOML text."]) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{where}: is not valid TOML: {error}."]) from None
    except RecursionError:
        raise ConfigError([f"{where}: is nested too deeply to read; a config file is a few "
                           "flat [sections]."]) from None
    return _with_source(parse(document, where, path.parent), path)


def _with_source(config: Config, path: Path) -> Config:
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values["source"] = path
    return Config(**values)


def find(explicit: Path | None = None) -> Path | None:
    """The config file to use: --config, $EBBTIDE_CONFIG, the user's, the system's, or none.

    A file named explicitly must exist; the usual places are simply skipped when absent.
    """
    if explicit is not None:
        return explicit
    env = os.environ.get("EBBTIDE_CONFIG")
    if env:
        return Path(env)
    for candidate in (user_config_path(), SYSTEM_CONFIG_PATH):
        if candidate.exists():
            return candidate
    return None


def load_config(explicit: Path | None = None) -> Config:
    """Find and load the config, or return the defaults when there is none."""
    path = find(explicit)
    return Config() if path is None else load(path)
