"""Checking a parsed config document: the schema of every [section] and key, the value
checkers, profiles, and `parse(document)`, which turns a TOML document into a Config or one
ConfigError naming every problem (the file, the key, the value and what is allowed).

Pure: the document comes already parsed, and the checks of the files [voice] names are
handed in by the caller (device/files/config_file.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol

from device.core.config import (
    EXHALE_RANGE,
    HOLD_RANGE,
    INHALE_RANGE,
    MIN_BRIGHTNESS,
    PACED_MIN_RATE,
    RATE_RANGE,
    SENSOR_ADDRESSES,
    TOP_UP_RANGE,
    Config,
    ConfigError,
    VoiceConfig,
)
from device.core.config_values import (
    BadValue,
    boolean,
    fmt,
    number,
)
from device.core.patterns import BUILT_IN, BreathPattern, paced_seconds
from device.core.text import did_you_mean

Complaint = Callable[[str, Any, str], None]  # (key, value, what is allowed): one problem


class VoicePaths(Protocol):
    """Checks [voice] script, model and recordings against the files they name: problems go
    to `bad`, a voice model's to `model_bad` (without the model the appliance can still
    speak); returns the section with the paths made absolute."""

    def __call__(self, voice: VoiceConfig, bad: Complaint,
                 model_bad: Complaint) -> VoiceConfig: ...


def _checks(section: type) -> dict[str, Callable[[Any], Any]]:
    """A section's keys and their checkers, as its dataclass fields name them."""
    return {f.name: f.metadata["check"] for f in fields(section)}


# The sections: Config's fields whose default is a section dataclass, in their order.
_SECTION_CLASSES: dict[str, type] = {
    f.name: type(f.default) for f in fields(Config)
    if is_dataclass(f.default) and not isinstance(f.default, type)}
_SCHEMA: dict[str, dict[str, Callable[[Any], Any]]] = {
    name: _checks(section) for name, section in _SECTION_CLASSES.items()}
# Before the tide, an optional breath sound had this key (false in the example config that
# installs copied): true still turns the pacing sound on.
_SCHEMA["audio"]["breath_sound"] = boolean

_PATTERN_KEYS: dict[str, Callable[[Any], float]] = {
    "inhale": number(*INHALE_RANGE, " seconds"),
    "top_up": number(*TOP_UP_RANGE, " seconds"),
    "hold_in": number(*HOLD_RANGE, " seconds"),
    "exhale": number(*EXHALE_RANGE, " seconds"),
    "hold_out": number(*HOLD_RANGE, " seconds"),
}


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
        hint = did_you_mean(key.rsplit(".", 1)[-1], known, prefix)
        listed = ", ".join(known)
        self.problems.append(
            f"{self.where}: unknown key {key} = {_show(value)}.{hint} Known keys here: {listed}."
        )

    def section(self, name: str, table: Any) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.bad(name, table, f"a [{name}] table")
            return {}
        return self.checked(name, table, _SCHEMA[name])

    def checked(self, where: str, table: dict[str, Any], schema: Mapping[str, Any]
                ) -> dict[str, Any]:
        """Each known key of `table` through its checker; each unknown or bad one noted."""
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in schema:
                self.unknown(f"{where}.{key}", value, list(schema), f"{where}.")
                continue
            try:
                values[key] = schema[key](value)
            except BadValue as bad:
                self.bad(f"{where}.{key}", value, bad.allowed)
        return values

    def pattern(self, name: str, table: Any) -> BreathPattern | None:
        key = f"patterns.{name}"
        if name in BUILT_IN:
            self.bad(key, table, "a name of your own: this one is built in")
            return None
        if not isinstance(table, dict):
            self.bad(key, table, f"a [{key}] table with inhale and exhale")
            return None
        values = self.checked(key, table, _PATTERN_KEYS)  # seconds, by BreathPattern's names
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
                     f"at least the inhale and top-up together ({fmt(breath_in)} s): "
                     "a long exhale is what calms")
            return None
        low, high = RATE_RANGE
        if not low <= pattern.rate <= high:
            self.problems.append(
                f"{self.where}: [{key}] makes one breath {fmt(round(pattern.seconds, 2))} s, "
                f"{fmt(round(pattern.rate, 2))} breaths per minute: allowed "
                f"{fmt(low)} to {fmt(high)} breaths per minute "
                f"(a breath of {fmt(60 / high)} to {fmt(60 / low)} s)."
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
          voice_paths: VoicePaths | None = None) -> Config:
    """Turn a parsed TOML document into a checked Config, or raise ConfigError.

    `voice_paths` checks [voice] script, model and recordings against the files they name
    (device/files/config_file.py's, for a config file); without it they are taken as written.
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
    model_reader = _Reader(where)
    if "voice" in sections and voice_paths is not None:
        sections["voice"] = voice_paths(sections["voice"], reader.bad, model_reader.bad)
    model_problems = model_reader.problems
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
                   f"less than haptic.strength ({fmt(haptic.strength)}): a touch runs from "
                   "where the motor starts up to its strength")
    light_pins = config.light.pins if config.light.kind == "rgb" else (config.light.pin,)
    if haptic.pin is not None and haptic.pin in (*light_pins, config.button.pin):
        reader.bad("haptic.pin", haptic.pin, "a pin of its own, not the light's or the button's")
    _check_sensor(config, reader)
    if reader.problems or model_problems:
        usable = None
        if not reader.problems:
            usable = replace(config, voice=replace(config.voice, engine="espeak", model=""))
        raise ConfigError(reader.problems + model_problems, usable)
    return config


def _check_sensor(config: Config, reader: _Reader) -> None:
    """[sensor] address must be one the chosen part can have."""
    sensor = config.sensor
    if sensor.kind == "none" or sensor.address is None:
        return
    allowed = SENSOR_ADDRESSES[sensor.kind]
    if sensor.address not in allowed:
        shown = " or ".join(f"{a:#04x} ({a})" for a in allowed)
        reader.bad("sensor.address", sensor.address,
                   f'{shown} for kind = "{sensor.kind}" (its address pin low or high), or no '
                   "address for the part's default")


def _check_breathing(config: Config, reader: _Reader, document: Mapping[str, Any]) -> None:
    b = config.breathing
    names = sorted({*BUILT_IN, *config.patterns})
    declared: Any = document.get("patterns") if isinstance(document.get("patterns"), dict) else {}
    if b.pattern not in BUILT_IN and b.pattern not in config.patterns:
        if b.pattern not in declared:  # a broken user pattern was reported already
            hint = did_you_mean(b.pattern, names)
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
                       f"{fmt(PACED_MIN_RATE)} to {fmt(RATE_RANGE[1])} breaths per minute "
                       f"for paced-exhale (at {fmt(rate)} the exhale would last "
                       f"{fmt(round(exhale, 1))} s, over the {fmt(EXHALE_RANGE[1])} s limit)")
    if b.target_rate > b.start_rate:
        reader.bad("breathing.target_rate", b.target_rate,
                   f"at most breathing.start_rate ({fmt(b.start_rate)}): the pace slows "
                   "toward the target, never speeds up")
