"""The registry of session parts: every part a session can have, each declared once.

A part's entry says all the rest of the device needs to know of it: its name in
[session] parts, the script table its words are in, the planner that lays it out
(device/core/part_plans.py), its colour in the session picture, one line about it for the
help text, whether a session has it by default, and whether an older script may lack its
words. Config (the allowed and default [session] parts), the script model (the tables it
reads), the plan, `ebbtide script check`, the session picture and `ebbtide --help` all read
PARTS: adding a part is one entry here and its words in the scripts
(device/words/script.toml and its translations).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from device.core.part_plans import (
    AFTERCARE_PAUSE,
    Planner,
    lines_with_pause,
    plan_arrive,
    plan_body,
    plan_breathe,
    plan_close,
    plan_feel,
    plan_ground,
)

if TYPE_CHECKING:
    from device.core.script import Script


@dataclass(frozen=True)
class SessionPart:
    """One part of a session."""

    name: str  # as [session] parts names it
    # The script's table of its words: [WORDS.lines] for a part that is just lines; the
    # script model reads the tables of breathe, feel, ground and body its own way.
    words: str
    plan: Planner  # lays the part out, from 0 (device/core/part_plans.py)
    colour: str  # its band in the session picture
    about: str  # one line for the help text
    default: bool = True  # in the default [session] parts
    optional_words: bool = False  # an older script may lack them: the session runs without it


# In their usual order; `close` is always last: the light fades off there.
PARTS: tuple[SessionPart, ...] = (
    SessionPart("arrive", "arrive", plan_arrive, "#c9d7e8", "the voice arrives, the light "
                "glows softly"),
    SessionPart("breathe", "breathe", plan_breathe, "#f3d9a4", "slow breathing, led by the "
                "light"),
    SessionPart("feel", "feel", plan_feel, "#e4c8de", "noticing the feeling",
                optional_words=True),
    SessionPart("ground", "ground", plan_ground, "#c8e0c4", "grounding: things to see, touch, "
                "hear, smell and taste"),
    SessionPart("body", "body", plan_body, "#f0c9b4", "the body: jaw, shoulders, hands, belly"),
    SessionPart("aftercare", "aftercare", lines_with_pause(AFTERCARE_PAUSE), "#cfe3e6",
                "aftercare: water, warmth, what you need"),
    SessionPart("partner", "partner", lines_with_pause(AFTERCARE_PAUSE), "#e6e0b8",
                "a few words for whoever is beside you", default=False, optional_words=True),
    SessionPart("close", "close", plan_close, "#d9d4e8", "goodbye; the light fades off"),
)


def names() -> tuple[str, ...]:
    """Every part's name, in the usual order."""
    return tuple(part.name for part in PARTS)


def default_names() -> tuple[str, ...]:
    """The parts a session has when [session] parts is not set."""
    return tuple(part.name for part in PARTS if part.default)


def named(name: str) -> SessionPart:
    """The part called `name` (one of names(): config has checked it)."""
    return next(part for part in PARTS if part.name == name)


def wordless(parts: Iterable[str], script: Script) -> list[str]:
    """Those of `parts` the script has no words for (a script from before they existed)."""
    return [name for name in parts
            if named(name).optional_words and not script.lines_of(name)]
