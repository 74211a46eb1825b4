"""Config fuzzing: random TOML documents (real and made-up sections and keys, values of every
TOML type), random text and random bytes, written to a file and loaded as the device does.

Whatever the file holds, loading it gives a valid Config (every value within its bounds) or
one ConfigError whose every problem is a single line naming the file; never any other
exception. `ebbtide check` on such files exits 0 or 2 and never shows a traceback.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import logging
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from device.cli import main
from device.core.config import BREATHING_MINUTES, MIN_BRIGHTNESS, RATE_RANGE, Config, ConfigError
from device.core.config_schema import _PATTERN_KEYS, _SCHEMA
from device.core.patterns import BUILT_IN
from device.files.config_file import load

SECTIONS = [*_SCHEMA, "patterns"]
REAL_KEYS = sorted({key for keys in _SCHEMA.values() for key in keys} | set(_PATTERN_KEYS))
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])

_cases = {"documents": 0, "valid": 0, "errors": 0, "text": 0, "bytes": 0, "paths": 0, "cli": 0}


@pytest.fixture(scope="module", autouse=True)
def report_count(tell):
    """Say how many fuzz cases this module ran (the closing note of issue 4 needs it)."""
    yield
    total = sum(v for k, v in _cases.items() if k not in ("valid", "errors"))
    line = (f"test_config_fuzz: {total} fuzz cases run: {_cases['documents']} TOML documents, "
            f"{_cases['text']} text files, {_cases['bytes']} byte files, {_cases['paths']} "
            f"paths, {_cases['cli']} through the CLI; load() gave {_cases['valid']} valid "
            f"configs and {_cases['errors']} config errors")
    tell(line)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Where the fuzzed config files are written (a relative voice.script starts here)."""
    return tmp_path_factory.mktemp("fuzz")


# -- strategies ---------------------------------------------------------------------------

ODD_STRINGS = ["", " ", "paced-exhale", "box", "4-7-8", "cyclic-sigh", "resonance", "mine",
               "22:30", "07:00", "24:00", "9:30", "12:60", "١٢:٣٠", "default", "hw:0,0", "~",
               "~/script.toml", "~nosuchuser/script.toml", "config.toml", ".", "/", "/dev/null",
               "x" * 300, "a\nb", "a\rb", "tab\there", "nul\x00", "é", "\u2028", "\ufeff"]
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda m: datetime.timezone(datetime.timedelta(minutes=m)))
scalars = st.one_of(
    st.text(max_size=12), st.sampled_from(ODD_STRINGS),
    st.integers(-(2**63), 2**63 - 1), st.integers(-5, 300),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 70),
    st.booleans(),
    st.datetimes(timezones=st.none() | st.just(datetime.UTC) | offsets),
    st.dates(), st.times(),
)
keys = st.sampled_from(REAL_KEYS + SECTIONS) | st.text(max_size=10)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=10)

# Plausible values for the real keys, so that many documents are valid or nearly so.
numbers = st.integers(-2, 70) | st.floats(-1, 65) | st.floats(allow_nan=True)
clock_times = st.builds("{:02d}:{:02d}".format, st.integers(0, 30), st.integers(0, 70))
pattern_names = st.sampled_from([*BUILT_IN, "mine", "slow"]) | st.text(max_size=6)
PLAUSIBLE: dict[str, st.SearchStrategy] = {
    "pattern": pattern_names, "minutes": numbers, "start_rate": numbers,
    "target_rate": numbers, "pin": st.integers(-1, 30), "max_brightness": numbers,
    "hold_seconds": numbers, "rate": st.integers(60, 270), "volume": numbers,
    "voice": st.text(max_size=8), "script": st.sampled_from(ODD_STRINGS),
    "device": st.text(max_size=6) | st.integers(-2, 8), "chime": st.booleans(),
    "tide": st.booleans(), "breath_sound": st.booleans(), "enabled": st.booleans(),
    "start": clock_times | st.sampled_from(ODD_STRINGS),
    "end": clock_times, "volume_scale": numbers, "brightness_scale": numbers,
}
plausible_pattern = st.fixed_dictionaries(
    {}, optional={key: st.integers(-1, 14) | st.floats(-1, 14) for key in _PATTERN_KEYS})
