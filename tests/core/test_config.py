"""Config: defaults, the search order, and one clear message for every kind of bad input."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from device.core.config import Config, ConfigError
from device.core.config_schema import parse
from device.files.config_file import find, load, load_config


def write(tmp_path, text: str, name: str = "config.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def test_an_empty_file_gives_the_defaults(tmp_path):
    config = load(write(tmp_path, ""))
    assert config.breathing.pattern == "paced-exhale"
    assert (config.breathing.start_rate, config.breathing.target_rate) == (8.0, 6.0)
    assert (config.light.pin, config.button.pin, config.button.hold_seconds) == (18, 17, 2.0)
    assert config.source == tmp_path / "config.toml"


def test_values_land_in_frozen_dataclasses(tmp_path):
    config = load(write(tmp_path, """
        [breathing]
        pattern = "mine"
        minutes = 3
        [patterns.mine]
        inhale = 3
        hold_in = 1
        exhale = 6
        [light]
        max_brightness = 0.5
        [voice]
        voice = "gmw/en-us"
        rate = 120
        [audio]
        device = 2
    """))
    assert config.breathing.minutes == 3.0
    assert config.pattern().seconds == 10.0
    assert config.light.max_brightness == 0.5
    assert config.audio.device == 2
    with pytest.raises(AttributeError):
        config.light.pin = 4  # type: ignore[misc]


def test_search_order(tmp_path, monkeypatch):
    home = tmp_path / "home"
    user = home / ".config/ebbtide/config.toml"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("EBBTIDE_CONFIG", raising=False)
    explicit = write(tmp_path, "[light]\npin = 5\n", "explicit.toml")
    from_env = write(tmp_path, "[light]\npin = 6\n", "env.toml")
    user.parent.mkdir(parents=True)
    user.write_text("[light]\npin = 7\n")
    monkeypatch.setenv("EBBTIDE_CONFIG", str(from_env))
    assert load_config(explicit).light.pin == 5
    assert load_config(None).light.pin == 6
    monkeypatch.delenv("EBBTIDE_CONFIG")
    assert load_config(None).light.pin == 7
    user.unlink()
    assert find(None) in (None, __import__("pathlib").Path("/etc/ebbtide/config.toml"))


def test_an_explicit_file_that_is_missing_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_out_of_range_names_file_key_value_and_range(tmp_path):
    message = error_for(tmp_path, "[breathing]\nminutes = 90\n")
    assert "breathing.minutes = 90" in message
    assert "from 1 to 50" in message


def test_safety_bounds_on_patterns(tmp_path):
    message = error_for(tmp_path, "[patterns.fast]\ninhale = 9\nexhale = 20\nhold_in = -1\n")
    assert "patterns.fast.inhale = 9" in message and "from 1 to 8" in message
    assert "patterns.fast.exhale = 20" in message and "from 1 to 12" in message
    assert "patterns.fast.hold_in = -1" in message and "from 0 to 8" in message


def test_a_pattern_must_exhale_at_least_as_long_as_it_inhales(tmp_path):
    message = error_for(tmp_path, "[patterns.short]\ninhale = 5\nexhale = 3\n")
    assert "patterns.short.exhale = 3" in message and "at least the inhale" in message


def test_a_pattern_rate_outside_three_to_twelve_is_refused(tmp_path):
    too_slow = error_for(tmp_path, "[patterns.slow]\ninhale = 8\nhold_in = 8\nexhale = 12\n"
                                   "hold_out = 8\n")
    assert "patterns.slow" in too_slow and "3 to 12 breaths per minute" in too_slow
    too_fast = error_for(tmp_path, "[patterns.quick]\ninhale = 1\nexhale = 1.5\n")
    assert "patterns.quick" in too_fast and "24 breaths per minute" in too_fast


def test_paced_exhale_rates_keep_the_exhale_within_twelve_seconds(tmp_path):
    message = error_for(tmp_path, "[breathing]\nstart_rate = 3\ntarget_rate = 3\n")
    assert "breathing.start_rate = 3" in message and "3.4 to 12" in message
    assert "13.3 s" in message


def test_the_pace_only_slows(tmp_path):
    message = error_for(tmp_path, "[breathing]\nstart_rate = 6\ntarget_rate = 9\n")
    assert "breathing.target_rate = 9" in message and "at most breathing.start_rate" in message


def test_unknown_key_suggests_the_nearest(tmp_path):
    message = error_for(tmp_path, "[breathing]\nminuts = 5\n")
    assert "unknown key breathing.minuts = 5" in message
    assert "Did you mean breathing.minutes?" in message


def test_unknown_section_suggests_the_nearest(tmp_path):
    message = error_for(tmp_path, "[lihgt]\npin = 4\n")
    assert "unknown key lihgt" in message and "Did you mean light?" in message


def test_unknown_pattern_name_lists_the_choices(tmp_path):
    message = error_for(tmp_path, '[breathing]\npattern = "paced-exale"\n')
    assert 'breathing.pattern = "paced-exale"' in message
    assert "Did you mean paced-exhale?" in message and "box" in message


def test_wrong_types(tmp_path):
    message = error_for(tmp_path, '[light]\npin = "18"\nmax_brightness = true\n'
                                  '[voice]\nrate = 1.5\n')
    assert 'light.pin = "18"' in message and "whole number from 0 to 27" in message
    assert "light.max_brightness = true" in message
    assert "voice.rate = 1.5" in message
    assert len(message.splitlines()) == 3


def test_a_section_that_is_not_a_table(tmp_path):
    assert "light = 3" in error_for(tmp_path, "light = 3\n")


def test_toml_syntax_error_gives_the_line(tmp_path):
    message = error_for(tmp_path, "[breathing]\nminutes = \n")
    assert "not valid TOML" in message and "line 2" in message


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(binary)


def test_the_light_and_button_need_different_pins(tmp_path):
    assert "button.pin = 18" in error_for(tmp_path, "[button]\npin = 18\n")


def test_the_example_config_is_valid_and_documents_every_key():
    from pathlib import Path

    from device.core.config_schema import _PATTERN_KEYS, _SCHEMA

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    config = load(example)
    assert isinstance(config, Config)
    text = example.read_text()
    for section, keys in _SCHEMA.items():
        assert f"[{section}]" in text
        for key in keys:
            assert f"{key} =" in text, f"{section}.{key} is not documented"
    for key in _PATTERN_KEYS:
        assert f"{key} =" in text


def test_a_script_path_starts_from_the_config_folder(tmp_path):
    (tmp_path / "words.toml").write_text("")
    config = load(write(tmp_path, '[voice]\nscript = "words.toml"\n'))
    assert config.voice.script == str(tmp_path / "words.toml")
    message = error_for(tmp_path, '[voice]\nscript = "missing.toml"\n')
    assert 'voice.script = "missing.toml"' in message
    assert f"{tmp_path / 'missing.toml'} is not a file" in message


def test_a_pin_clash_blames_the_key_that_was_set(tmp_path):
    message = error_for(tmp_path, "[light]\npin = 17\n")
    assert "light.pin = 17" in message and "other than button.pin (17)" in message


@pytest.mark.parametrize(("start", "end", "now", "quiet"), [
    ("21:00", "07:00", "23:30", True),
    ("21:00", "07:00", "03:00", True),
    ("21:00", "07:00", "07:00", False),
    ("21:00", "07:00", "12:00", False),
    ("13:00", "15:00", "14:59", True),
    ("13:00", "15:00", "12:59", False),
    ("22:00", "22:00", "22:00", False),
])
def test_quiet_hours_may_run_over_midnight(start, end, now, quiet):
    night = parse({"night": {"start": start, "end": end}}).night
    assert night.active(datetime.time.fromisoformat(now)) is quiet
    scales = (night.volume_scale, night.brightness_scale) if quiet else (1.0, 1.0)
    assert night.scales(datetime.time.fromisoformat(now)) == scales


def test_night_and_audio_values_are_checked(tmp_path):
    problems = error_for(tmp_path, '[night]\nstart = "9pm"\nbrightness_scale = 0.1\n'
                                   '[audio]\nbreath_sound = "yes"\nvolume = 1.5\n').splitlines()
    assert any('night.start = "9pm"' in p and '"HH:MM"' in p for p in problems)
    assert any("night.brightness_scale = 0.1" in p and "0.2 to 1" in p for p in problems)
    assert any('audio.breath_sound = "yes"' in p and "true or false" in p for p in problems)
    assert any("audio.volume = 1.5" in p and "0 to 1" in p for p in problems)


def test_voice_paths_start_from_the_config_folder_and_are_checked(tmp_path):
    (tmp_path / "voice.onnx").write_bytes(b"\x08\x08\x12\x07pytorch")  # how an ONNX file opens
    (tmp_path / "voice.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    config = load(write(tmp_path, '[voice]\nengine = "piper"\nmodel = "voice.onnx"\n'
                                  'recordings = "not-yet"\n'))
    assert config.voice.model == str(tmp_path / "voice.onnx")
    assert config.voice.recordings == str(tmp_path / "not-yet")  # `ebbtide record` makes it
    (tmp_path / "afile").write_text("")
    message = error_for(tmp_path, '[voice]\nrecordings = "afile"\n')
    assert 'voice.recordings = "afile"' in message and "is not a folder" in message
    message = error_for(tmp_path, '[voice]\nengine = "festival"\n')
    assert 'voice.engine = "festival"' in message and '"auto" or "piper" or "espeak"' in message


def test_a_bad_voice_model_is_an_error_that_leaves_the_rest_usable(tmp_path):
    (tmp_path / "lonely.onnx").write_bytes(b"model")  # no .onnx.json beside it
    path = write(tmp_path, '[voice]\nmodel = "lonely.onnx"\nrate = 120\n[light]\npin = 12\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    [problem] = caught.value.problems
    assert f"{path}: voice.model = \"lonely.onnx\"" in problem
    assert "lonely.onnx.json beside it" in problem
    usable = caught.value.usable
    assert usable is not None and usable.voice.engine == "espeak" and usable.voice.model == ""
    assert usable.voice.rate == 120 and usable.light.pin == 12
    both = write(tmp_path, '[voice]\nmodel = "lonely.onnx"\n[light]\npin = 99\n')
    with pytest.raises(ConfigError) as caught:
        load(both)
    assert caught.value.usable is None and len(caught.value.problems) == 2


def test_paths_in_a_config_named_relatively_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[voice]\nrecordings = "rec"\n')
    config = load(Path("config.toml"))
    assert config.voice.recordings == str(tmp_path / "rec")


@pytest.mark.parametrize(("parts", "expected"), [
    (["arrive", "grond", "close"], '("grond" is not one of them. Did you mean "ground"?)'),
    (["arrive", "breathe", "breathe", "close"], 'each part once ("breathe" is there 2 times)'),
    (["arrive", "close", "breathe"], 'a list that ends with "close": the light fades off'),
    ("breathe", "a list of part names from arrive, breathe, feel, ground, body, aftercare, "
                "partner, close, ending with close"),
])
def test_session_parts_are_checked_and_named(tmp_path, parts, expected):
    path = tmp_path / "config.toml"
    path.write_text(f"[session]\nparts = {json.dumps(parts)}\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: session.parts = ") and expected in problem


def test_a_breathing_only_session_and_a_built_in_translation_are_valid(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[session]\nparts = ["arrive", "breathe", "close"]\n'
                    '[voice]\nscript = "de"\n')
    config = load(path)
    assert config.session.parts == ("arrive", "breathe", "close")
    assert config.voice.script == "de"
    path.write_text('[voice]\nscript = "fr"\n')
    with pytest.raises(ConfigError, match=r'voice.script = "fr" is not allowed: use the path '
                                          r'of a script file, or the language of a built-in '
                                          r'script \("en", "de"\)'):
        load(path)


def test_rgb_keys_are_checked(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[light]\nkind = "rgb"\npins = [18, 23, 17]\ncolor = "amber"\n'
                    'night_color = "#FF7E00"\ncommon = "anode"\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    problems = caught.value.problems
    assert f'{path}: light.color = "amber" is not allowed: use a colour as "#rrggbb", such as ' \
           '"#ff7e00" (amber).' in problems
    assert f"{path}: light.pins = [18, 23, 17] is not allowed: use pins other than button.pin " \
           "(17)." in problems
    path.write_text('[light]\nkind = "rgb"\npins = [18, 23, 24]\nnight_color = "#FF7E00"\n')
    config = load(path)
    assert config.light.pins == (18, 23, 24) and config.light.night_color == "#ff7e00"
    path.write_text('[light]\npins = [18, 18, 24]\n')
    with pytest.raises(ConfigError, match="three different GPIO numbers"):
        load(path)


def test_the_wearable_profile_sets_defaults_that_the_file_can_still_change(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[profile]\nname = "wearable"\n')
    config = load(path)
    assert config.haptic.pin == 12 and config.light.max_brightness == 0.2
    path.write_text('[profile]\nname = "wearable"\n[haptic]\npin = 5\nstrength = 0.5\n')
    config = load(path)
    assert (config.haptic.pin, config.haptic.strength) == (5, 0.5)
    path.write_text('[profile]\nname = "watch"\n[haptic]\npin = 18\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert f'{path}: profile.name = "watch" is not allowed: use "bedside" or "wearable".' \
        in caught.value.problems
    assert any("haptic.pin = 18 is not allowed: use a pin of its own" in p
               for p in caught.value.problems)
    path.write_text('[haptic]\npin = 12\nstrength = 0.3\nstart_duty = 0.4\n')
    with pytest.raises(ConfigError, match="haptic.start_duty = 0.4 is not allowed: use less "
                                          r"than haptic.strength \(0.3\)"):
        load(path)


@pytest.mark.parametrize(("text", "said"), [
    # A list where a name belongs: it stopped every command with "unhashable type: 'list'".
    ('[profile]\nname = ["wearable"]\n',
     'profile.name = ["wearable"] is not allowed: use "bedside" or "wearable".'),
    ("[profile]\nname = {kind = 1}\n", "profile.name = a table is not allowed"),
    # A number no PortAudio takes: `check` and `run` stopped with "int too big to convert".
    ("[audio]\ndevice = 99999999999999999999\n",
     "audio.device = 99999999999999999999 is not allowed: use a device name in quotes, or a "
     'device number from 0 to 999 ("" for the default).'),
    ("[audio]\ndevice = 1000\n", "audio.device = 1000 is not allowed"),
    # A NUL in a name or path: no file can be opened by it; shown escaped, on one line.
    ('[voice]\nrecordings = "a\\u0000b"\n', 'voice.recordings = "a\\x00b" is not allowed: use '
                                            "a quoted string without control characters."),
    ('[audio]\ndevice = "hw\\u001b[0m"\n', 'audio.device = "hw\\x1b[0m" is not allowed'),
])
def test_a_value_of_the_wrong_kind_or_size_is_one_line_naming_it(tmp_path, text, said):
    message = error_for(tmp_path, text)
    assert said in message and "\n" not in message and "\x00" not in message


def test_a_config_that_never_ends_is_refused_after_a_megabyte(tmp_path):
    """`--config /dev/zero` read until memory ran out, then "unexpected error"."""
    with pytest.raises(ConfigError, match=r"/dev/zero: is not a config file: it holds more "
                                          r"than 1 MB \(a config file is a few kilobytes"):
        load(Path("/dev/zero"))
    assert load(write(tmp_path, "# a note\n" * 1000)) == Config(source=tmp_path / "config.toml")


def test_no_breath_sensor_by_default_and_each_part_has_its_own_address():
    assert parse({}).sensor.kind == "none" and parse({}).sensor.chip_address is None
    assert parse({"sensor": {"kind": "lsm6dsox"}}).sensor.chip_address == 0x6A
    assert parse({"sensor": {"kind": "mpu6050"}}).sensor.chip_address == 0x68
    assert parse({"sensor": {"kind": "mpu6050", "address": 0x69}}).sensor.chip_address == 0x69


def test_a_sensor_address_the_part_cannot_have_is_refused_naming_the_allowed(tmp_path):
    message = error_for(tmp_path, '[sensor]\nkind = "mpu6050"\naddress = 0x6A\n')
    assert message == (f"{tmp_path / 'config.toml'}: sensor.address = 106 is not allowed: use "
                       '0x68 (104) or 0x69 (105) for kind = "mpu6050" (its address pin low or '
                       "high), or no address for the part's default.")


@pytest.mark.parametrize(("text", "said"), [
    ('kind = "bmi160"', 'sensor.kind = "bmi160" is not allowed: use "none" or "lsm6ds3trc" or '
                        '"lsm6dsox" or "mpu6050".'),
    ("rate_hz = 100", "sensor.rate_hz = 100 is not allowed: use a whole number from 25 to 50 "
                      "samples a second."),
    ("bus = -1", "sensor.bus = -1 is not allowed: use a whole number from 0 to 255 "
                 "(/dev/i2c-N)."),
    ('addres = 0x6B', "unknown key sensor.addres = 107. Did you mean sensor.address?"),
])
def test_a_bad_sensor_key_is_one_line_naming_the_file_key_value_and_what_is_allowed(
        tmp_path, text, said):
    message = error_for(tmp_path, f"[sensor]\n{text}\n")
    assert message.startswith(f"{tmp_path / 'config.toml'}: {said}"), message
    assert "\n" not in message
