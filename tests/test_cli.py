"""The `ebbtide` command as a person meets it: clear messages, exit codes, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]


def ebbtide(*args, env=None, **kwargs):
    environment = {**os.environ, **(env or {})}
    environment.pop("EBBTIDE_CONFIG", None)
    return subprocess.run([*EBBTIDE, *args], capture_output=True, text=True, env=environment,
                          timeout=120, **kwargs)


@pytest.mark.parametrize(("text", "expected"), [
    ("[breathing]\nminutes = 90\n", "breathing.minutes = 90 is not allowed: use a number from 1"),
    ("[breathing]\nminuts = 5\n", "Did you mean breathing.minutes?"),
    ('[light]\npin = "x"\n', 'light.pin = "x" is not allowed: use a whole number'),
    ("[breathing\n", "is not valid TOML"),
    ("[patterns.p]\ninhale = 4\nexhale = 2\n", "patterns.p.exhale = 2"),
])
def test_check_reports_a_bad_config_with_exit_two(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = ebbtide("check", "--config", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_config_and_verbose_work_before_the_command_too(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("bogus = 1\n")
    result = ebbtide("--config", str(path), "-v", "check")
    assert result.returncode == 2 and "unknown key bogus" in result.stderr


def test_check_on_an_unreadable_config(tmp_path):
    result = ebbtide("check", "--config", str(tmp_path))
    assert result.returncode == 2 and "is a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_with_a_good_config_reports_each_part(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("[breathing]\nminutes = 3\n")
    result = ebbtide("check", "--config", str(path), env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"config: {path}: valid" in out
    assert "voice: " in out and "audio: " in out
    assert "pins: MockFactory" in out


def test_check_warns_but_passes_without_gpio():
    result = ebbtide("check", env={"GPIOZERO_PIN_FACTORY": ""})
    assert result.returncode == 0
    assert "pins: " in result.stdout


def test_run_without_gpio_says_what_to_do():
    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    result = subprocess.run([*EBBTIDE, "run"], capture_output=True, text=True, env=env,
                            timeout=60)
    if result.returncode == 0:
        pytest.skip("this machine has real GPIO")
    assert result.returncode == 1
    assert "no GPIO pins found" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "pin"), [
    ("[light]\npin = 23\n", 23),
    ("[light]\npin = 23\nmax_brightness = 5\n", 18),  # refused: `run` used the defaults
])
def test_off_switches_off_the_pin_run_used_and_nothing_else(tmp_path, text, pin):
    path = tmp_path / "config.toml"
    path.write_text(text)
    env = {"GPIOZERO_PIN_FACTORY": "mock", "STATE_DIRECTORY": str(tmp_path / "state")}
    result = ebbtide("off", "--config", str(path), env=env)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == f"ebbtide: the light (GPIO{pin}) is off\n"
    assert not (tmp_path / "state").exists(), "no history, no voice: only the pin"


def test_off_switches_off_every_pin_of_an_rgb_light(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[light]\nkind = "rgb"\npins = [5, 6, 13]\n')
    result = ebbtide("off", "--config", str(path), env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert result.returncode == 0
    assert result.stderr == "ebbtide: the light (GPIO5, GPIO6, GPIO13) is off\n"


def test_off_without_gpio_says_so_and_fails():
    result = ebbtide("off", env={"GPIOZERO_PIN_FACTORY": ""})
    if result.returncode == 0:
        pytest.skip("this machine has real GPIO")
    assert result.returncode == 1
    assert "no GPIO pins found" in result.stderr and "Traceback" not in result.stderr


def test_run_on_mock_pins_stops_cleanly_on_sigterm(tmp_path):
    trace = tmp_path / "trace.jsonl"
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "XDG_CACHE_HOME": str(tmp_path)}
    process = subprocess.Popen([*EBBTIDE, "run", "--trace", str(trace)], env=env,
                               stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    while "ready" not in line and line:
        line = process.stderr.readline()
    assert "ready" in line
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "Traceback" not in process.stderr.read()
    assert trace.read_text() == "", "nothing happened while idle"


def test_render_prints_the_part_timings(tmp_path):
    config = tmp_path / "short.toml"
    config.write_text("[breathing]\nminutes = 1\n")
    result = ebbtide("render", "--config", str(config), "--out", str(tmp_path / "out"),
                     env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["part", "starts", "lasts", "lines"], "a heading for each column"
    names = [line.split()[0] for line in lines[1:-1]]
    assert names == ["arrive", "breathe", "feel", "ground", "body", "aftercare", "close",
                     "total"]
    assert (tmp_path / "out" / "session.wav").stat().st_size > 0


def test_history_shows_recent_sessions_and_a_week_chart_and_exports_csv(tmp_path):
    from device.history import History

    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    empty = ebbtide("history", env=env)
    assert empty.returncode == 0 and empty.stdout.strip() == "No sessions yet."
    with History(tmp_path / "state" / "ebbtide") as history:
        for outcome in ("finished", "stopped"):
            row = history.begin("paced-exhale")
            history.part_done(row, "arrive")
            history.end(row, outcome)
    shown = ebbtide("history", env=env)
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["when", "length", "pattern", "parts", "outcome"]
    assert [line.split()[-1] for line in lines[1:3]] == ["stopped", "finished"]
    assert "Sessions per week" in shown.stdout and "2" in lines[-1]
    exported = ebbtide("history", "--csv", env=env)
    assert exported.stdout.splitlines()[0].startswith("id,started_utc")
    assert len(exported.stdout.splitlines()) == 3


def test_history_that_cannot_be_read_is_one_line_and_exit_one(tmp_path):
    (tmp_path / "state").write_text("not a directory")
    done = ebbtide("history", env=dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state")))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "history" in done.stderr
