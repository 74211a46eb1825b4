"""Script fuzzing: the built-in script with random edits (lines changed, added or taken out,
numbers and texts swapped for odd and hostile values: control characters, punctuation,
huge, negative and non-finite numbers, lists and tables where text belongs), written as a
TOML file and loaded as the device does.

Whatever the file holds, the loader refuses it with one ScriptError line naming the file,
or the script plans: within the session limit (or refused in one line that says so), with
every line of the session's parts either placed in the plan or named by `script check`.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from device.commands.script_check import check_script
from device.core.config import SESSION_MINUTES, Config, ConfigError
from device.core.config_schema import parse
from device.core.plan import plan_session
from device.core.script import Script, ScriptError
from device.files.script_file import load_script

TEMPLATE = tomllib.loads(resources.files("device.words").joinpath("script.toml").read_text())
FUZZ = settings(max_examples=800, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
CONFIGS = [Config(), parse({"breathing": {"minutes": 50}}), parse({"voice": {"rate": 80}}),
           parse({"breathing": {"pattern": "box", "minutes": 2}}),
           parse({"session": {"parts": ["arrive", "breathe", "feel", "ground", "body",
                                        "aftercare", "partner", "close"]}})]

_cases = {"scripts": 0, "refused": 0, "planned": 0, "too long": 0}


@pytest.fixture(scope="module", autouse=True)
def report_count(tell):
    yield
    tell(f"test_script_fuzz: {_cases['scripts']} scripts: {_cases['refused']} refused by the "
         f"loader, {_cases['planned']} planned, {_cases['too long']} over the session limit")


# -- a small TOML writer (the standard library only reads TOML) --------------------------

def _toml_string(text: str) -> str:
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or c == "\x7f"
                      else "\\" + c if c in '"\\' else c for c in text)
    return f'"{escaped}"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}"
                           for k, v in value.items()) + "}"


def to_toml(document: dict[str, Any]) -> str:
    return "".join(f"{_toml_string(k)} = {_toml_value(v)}\n" for k, v in document.items())


# -- strategies ---------------------------------------------------------------------------

def _places(node: Any, path: tuple = ()) -> list[tuple]:
    """Every place in the template: tables, their keys, the senses and their fields."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for i, value in enumerate(node):
            found += _places(value, (*path, i))
    return found


PLACES = _places(TEMPLATE)


def _at(place: tuple) -> Any:
    node: Any = TEMPLATE
    for key in place:
        node = node[key]
    return node


GROUPS = [p for p in PLACES if isinstance(_at(p), dict) and _at(p)
          and all(isinstance(v, str) for v in _at(p).values())]
NUMBER_PLACES = [p for p in PLACES if isinstance(_at(p), int | float)]
LINE_PLACES = [p for p in PLACES if isinstance(_at(p), str) and p[-1] not in ("language", "id")]
HOSTILE_TEXT = ["", " ", "...", "?!", "—", "nul\x00here", "bell\x07", "esc\x1b[31m", "del\x7f",
                "tab\tand\nline", "\u200b", "\ufeff", "ok", "Breathe in.", "1", "word " * 200,
                "x" * 3000, "a" * 25, "Slowly out, as it fades."]
words = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 3, 9, 10, 20, 21, 45, 60, 61, 600, 601, -1, 10**20,
                                     1e300, -0.0, 0.5, 6.0]),
                    st.integers(-(2**63), 2**63 - 1))
texts = st.one_of(st.sampled_from(HOSTILE_TEXT), words)
values = st.one_of(
    texts, numbers, st.booleans(),
    st.lists(texts, max_size=3), st.dictionaries(st.from_regex(r"[a-z-]{1,6}", fullmatch=True),
                                                 texts, max_size=3),
    st.just([]), st.just({}),
)
edits = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(NUMBER_PLACES), numbers),
    st.tuples(st.just("set"), st.sampled_from(LINE_PLACES), texts),
    st.tuples(st.just("set"), st.sampled_from(PLACES), values),
    st.tuples(st.just("drop"), st.sampled_from(PLACES), st.none()),
    st.tuples(st.just("add"), st.sampled_from(GROUPS),
              st.tuples(st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True) | st.text(max_size=4),
                        texts)),
    st.tuples(st.just("many"), st.sampled_from(GROUPS), st.integers(1, 400)),
)


