"""`ebbtide card`: what goes on the printed card to keep by the bed.

The device has no screen and its voice never mentions therapy, so help must reach the person
on paper: the gestures, what the light and the sound do, what a session holds, when to look
for help, and the crisis and domestic-violence lines of their country (device/helplines.toml),
each with the date it was checked. Pure: config and country in, text out; the drawing is
device/pictures/card.py. The card's language follows the script (English or German).
"""

from __future__ import annotations

import datetime
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from device.core import parts as registry
from device.core.config import Config
from device.core.errors import EbbtideError
from device.core.text import language_family


class CardError(EbbtideError):
    """The card cannot be made as asked; the message is one plain line."""


@dataclass(frozen=True)
class Helpline:
    kind: str  # "crisis" or "domestic-violence"
    name: str
    number: str
    hours: str
    note: str
    checked: datetime.date


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    emergency: str
    lines: tuple[Helpline, ...]
    therapist: str  # how to find a qualified therapist
    sex_therapist: str  # and a certified sex therapist

    @property
    def checked(self) -> datetime.date:
        """The oldest check of its lines: the card says the numbers are as of then."""
        return min(line.checked for line in self.lines)


@dataclass(frozen=True)
class Section:
    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Card:
    language: str
    title: str
    sections: tuple[Section, ...]
    footer: str


# Locales whose territory is not the table's code.
_TERRITORY = {"gb": "uk"}


def countries() -> dict[str, Country]:
    """The countries of the shipped table, by code."""
    text = resources.files("device.words").joinpath("helplines.toml").read_text(encoding="utf-8")
    return {code: _country(code, table) for code, table in tomllib.loads(text).items()}


def _country(code: str, table: Mapping[str, Any]) -> Country:
    lines = tuple(Helpline(row["kind"], row["name"], row["number"], row["hours"],
                           row.get("note", ""), row["checked"]) for row in table["lines"])
    therapists = table["therapists"]
    return Country(code, str(table["name"]), str(table["emergency"]), lines,
                   therapists["general"], therapists["sex_therapy"])


def country_from_locale(environ: Mapping[str, str] = os.environ) -> str | None:
    """The country of the user's locale ("en_GB.UTF-8" is uk), if the table has it."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            territory = value.split(".")[0].partition("_")[2].lower()
            code = _TERRITORY.get(territory, territory)
            return code if code in countries() else None
    return None


_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Ebbtide, by the bed",
        "button": "The button",
        "press": "Press: a session starts. Press during one: the next part.",
        "hold": "Hold for {hold} seconds: the session ends gently; the light fades off.",
        "follow": "Following it",
        "light": ("Breathe in as the light grows and the tide swells; breathe out slowly as "
                  "they fade. Eyes open or shut: either works."),
        "light only": "Breathe in as the light grows; breathe out slowly as it fades.",
        "session": "A session, about {minutes} minutes",
        "help": "When to look for help",
        "when": ("If the distress comes with regret, shame, feeling worthless or fear of a "
                 "partner, or if it happens every time, a qualified therapist can help."),
        "therapist": "Finding one: {text}",
        "sex": "After intimacy: {text}",
        "lines": "Lines in {country}",
        "emergency": "In danger: {number}",
        "checked": ("Checked on {date}. Numbers change: check that they are still current "
                    "before you need them."),
    },
    "de": {
        "title": "Ebbtide, am Bett",
        "button": "Der Knopf",
        "press": "Drücken: eine Sitzung beginnt. Während einer Sitzung: der nächste Teil.",
        "hold": ("{hold} Sekunden halten: die Sitzung endet sanft, das Licht geht langsam "
                 "aus."),
        "follow": "Mitgehen",
        "light": ("Einatmen, wenn das Licht stärker wird und die Welle anschwillt; langsam "
                  "ausatmen, wenn beide nachlassen. Mit offenen oder geschlossenen Augen."),
        "light only": "Einatmen, wenn das Licht stärker wird; langsam ausatmen, wenn es "
                      "nachlässt.",
        "session": "Eine Sitzung, etwa {minutes} Minuten",
        "help": "Wann Hilfe guttut",
        "when": ("Wenn die Not mit Reue, Scham, dem Gefühl, wertlos zu sein, oder Angst vor "
                 "dem Partner kommt, oder jedes Mal: Eine Therapeutin oder ein Therapeut kann "
                 "helfen."),
        "therapist": "Wo du Hilfe findest: {text}",
        "sex": "Nach Intimität: {text}",
        "lines": "Telefone in {country}",
        "emergency": "In Gefahr: {number}",
        "checked": ("Geprüft am {date}. Nummern ändern sich: prüfe, ob sie noch stimmen, "
                    "bevor du sie brauchst."),
    },
}
_KINDS = {
    "en": {"crisis": "someone to talk to", "domestic-violence": "violence at home"},
    "de": {"crisis": "jemand zum Reden", "domestic-violence": "Gewalt zu Hause"},
}
# Each part in the card's words; a part without them here is the registry's one line.
_PARTS = {
    "en": {"arrive": "arriving", "breathe": "slow breathing", "feel": "noticing the feeling",
           "ground": "grounding: 5 things you see, 4 you touch, 3 you hear, 2 you smell, 1 "
                     "you taste",
           "body": "the body: jaw, shoulders, hands, belly",
           "aftercare": "aftercare: water, warmth, what you need",
           "partner": "a few words for whoever is beside you", "close": "goodbye"},
    "de": {"arrive": "ankommen", "breathe": "langsam atmen", "feel": "das Gefühl wahrnehmen",
           "ground": "Erdung: 5 Dinge sehen, 4 berühren, 3 hören, 2 riechen, 1 schmecken",
           "body": "der Körper: Kiefer, Schultern, Hände, Bauch",
           "aftercare": "Nachsorge: Wasser, Wärme, was du brauchst",
           "partner": "ein paar Worte für den Menschen neben dir", "close": "Abschied"},
}


def card_language(script_language: str) -> str:
    """The card's language: the script's, where the card has words for it; else English."""
    family = language_family(script_language)
    return family if family in _TEXT else "en"


def make_card(config: Config, country: Country, language: str, minutes: float) -> Card:
    """The card for a household: its gestures, its session's parts, its country's lines."""
    text, kinds, parts = _TEXT[language], _KINDS[language], _PARTS[language]
    lines = []
    for line in country.lines:
        note = f"; {line.note}" if line.note else ""
        lines.append(f"{line.number}: {line.name} ({kinds.get(line.kind, line.kind)}), "
                     f"{line.hours}{note}")
    lines.append(text["emergency"].format(number=country.emergency))
    return Card(
        language=language,
        title=text["title"],
        sections=(
            Section(text["button"], (text["press"], text["hold"].format(
                hold=f"{config.button.hold_seconds:g}"))),
            Section(text["follow"], (text["light" if config.audio.tide else "light only"],)),
            Section(text["session"].format(minutes=round(minutes)),
                    ("; ".join(parts.get(p) or registry.named(p).about
                               for p in config.session.parts) + ".",)),
            Section(text["help"], (text["when"],
                                   text["therapist"].format(text=country.therapist),
                                   text["sex"].format(text=country.sex_therapist))),
            Section(text["lines"].format(country=country.name), tuple(lines)),
        ),
        footer=text["checked"].format(date=country.checked.isoformat()),
    )
