"""The spoken words, loaded from an editable TOML file (device/script.toml by default).

Every line has an id: where it stands in the file. A group of lines may be a table of
`id = "text"` (the shipped script: ids that stay put when lines are reworded, reordered,
added or translated) or a plain list (ids by position: `arrive.1`, `arrive.2`, ...). A
group's own `lines` key is left out of its ids: `[arrive.lines] here = ...` is `arrive.here`.
Recordings in a loved one's voice are matched to lines by these ids.
"""

from __future__ import annotations

import re
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
    lines: tuple[tuple[str, str], ...]  # (id, text) of every line, in the file's order

    def texts(self) -> list[str]:
        """Every distinct line, in order: what the voice cache must hold."""
        return list(dict.fromkeys(text for _, text in self.lines))


_ID = re.compile(r"[A-Za-z0-9_-]+")


def _id_of(dotted: str, key: str | int) -> str:
    """The id of a line: its place in the file, without the group's `lines` key."""
    group = dotted.removesuffix(".lines")
    return f"{group}.{key}"


class _Lines:
    """Collects (id, text) pairs while the script is parsed."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.pairs: list[tuple[str, str]] = []

    def group(self, doc: dict[str, Any], dotted: str) -> tuple[str, ...]:
        """A list or a table of lines at `dotted`."""
        node = _get(doc, self.where, dotted, dict)
        if isinstance(node, dict):
            bad = [key for key in node if not _ID.fullmatch(key)]
            if bad:
                raise ScriptError(f"{self.where}: {dotted}.{bad[0]}: a line's name may use "
                                  "only letters, digits, - and _.")
            if not node or not all(isinstance(v, str) and v.strip() for v in node.values()):
                raise ScriptError(f"{self.where}: {dotted} must hold lines of text.")
            items = list(node.items())
        else:
            items = [(str(n), text) for n, text in enumerate(node, start=1)]
        for key, text in items:
            self.pairs.append((_id_of(dotted, key), text))
        return tuple(text for _, text in items)

    def one(self, doc: dict[str, Any], dotted: str) -> str:
        text = _get(doc, self.where, dotted, str)
        self.pairs.append((dotted, text))
        return text


def _get(doc: dict[str, Any], where: str, dotted: str, kind: type) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ScriptError(f"{where}: missing {dotted}.")
        node = node[part]
    if kind is dict and isinstance(node, dict):
        return node
    if kind in (list, dict):
        if not isinstance(node, list) or not node or not all(
            isinstance(s, str) and s.strip() for s in node
        ):
            raise ScriptError(f"{where}: {dotted} must be a non-empty list (or a table) of "
                              "lines of text.")
        return tuple(node)
    if kind is str and not (isinstance(node, str) and node.strip()):
        raise ScriptError(f"{where}: {dotted} must be a line of text.")
    if kind in (int, float) and (isinstance(node, bool) or not isinstance(node, int | float)
                                 or node < 0):
        raise ScriptError(f"{where}: {dotted} must be a number of 0 or more.")
    return node


def parse_script(doc: dict[str, Any], where: str) -> Script:
    lines = _Lines(where)
    arrive = lines.group(doc, "arrive.lines")
    breathe = {
        "inhale": lines.group(doc, "breathe.inhale"),
        "exhale": lines.group(doc, "breathe.exhale"),
        "hold": lines.group(doc, "breathe.hold"),
        "reminders": lines.group(doc, "breathe.reminders"),
        "cue_breaths": int(_get(doc, where, "breathe.cue_breaths", int)),
        "reminder_seconds": float(_get(doc, where, "breathe.reminder_seconds", float)),
    }
    ground_intro = lines.one(doc, "ground.intro")
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
        key = entry.get("id", i + 1)
        if not (isinstance(key, str) and _ID.fullmatch(key)) and key != i + 1:
            raise ScriptError(f"{where}: ground.senses entry {i + 1}: id may use only "
                              "letters, digits, - and _.")
        lines.pairs.append((_id_of("ground.senses", key), text))
        senses.append(Sense(count, text))
    body_intro = lines.one(doc, "body.intro")
    body_steps = lines.group(doc, "body.steps")
    aftercare = lines.group(doc, "aftercare.lines")
    close = lines.group(doc, "close.lines")
    ids = [line_id for line_id, _ in lines.pairs]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ScriptError(f"{where}: the line id {twice[0]} is used twice.")
    return Script(arrive=arrive, **breathe, ground_intro=ground_intro, senses=tuple(senses),
                  body_intro=body_intro, body_steps=body_steps, aftercare=aftercare,
                  close=close, lines=tuple(lines.pairs))


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