def _edited(edit_list: list[tuple]) -> dict[str, Any]:
    document = copy.deepcopy(TEMPLATE)
    for kind, place, value in edit_list:
        node: Any = document
        try:
            for key in place[:-1]:
                node = node[key]
            last = place[-1]
            if kind == "set":
                node[last] = value
            elif kind == "drop":
                del node[last]
            elif kind == "add":
                node[last][value[0]] = value[1]
            else:
                node[last].update({f"more-{n}": f"And {n} more." for n in range(value)})
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # the place was already changed by an earlier edit
    return document


def _session(config: Config, script: Script) -> Config:
    """The session `ebbtide run` has: without parts the script has no words for."""
    from dataclasses import replace

    parts = tuple(p for p in config.session.parts
                  if p not in ("feel", "partner") or getattr(script, p))
    return replace(config, session=replace(config.session, parts=parts))


@FUZZ
@example(edit_list=[("set", ("feel", "pause_seconds"), math.nan)], config=CONFIGS[0])
@example(edit_list=[("set", ("feel", "pause_seconds"), 1e300)], config=CONFIGS[0])
@example(edit_list=[("set", ("breathe", "cue_breaths"), math.inf)], config=CONFIGS[0])
@example(edit_list=[("set", ("arrive", "lines", "here"), "...")], config=CONFIGS[0])
@example(edit_list=[("set", ("close", "lines", "button"), "Sleep\x00 well.")],
         config=CONFIGS[0])
@example(edit_list=[("set", ("arrive", "lines", "here"), "word " * 5000)], config=CONFIGS[0])
@example(edit_list=[("add", ("arrive", "lines"), ("\n", ""))], config=CONFIGS[0])
@given(edit_list=st.lists(edits, max_size=4), config=st.sampled_from(CONFIGS))
def test_any_script_is_refused_in_one_line_or_plans_every_line_within_the_limit(
        tmp_path_factory, edit_list, config):
    folder: Path = tmp_path_factory.mktemp("script", numbered=True)
    path = folder / "script.toml"
    path.write_text(to_toml(_edited(edit_list)), encoding="utf-8")
    _cases["scripts"] += 1
    try:
        script = load_script(path)
    except ScriptError as error:
        _cases["refused"] += 1
        message = str(error)
        assert "\n" not in message and message.startswith(f"{path}: "), message
        return
    session = _session(config, script)
    try:
        plan = plan_session(session, script, {})
    except ConfigError as error:
        _cases["too long"] += 1
        [problem] = error.problems
        assert f"within {SESSION_MINUTES[1]:g} min" in problem and "\n" not in problem
        return
    _cases["planned"] += 1
    assert 0 < plan.seconds <= SESSION_MINUTES[1] * 60
    assert [p.name for p in plan.parts] == list(session.session.parts)
    assert all(math.isfinite(c.at) and c.at >= 0 for c in plan.cues)
    for cue in plan.cues:  # what the voice is given can be spoken, in a bounded time
        assert any(c.isalnum() for c in cue.text), cue.text
        assert not [c for c in cue.text if unicodedata.category(c) == "Cc" and c not in "\t\n\r"]
        assert cue.seconds <= 60
    spoken = {cue.text for cue in plan.cues}
    report = check_script(config, str(path))
    said = "\n".join(report.errors + report.notes)
    cue_phase = {"breathe.inhale": "inhale", "breathe.exhale": "exhale", "breathe.hold": "hold"}
    for line_id, text in script.lines:
        if line_id.split(".", 1)[0] not in session.session.parts or text in spoken:
            continue
        phase = cue_phase.get(line_id.rsplit(".", 1)[0])
        named = re.search(rf"(?<![\w.-]){re.escape(line_id)}(?![\w.-])", said)
        assert named or (phase is not None and f"has no {phase}" in said), (line_id, said)
