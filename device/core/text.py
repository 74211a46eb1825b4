"""Small pieces of text said the same way everywhere: a "did you mean", a duration as m:ss,
and a language's family."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a mistyped `word`, if one is close enough to suggest."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """' Did you mean PREFIXchoice?' for the nearest choice, or "" if none is near."""
    match = nearest(word, choices)
    return f" Did you mean {prefix}{match}?" if match else ""


def minutes_text(seconds: float) -> str:
    """Seconds as m:ss, rounded to the second ("9:19")."""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def language_family(language: str) -> str:
    """"de" of "de", "de-AT" or "de_AT"."""
    return language.split("-")[0].split("_")[0].lower()
