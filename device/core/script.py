"""The spoken words: the script model, parsed from an editable TOML document (the file is
read by device/files/script_file.py; device/words/script.toml by default).

Every line has an id: where it stands in the file. A group of lines may be a table of
`id = "text"` (the shipped script: ids that stay put when lines are reworded, reordered,
added or translated) or a plain list (ids by position: `arrive.1`, `arrive.2`, ...). A
group's own `lines` key is left out of its ids: `[arrive.lines] here = ...` is `arrive.here`.
Recordings in a loved one's voice are matched to lines by these ids.

The built-in scripts are device/words/script.toml (English) and
device/words/script-LANG.toml (its translations); `[voice] script` names one by its
language ("de") or gives a file's path. The tables read are the registry's
(device/core/parts.py): breathe, feel, ground and body have their own shapes; any other
part's words are its [NAME.lines]. A part whose words are optional (feel, partner) may be
missing from a script made before it existed: then a session cannot have it (the plan says
so).
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from device.core import parts as registry
from device.core.errors import EbbtideError


class ScriptError(EbbtideError):
    """The script file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class Sense:
    count: int
    text: str


@dataclass(frozen=True)
class Script:
    """Every line of a session, grouped by part."""

    language: str  # e.g. "en": what the voice must speak
    inhale: tuple[str, ...]
    exhale: tuple[str, ...]
    hold: tuple[str, ...]
    reminders: tuple[str, ...]
    # Said once to someone on a breath sensor after a minute out of step with the light: that
    # they can breathe at their own pace ("" in a script made before it existed: not said).
    own_pace: str
    cue_breaths: int
    reminder_seconds: float
    feel_pause: float
    ground_intro: str
    senses: tuple[Sense, ...]
    body_intro: str
    body_steps: tuple[str, ...]
    # The lines of each part whose words are lines ([NAME.lines], and feel's), by part name:
    # () for a part whose words are optional and missing from an older script.
    part_lines: Mapping[str, tuple[str, ...]]
    lines: tuple[tuple[str, str], ...]  # (id, text) of every line, in the file's order
    where: str = "the built-in script"  # its file, for messages

    def lines_of(self, part: str) -> tuple[str, ...]:
        """The lines of a part whose words are lines (arrive, feel, aftercare, partner,
        close, ...); () if the script has none."""
        return self.part_lines.get(part, ())

    @property
    def arrive(self) -> tuple[str, ...]:
        return self.lines_of("arrive")

    @property
    def feel(self) -> tuple[str, ...]:
        return self.lines_of("feel")

    @property
    def aftercare(self) -> tuple[str, ...]:
        return self.lines_of("aftercare")

    @property
    def partner(self) -> tuple[str, ...]:
        return self.lines_of("partner")

    @property
    def close(self) -> tuple[str, ...]:
        return self.lines_of("close")

    def texts(self) -> list[str]:
        """Every distinct line, in order: what the voice cache must hold."""
        return list(dict.fromkeys(text for _, text in self.lines))


_ID = re.compile(r"[A-Za-z0-9_-]+")
OWN_PACE_ID = "breathe.own_pace"  # Script.own_pace's line

# How long one line may take, by its place, at SPEAKING_RATE: a breathing cue within the
# longest phase a pattern may have (an exhale of 12 s), a reminder within the longest breath
# (20 s, at 3 breaths a minute), any other line within a minute. A longer line is a mistake
# (a paragraph pasted in, a file's contents), and would hold the speech process for minutes.
SPEAKING_RATE = 140  # words per minute: the voice's default rate
CUE_MAX_SECONDS = 12.0
REMINDER_MAX_SECONDS = 20.0
LINE_MAX_SECONDS = 60.0
CHARACTERS_PER_WORD = 10  # a "word" with no spaces in it counts as one per 10 characters
# The numbers of [breathe] and [feel], each within what a session can use.
CUE_BREATHS = (0, 20)
REMINDER_SECONDS = (0.0, 600.0)
FEEL_PAUSE_SECONDS = (0.0, 60.0)
_SPACES = "\t\n\r"  # the only control characters a line may hold: they are spaces


def _max_seconds(line_id: str) -> float:
    group = line_id.rsplit(".", 1)[0]
    if group in ("breathe.inhale", "breathe.exhale", "breathe.hold"):
        return CUE_MAX_SECONDS
    if group == "breathe.reminders" or line_id == OWN_PACE_ID:
        return REMINDER_MAX_SECONDS
    return LINE_MAX_SECONDS