plausible = st.fixed_dictionaries({}, optional={
    **{name: st.fixed_dictionaries({}, optional={k: PLAUSIBLE.get(k, values) for k in table})
       for name, table in _SCHEMA.items()},
    "patterns": st.dictionaries(pattern_names, plausible_pattern | values, max_size=2),
})
anything = st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=10),
                           st.dictionaries(keys, values, max_size=6) | values, max_size=7)
extra = st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=10),
                        st.dictionaries(keys, values, max_size=2), max_size=2)
documents = plausible | anything | st.builds(lambda a, b: {**a, **b}, plausible, extra)

TOML_PIECES = ["[breathing]", "[light]", "[button]", "[voice]", "[audio]", "[night]",
               "[patterns.mine]", "[[patterns]]", "minutes = 3", "pattern = \"mine\"",
               "inhale = 4", "exhale = 8", "pin = 17", "= 1", "\"", "'", "[", "]", "{", "}",
               "\n", " ", "=", ".", "#", "nan", "inf", "1979-05-27T07:32:00Z", "0x1F",
               "\"\"\"", "\\u00e9", "\\", "true", "script = \"~nosuchuser\""]
toml_ish = st.lists(st.sampled_from(TOML_PIECES) | st.text(max_size=4), max_size=30).map("".join)


# -- writing TOML -------------------------------------------------------------------------


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"


def dump(document: dict[str, Any], headers: bool) -> str:
    """TOML text for a document: tables inline, or under [headers] after the plain keys."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in document.items()
             if not (headers and isinstance(v, dict))]
    for name, table in document.items():
        if headers and isinstance(table, dict):
            lines.append(f"[{_key(name)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _same(a: Any, b: Any) -> bool:
    """Equal, with nan equal to nan."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# -- the property -------------------------------------------------------------------------


def loaded(path: Path, shown: str) -> Config | ConfigError:
    """load(path): a valid Config or one clear ConfigError, else the test fails."""
    shown = shown if len(shown) < 600 else f"{shown[:300]} ... {shown[-100:]}"
    try:
        config = load(path)
    except ConfigError as error:
        _cases["errors"] += 1
        assert error.problems, f"a ConfigError without problems for:\n{shown}"
        for line in error.problems:
            assert isinstance(line, str) and line.strip(), shown
            assert str(path) in line, f"the problem does not name the file: {line!r}\n{shown}"
            assert "\n" not in line and "\r" not in line, \
                f"a problem that is not a single line: {line!r}\nfor the file:\n{shown}"
        return error
    except Exception as error:
        raise AssertionError(f"{type(error).__name__} escaped load(): {error}\n"
                             f"for the file:\n{shown}") from error
    _cases["valid"] += 1
    assert isinstance(config, Config)
    _assert_valid(config, path)
    return config


def _assert_valid(config: Config, path: Path) -> None:
    """A Config that loads is within every bound the device relies on."""
    assert config.source == path
    b = config.breathing
    assert BREATHING_MINUTES[0] <= b.minutes <= BREATHING_MINUTES[1]
    assert RATE_RANGE[0] <= b.target_rate <= RATE_RANGE[1]
    assert RATE_RANGE[0] <= b.start_rate <= RATE_RANGE[1]
    pattern = config.pattern()
    assert RATE_RANGE[0] <= pattern.rate <= RATE_RANGE[1] or pattern.paced
    if pattern.paced:
        assert b.target_rate <= b.start_rate
    for pin in (config.light.pin, config.button.pin):
        assert type(pin) is int and 0 <= pin <= 27
    assert config.light.pin != config.button.pin
    assert MIN_BRIGHTNESS <= config.light.max_brightness <= 1.0
    assert 0.5 <= config.button.hold_seconds <= 10.0
    assert type(config.voice.rate) is int and 80 <= config.voice.rate <= 250
    for volume in (config.voice.volume, config.audio.volume, config.night.volume_scale):
        assert 0.0 <= volume <= 1.0
    assert MIN_BRIGHTNESS <= config.night.brightness_scale <= 1.0
    config.night.scales(datetime.time(23, 0))  # the quiet hours parse


