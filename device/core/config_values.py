"""What a config value may be: the checkers each key of the config model names beside its
default (device/core/config.py), from which the schema is derived. Each returns the cleaned
value or raises BadValue(allowed), `allowed` saying for a person what the key may hold."""

from __future__ import annotations

import datetime
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from device.core.text import nearest


def checked_by(check: Callable[[Any], Any]) -> Mapping[str, Any]:
    """A field's metadata naming its checker: `field(default=..., metadata=checked_by(...))`."""
    return {"check": check}


class BadValue(Exception):
    """A value a key may not have; `allowed` says, for a person, what it may be."""

    def __init__(self, allowed: str) -> None:
        super().__init__(allowed)
        self.allowed = allowed


def fmt(n: float) -> str:
    return f"{n:g}"


def number(low: float, high: float, unit: str = "") -> Callable[[Any], float]:
    allowed = f"a number from {fmt(low)} to {fmt(high)}{unit}"

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValue(allowed)
        if not (low <= value <= high) or math.isnan(value):
            raise BadValue(allowed)
        return float(value)

    return check


def integer(low: int, high: int, what: str = "") -> Callable[[Any], int]:
    allowed = f"a whole number from {low} to {high}{what}"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadValue(allowed)
        return value

    return check


def has_control(text: str) -> bool:
    """Whether `text` holds a control character (NUL, a line break, escape...): no name,
    path or voice has one, and a path with NUL cannot even be opened."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def plain_text(value: Any) -> str:
    if not isinstance(value, str) or has_control(value):
        raise BadValue("a quoted string without control characters")
    return value


def one_of(*choices: str) -> Callable[[Any], str]:
    allowed = " or ".join(f'"{c}"' for c in choices)

    def check(value: Any) -> str:
        if value not in choices:
            raise BadValue(allowed)
        chosen: str = value  # equal to one of the choices: text
        return chosen

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue("true or false")
    return value


def time_of_day(value: Any) -> str:
    allowed = 'a time of day in quotes, 24-hour "HH:MM" such as "22:30"'
    digits = value[:2] + value[3:] if isinstance(value, str) else ""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":" or \
            not (digits.isascii() and digits.isdigit()):
        raise BadValue(allowed)
    try:
        clock_time(value)
    except ValueError:
        raise BadValue(allowed) from None
    return value


# PortAudio numbers its devices from 0, one per card and way of using it: a few dozen at most.
AUDIO_DEVICE_NUMBERS = (0, 999)


def audio_device(value: Any) -> str | int:
    low, high = AUDIO_DEVICE_NUMBERS
    if (isinstance(value, str) and not has_control(value)) or (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    ):
        return value
    raise BadValue(f'a device name in quotes, or a device number from {low} to {high} ("" for the '
               "default)")


GPIO_NOTE = " (a BCM GPIO number)"


def hex_color(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower()
    raise BadValue('a colour as "#rrggbb", such as "#ff7e00" (amber)')


def rgb_pins(value: Any) -> tuple[int, int, int]:
    if (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 27
                    for v in value) and len(set(value)) == 3):
        return (value[0], value[1], value[2])
    raise BadValue("three different GPIO numbers (0 to 27) for red, green and blue, such as "
               "[18, 23, 24]")


def part_names(registered: Callable[[], Sequence[str]]) -> Callable[[Any], tuple[str, ...]]:
    """A list of part names: each one of those `registered()` gives (when the value is
    checked), each once, `close` last."""

    def check(value: Any) -> tuple[str, ...]:
        all_parts = registered()
        known = ", ".join(all_parts)
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise BadValue(f"a list of part names from {known}, ending with close")
        for name in value:
            if name not in all_parts:
                match = nearest(name, all_parts)
                raise BadValue(f'part names from {known} ("{name}" is not one of them.'
                               + (f' Did you mean "{match}"?)' if match else ")"))
        twice = next((name for name in value if value.count(name) > 1), None)
        if twice:
            raise BadValue(f'each part once ("{twice}" is there {value.count(twice)} times)')
        if value[-1] != "close":
            raise BadValue('a list that ends with "close": the light fades off there')
        return tuple(value)

    return check


def clock_time(text: str) -> datetime.time:
    """An "HH:MM" text (already checked) as a time of day."""
    hours, _, minutes = text.partition(":")
    return datetime.time(int(hours), int(minutes))