def spoken_words(text: str) -> float:
    """How many words a line counts as: those between spaces, or one per 10 characters if
    that is more (a line with no spaces still takes time to say)."""
    return max(len(text.split()), len(text) / CHARACTERS_PER_WORD)


def _shown(text: str) -> str:
    """A line as a message shows it: quoted, control characters escaped, a long one cut."""
    cut = "".join(_escaped(c) if unicodedata.category(c) == "Cc" else c for c in text[:60])
    return f'"{cut}..."' if len(text) > 60 else f'"{cut}"'


def _escaped(character: str) -> str:
    return character.encode("unicode_escape").decode("ascii")


def _line_problem(line_id: str, text: str) -> str | None:
    """Why a line cannot be spoken, or None: no words, a control character, too long."""
    control = next((c for c in text if unicodedata.category(c) == "Cc" and c not in _SPACES),
                   None)
    if control is not None:
        return f"text without control characters ({_escaped(control)} is one)"
    if not any(c.isalnum() for c in text):
        return "a line with words to speak (at least one letter or digit)"
    words = spoken_words(text)
    limit = _max_seconds(line_id)
    if words * 60.0 / SPEAKING_RATE > limit:
        return (f"a line of at most {limit * SPEAKING_RATE / 60:.0f} words here (about "
                f"{limit:g} s at {SPEAKING_RATE} words/min; this one has {words:,.0f})")
    return None


def _id_of(dotted: str, key: str | int) -> str:
    """The id of a line: its place in the file, without the group's `lines` key."""
    group = dotted.removesuffix(".lines")
    return f"{group}.{key}"