@settings(FUZZ, max_examples=3000)
@given(documents, st.booleans())
@example({"breathing": {"pattern": "a\nb"}}, True)
@example({"voice": {"script": "~nosuchuser/script.toml"}}, True)
@example({"voice": {"script": "x" * 300}}, False)
def test_any_toml_document_loads_as_a_config_or_one_clear_error(folder, document, headers):
    """Random documents with real and made-up sections, keys and values of every type."""
    _cases["documents"] += 1
    text = dump(document, headers)
    assert _same(tomllib.loads(text), document), "the fuzzer wrote TOML it did not mean"
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    loaded(path, text)


@settings(FUZZ, max_examples=1000)
@given(toml_ish | st.text(max_size=200))
def test_any_text_file_loads_as_a_config_or_one_clear_error(folder, text):
    """Random text and TOML-like fragments (half-valid documents, broken quotes and tables)."""
    _cases["text"] += 1
    path = folder / "text.toml"
    path.write_text(text, encoding="utf-8", newline="")
    loaded(path, text)


@settings(FUZZ, max_examples=800)
@given(st.binary(max_size=200) | toml_ish.map(lambda s: s.encode("utf-8") + b"\xff"))
def test_any_bytes_load_as_a_config_or_one_clear_error(folder, data):
    """Random bytes, including invalid UTF-8 after otherwise good TOML."""
    _cases["bytes"] += 1
    path = folder / "bytes.toml"
    path.write_bytes(data)
    loaded(path, repr(data))


@pytest.mark.parametrize("opening", ["[", "{a = ", "[{a = "])
def test_deeply_nested_toml_is_one_clear_error(folder, opening):
    """Arrays or inline tables nested far deeper than the parser's recursion limit."""
    _cases["text"] += 1
    closing = {"[": "]", "{a = ": "}", "[{a = ": "}]"}[opening]
    text = "x = " + opening * 20_000 + "1" + closing * 20_000 + "\n"
    path = folder / "deep.toml"
    path.write_text(text, encoding="utf-8")
    loaded(path, text)


@pytest.mark.parametrize("make", [
    lambda folder: folder / "missing.toml",
    lambda folder: folder,
    lambda folder: (folder / "sub").mkdir(exist_ok=True) or folder / "sub",
])
def test_a_path_that_is_no_file_is_one_clear_error(folder, make):
    """A missing file or a directory is a ConfigError naming the path."""
    _cases["paths"] += 1
    assert isinstance(loaded(make(folder), "(not a file)"), ConfigError)


@settings(FUZZ, max_examples=25)
@given(plausible | anything, st.booleans())
@example({"light": {"pin": 17}}, True)
@example({"breathing": {"minutes": 2}}, False)
def test_ebbtide_check_exits_zero_or_two_without_a_traceback(folder, document, headers):
    """`ebbtide check --config FILE` on fuzzed files: 0 or 2, one clear line per problem."""
    _cases["cli"] += 1
    text = dump(document, headers)
    path = folder / "cli.toml"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", "--config", str(path)])
    finally:
        root.handlers[:], root.level = handlers, level  # main() sets up its own logging
    said = out.getvalue() + err.getvalue()
    assert code in (0, 2), f"exit {code} for the file:\n{text}\nit said:\n{said}"
    assert "Traceback" not in said, said
    if code == 2 and err.getvalue().startswith("ebbtide: invalid config:"):
        for line in err.getvalue().rstrip("\n").split("\n")[1:]:
            assert line.startswith(f"  {path}: "), f"{line!r} in:\n{said}"
