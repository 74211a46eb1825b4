"""The spoken words, loaded from an editable TOML file (device/script.toml by default)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


class ScriptError(Exception):
    """The script file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class Sense:
    count: int
    text: str


@dataclass(frozen=True)
class Script:
    """Every line of a session, grouped by part."""

    arrive: tuple[str, ...]
    inhale: tuple[str, ...]
    exhale: tuple[str, ...]
    hold: tuple[str, ...]
    reminders: tuple[str, ...]
    cue_breaths: int
    reminder_seconds: float
    ground_intro: str
    senses: tuple[Sense, ...]
    body_intro: str
    body_steps: tuple[str, ...]
    aftercare: tuple[str, ...]
    close: tuple[str, ...]

    def texts(self) -> list[str]:
        """Every distinct line, in order: what the voice cache must hold."""
        lines = [*self.arrive, *self.inhale, *self.exhale, *self.hold, *self.reminders,
                 self.ground_intro, *(s.text for s in self.senses), self.body_intro,
                 *self.body_steps, *self.aftercare, *self.close]
        return list(dict.fromkeys(lines))


def _get(doc: dict[str, Any], where: str, dotted: str, kind: type) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ScriptError(f"{where}: missing {dotted}.")
        node = node[part]
    if kind is list:
        if not isinstance(node, list) or not node or not all(
            isinstance(s, str) and s.strip() for s in node
        ):
            raise ScriptError(f"{where}: {dotted} must be a non-empty list of lines of text.")
        return tuple(node)
    if kind is str and not (isinstance(node, str) and node.strip()):
        raise ScriptError(f"{where}: {dotted} must be a line of text.")
    if kind in (int, float) and (isinstance(node, bool) or not isinstance(node, int | float)
                                 or node < 0):
        raise ScriptError(f"{where}: {dotted} must be a number of 0 or more.")
    return node


def parse_script(doc: dict[str, Any], where: str) -> Script:
    arrive = _get(doc, where, "arrive.lines", list)
    breathe = {
        "inhale": _get(doc, where, "breathe.inhale", list),
        "exhale": _get(doc, where, "breathe.exhale", list),
        "hold": _get(doc, where, "breathe.hold", list),
        "reminders": _get(doc, where, "breathe.reminders", list),
        "cue_breaths": int(_get(doc, where, "breathe.cue_breaths", int)),
        "reminder_seconds": float(_get(doc, where, "breathe.reminder_seconds", float)),
    }
    ground_intro = _get(doc, where, "ground.intro", str)
    senses = []
    senses_raw = doc["ground"].get("senses")
    if not isinstance(senses_raw, list) or not senses_raw:
        raise ScriptError(f"{where}: missing [[ground.senses]] entries.")
    for i, entry in enumerate(senses_raw):
        count = entry.get("count") if isinstance(entry, dict) else None
        text = entry.get("text") if isinstance(entry, dict) else None
        if not (isinstance(count, int) and 1 <= count <= 9 and isinstance(text, str) and text):
            raise ScriptError(
                f"{where}: ground.senses entry {i + 1} needs count (1 to 9) and text."
            )
        senses.append(Sense(count, text))
    return Script(
        arrive=arrive,
        **breathe,
        ground_intro=ground_intro,
        senses=tuple(senses),
        body_intro=_get(doc, where, "body.intro", str),
        body_steps=_get(doc, where, "body.steps", list),
        aftercare=_get(doc, where, "aftercare.lines", list),
        close=_get(doc, where, "close.lines", list),
    )


def load_script(path: str | Path = "") -> Script:
    """Load the script at `path`, or the one shipped with Ebbtide when `path` is empty."""
    if path:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ScriptError(f"{where}: cannot read the script: {error}.") from None
    else:
        where = "the built-in script"
        text = resources.files("device").joinpath("script.toml").read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScriptError(f"{where}: is not valid TOML: {error}.") from None
    return parse_script(doc, where)