class _Lines:
    """Collects (id, text) pairs while the script is parsed."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.pairs: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def group(self, doc: dict[str, Any], dotted: str) -> tuple[str, ...]:
        """A list or a table of lines at `dotted`."""
        node = _get(doc, self.where, dotted, dict)
        if isinstance(node, dict):
            bad = [key for key in node if not _ID.fullmatch(key)]
            if bad:
                raise ScriptError(f"{self.where}: {dotted}.{_shown(bad[0])}: a line's name may "
                                  "use only letters, digits, - and _.")
            if not node or not all(isinstance(v, str) and v.strip() for v in node.values()):
                raise ScriptError(f"{self.where}: {dotted} must hold lines of text.")
            items = list(node.items())
        else:
            items = [(str(n), text) for n, text in enumerate(node, start=1)]
        for key, text in items:
            self.add(_id_of(dotted, key), text)
        return tuple(text for _, text in items)

    def one(self, doc: dict[str, Any], dotted: str) -> str:
        text: str = _get(doc, self.where, dotted, str)
        self.add(dotted, text)
        return text

    def add(self, line_id: str, text: str) -> None:
        """A line, once it is known to be speakable and its id to be its own."""
        problem = _line_problem(line_id, text)
        if problem:
            raise ScriptError(f"{self.where}: {line_id} = {_shown(text)} is not allowed: use "
                              f"{problem}.")
        if line_id in self.ids:
            raise ScriptError(f"{self.where}: the line id {line_id} is used twice.")
        self.ids.add(line_id)
        self.pairs.append((line_id, text))


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
    return node


def _number(doc: dict[str, Any], where: str, dotted: str, low: float, high: float,
            whole: bool = False, unit: str = "") -> float:
    """A number of the script, finite and within [low, high] (whole, if `whole`)."""
    value = _get(doc, where, dotted, float)
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not (
            math.isfinite(value) and low <= value <= high):
        allowed = f"{'a whole number' if whole else 'a number'} from {low:g} to {high:g}{unit}"
        shown = _shown(value) if isinstance(value, str) else (
            "a list" if isinstance(value, list) else "a table" if isinstance(value, dict)
            else str(value).lower() if isinstance(value, bool) else str(value))
        raise ScriptError(f"{where}: {dotted} = {shown} is not allowed: use {allowed}.")
    return value


_LANGUAGE = re.compile(r"[a-z]{2,3}([_-][A-Za-z0-9]+)*")


def _read_breathe(doc: dict[str, Any], lines: _Lines, table: str) -> dict[str, Any]:
    where = lines.where
    return {
        "inhale": lines.group(doc, f"{table}.inhale"),
        "exhale": lines.group(doc, f"{table}.exhale"),
        "hold": lines.group(doc, f"{table}.hold"),
        "reminders": lines.group(doc, f"{table}.reminders"),
        "own_pace": (lines.one(doc, f"{table}.own_pace")
                     if "own_pace" in doc.get(table, {}) else ""),
        "cue_breaths": int(_number(doc, where, f"{table}.cue_breaths", *CUE_BREATHS,
                                   whole=True, unit=" breaths")),
        "reminder_seconds": float(_number(doc, where, f"{table}.reminder_seconds",
                                          *REMINDER_SECONDS, unit=" seconds")),
    }


def _read_feel(doc: dict[str, Any], lines: _Lines, table: str) -> dict[str, Any]:
    return {"lines": lines.group(doc, f"{table}.lines"),
            "feel_pause": float(_number(doc, lines.where, f"{table}.pause_seconds",
                                        *FEEL_PAUSE_SECONDS, unit=" seconds"))}


def _read_ground(doc: dict[str, Any], lines: _Lines, table: str) -> dict[str, Any]:
    where = lines.where
    ground_intro = lines.one(doc, f"{table}.intro")
    senses = []
    senses_raw = doc[table].get("senses")
    if not isinstance(senses_raw, list) or not senses_raw:
        raise ScriptError(f"{where}: missing [[{table}.senses]] entries.")
    for i, entry in enumerate(senses_raw):
        count = entry.get("count") if isinstance(entry, dict) else None
        text = entry.get("text") if isinstance(entry, dict) else None
        if not (isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 9
                and isinstance(text, str) and text.strip()):
            raise ScriptError(
                f"{where}: {table}.senses entry {i + 1} needs count (1 to 9) and text."
            )
        key = entry.get("id", i + 1)
        if not (isinstance(key, str) and _ID.fullmatch(key)) and not (
                type(key) is int and key == i + 1):
            raise ScriptError(f"{where}: {table}.senses entry {i + 1}: id may use only "
                              "letters, digits, - and _.")
        lines.add(_id_of(f"{table}.senses", key), text)
        senses.append(Sense(count, text))
    return {"ground_intro": ground_intro, "senses": tuple(senses)}


def _read_body(doc: dict[str, Any], lines: _Lines, table: str) -> dict[str, Any]:
    return {"body_intro": lines.one(doc, f"{table}.intro"),
            "body_steps": lines.group(doc, f"{table}.steps")}


def _read_lines(doc: dict[str, Any], lines: _Lines, table: str) -> dict[str, Any]:
    return {"lines": lines.group(doc, f"{table}.lines")}


# The parts whose words are more than [NAME.lines], by their table: how each is read, into
# the Script's fields ("lines": the part's own lines, in part_lines).
_READERS: dict[str, Callable[[dict[str, Any], _Lines, str], dict[str, Any]]] = {
    "breathe": _read_breathe, "feel": _read_feel, "ground": _read_ground, "body": _read_body}
_MISSING = {"feel_pause": 0.0}  # the numbers of an optional part a script does not have


def parse_script(doc: dict[str, Any], where: str) -> Script:
    """The script of every registered part, read in the registry's order."""
    lines = _Lines(where)
    language = doc.get("language", "en")
    if not (isinstance(language, str) and _LANGUAGE.fullmatch(language)):
        raise ScriptError(f"{where}: language must be a language code such as \"en\" or "
                          "\"de\".")
    fields: dict[str, Any] = dict(_MISSING)
    part_lines: dict[str, tuple[str, ...]] = {}
    for part in registry.PARTS:
        if part.optional_words and part.words not in doc:
            part_lines[part.name] = ()
            continue
        words = _READERS.get(part.words, _read_lines)(doc, lines, part.words)
        if "lines" in words:
            part_lines[part.name] = words.pop("lines")
        fields.update(words)
    return Script(language=language, **fields, part_lines=part_lines,
                  lines=tuple(lines.pairs), where=where)


def parse_toml(where: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScriptError(f"{where}: is not valid TOML: {error}.") from None
    except RecursionError:
        raise ScriptError(f"{where}: is nested too deeply to read; a script is a few "
                          "[groups] of lines.") from None
