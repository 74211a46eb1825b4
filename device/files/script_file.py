"""Reading a script: a built-in one by its language (device/words/script.toml and its
translations, as package resources) or a file named by its path. Parsing and checking the
words is the core's (device/core/script.py).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from device.core.script import Script, ScriptError, parse_script, parse_toml

BUILT_IN_DIR = "device.words"


def built_in_languages() -> list[str]:
    """The languages of the scripts shipped with Ebbtide: "en" and its translations."""
    names = [f.name for f in resources.files(BUILT_IN_DIR).iterdir()]
    return ["en", *sorted(n[len("script-"):-len(".toml")] for n in names
                          if n.startswith("script-") and n.endswith(".toml"))]


def is_built_in(name: str) -> bool:
    """Whether `[voice] script = name` names a shipped script ("", "en", "de") not a file."""
    return name == "" or name in built_in_languages()


def read_script(path: str | Path = "") -> tuple[str, str]:
    """(where, text) of a script file, or of a built-in script by language ("" is English)."""
    name = str(path)
    if is_built_in(name):
        file = "script.toml" if name in ("", "en") else f"script-{name}.toml"
        where = "the built-in script" + (f" ({name})" if name not in ("", "en") else "")
        return where, resources.files(BUILT_IN_DIR).joinpath(file).read_text(encoding="utf-8")
    try:
        return name, Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScriptError(f"{name}: cannot read the script: {error}.") from None


def load_script(path: str | Path = "") -> Script:
    """Load the script at `path`, or a built-in one by language (empty: English)."""
    where, text = read_script(path)
    return parse_script(parse_toml(where, text), where)
