"""The `ebbtide` command as a person meets it: clear messages, exit codes, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process

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
    # The log says it in one line (lgpio's reason and what to do), not gpiozero's
    # "Falling back from ..." for each of its four backends.
    assert result.stderr.startswith("ebbtide: no GPIO pins found (lgpio")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Falling back" not in result.stderr


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


@pytest.mark.parametrize("text", ['[profile]\nname = ["wearable"]\n', None],
                         ids=["list-in-profile", "dev-zero"])
def test_off_works_with_any_config_file(tmp_path, text):
    """It failed on a list in [profile] ("unhashable type"), and read /dev/zero until memory
    ran out: the light stayed lit after a crash. The default pin is what `run` used."""
    path = tmp_path / "config.toml"
    if text is not None:
        path.write_text(text)
    result = ebbtide("off", "--config", "/dev/zero" if text is None else str(path),
                     env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert (result.returncode, result.stderr) == (0, "ebbtide: the light (GPIO18) is off\n")


def test_off_switches_off_every_pin_of_an_rgb_light(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[light]\nkind = "rgb"\npins = [5, 6, 13]\n')
    result = ebbtide("off", "--config", str(path), env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert result.returncode == 0
    assert result.stderr == "ebbtide: the light (GPIO5, GPIO6, GPIO13) is off\n"


def test_off_and_check_name_the_three_pins_of_an_rgb_light(tmp_path):
    """`off`, when it cannot switch them, named the single light's pin (GPIO18) instead."""
    path = tmp_path / "config.toml"
    path.write_text('[light]\nkind = "rgb"\npins = [5, 6, 13]\n[voice]\nenabled = false\n')
    # A first Raspberry Pi's header has none of these pins: switching them off fails.
    old_board = {"GPIOZERO_PIN_FACTORY": "mock", "GPIOZERO_MOCK_REVISION": "0002"}
    off = ebbtide("off", "--config", str(path), env=old_board)
    assert off.returncode == 1
    assert off.stderr.startswith("ebbtide: cannot switch the light (GPIO5, GPIO6, GPIO13) off: ")
    check = ebbtide("check", "--config", str(path), env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert check.returncode == 0, check.stderr
    assert ("pins: MockFactory: an RGB light on red GPIO5, green GPIO6, blue GPIO13, button "
            "on GPIO17\n") in check.stdout


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


# `ebbtide` with matplotlib hidden, as where the plots extra is not installed.
WITHOUT_MATPLOTLIB = [sys.executable, "-c", "import sys; sys.modules['matplotlib'] = None; "
                      "from device.cli import main; sys.exit(main())"]


def _short_render(tmp_path, *args, command=None):
    config = tmp_path / "short.toml"
    config.write_text("[breathing]\nminutes = 1\n")
    return subprocess.run([*(command or EBBTIDE), "render", "--config", str(config),
                           "--out", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, timeout=120)


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_render_prints_the_part_timings_and_draws_the_session(tmp_path):
    from device.pictures.session import HEIGHT_PX, WIDTH_PX

    result = _short_render(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["part", "starts", "lasts", "lines"], "a heading for each column"
    names = [line.split()[0] for line in lines[1:-3]]
    assert names == ["arrive", "breathe", "feel", "ground", "body", "aftercare", "close",
                     "total"]
    assert lines[-3].startswith("by ear, through the breathing: the tide is heard in ")
    assert (tmp_path / "out" / "session.wav").stat().st_size > 0
    assert lines[-1] == f"drew {tmp_path / 'out' / 'session.png'}"
    assert _png_size(tmp_path / "out" / "session.png") == (WIDTH_PX, HEIGHT_PX)
    assert result.stderr == ""


def test_render_draws_an_svg_where_asked_and_refuses_other_kinds_before_any_work(tmp_path):
    drawn = _short_render(tmp_path, "--plot", str(tmp_path / "pictures" / "night.svg"))
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "pictures" / "night.svg").read_text().lstrip().startswith("<?xml")
    assert not (tmp_path / "out" / "session.png").exists()

    refused = _short_render(tmp_path, "--plot", str(tmp_path / "night.jpg"))
    assert refused.returncode == 2
    assert refused.stderr == (f"ebbtide: cannot draw {tmp_path / 'night.jpg'}: the file name "
                              "must end in .png or .svg\n")


def test_render_without_matplotlib_writes_the_rest_and_says_how_to_install_it(tmp_path):
    result = _short_render(tmp_path, command=WITHOUT_MATPLOTLIB)
    assert result.returncode == 0, result.stderr
    note = result.stdout.splitlines()[-1]
    assert note == ("no picture: pictures need matplotlib, which is not installed here; "
                    f"install it with: {sys.executable} -m pip install 'matplotlib>=3.6'")
    assert (tmp_path / "out" / "events.csv").exists()
    assert not (tmp_path / "out" / "session.png").exists()

    asked = _short_render(tmp_path, "--plot", str(tmp_path / "s.png"), command=WITHOUT_MATPLOTLIB)
    assert asked.returncode == 2 and asked.stdout == ""
    assert asked.stderr.count("\n") == 1 and "pip install 'matplotlib>=3.6'" in asked.stderr


def test_history_shows_recent_sessions_and_a_week_chart_and_exports_csv(tmp_path):
    from device.history.store import History

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
    assert lines[0].split() == ["when", "length", "pattern", "parts", "finished", "outcome"]
    assert [line.split()[-1] for line in lines[1:3]] == ["stopped", "finished"]
    assert "Sessions per week" in shown.stdout and "2" in lines[-1]
    exported = ebbtide("history", "--csv", env=env)
    assert exported.stdout.splitlines()[0].startswith("id,started_utc")
    assert len(exported.stdout.splitlines()) == 3


@pytest.mark.parametrize(("device", "demo", "old", "noted"), [
    (3, 0, 0, True),  # three nights of the last seven: the note
    (2, 0, 5, False),  # two, and older ones: none
    (2, 4, 0, False),  # the demo's do not count
])
def test_history_points_to_help_gently_when_sessions_come_often(tmp_path, device, demo, old,
                                                                 noted):
    import datetime

    from device.history.store import History

    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    now = datetime.datetime.now(datetime.UTC)
    with History(tmp_path / "state" / "ebbtide") as history:
        for days, is_demo in [*((n, False) for n in range(device)),
                              *((n, True) for n in range(demo)),
                              *((8 + n, False) for n in range(old))]:
            row = history.begin("paced-exhale", now - datetime.timedelta(days=days, hours=1),
                                demo=is_demo)
            history.end(row, "finished")
    shown = ebbtide("history", env=env)
    assert shown.returncode == 0
    note = [line for line in shown.stdout.splitlines() if "last 7 nights" in line]
    if noted:
        [line] = note
        assert line.startswith(f"{device} sessions in the last 7 nights.")
        assert "`ebbtide card`" in line and "When to look for help" in line
        for alarming in ("!", "warning", "danger", "must", "should"):
            assert alarming not in line.lower()
        off = tmp_path / "off.toml"
        off.write_text("[history]\nhelp_note = false\n")
        assert "last 7 nights" not in ebbtide("history", "--config", str(off), env=env).stdout
    else:
        assert note == []
    assert "last 7 nights" not in ebbtide("history", "--csv", env=env).stdout


def test_history_that_cannot_be_read_is_one_line_and_exit_one(tmp_path):
    (tmp_path / "state").write_text("not a directory")
    done = ebbtide("history", env=dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state")))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "history" in done.stderr


def _sessions(state, count, demos=0):
    from datetime import UTC, datetime, timedelta

    from device.history.store import History

    with History(state / "ebbtide") as history:
        for n in range(count):
            row = history.begin("paced-exhale", datetime(2026, 10, 1, 23, tzinfo=UTC)
                                + timedelta(days=n), demo=n < demos)
            history.part_done(row, "arrive")
            history.end(row, "finished")


def test_history_plot_draws_every_session_and_stores_nothing_of_the_cycle(tmp_path):
    from device.pictures.history import HEIGHT_PX, WIDTH_PX

    state = tmp_path / "state"
    _sessions(state, 25)  # more than the 20 the table shows
    before = {p.name: p.read_bytes() for p in (state / "ebbtide").iterdir()}
    env = {"XDG_STATE_HOME": str(state)}
    done = ebbtide("history", "--plot", str(tmp_path / "nights.png"), "--cycle-start",
                   "2026-11-02", "--cycle-length", "30", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"drew {tmp_path / 'nights.png'}: 25 sessions, by day of a 30-day "
                           "cycle\n")
    assert _png_size(tmp_path / "nights.png") == (WIDTH_PX, HEIGHT_PX)
    assert (tmp_path / "nights.png").stat().st_mode & 0o777 == 0o600, "private, as the history"
    after = {p.name: p.read_bytes() for p in (state / "ebbtide").iterdir()}
    # Read read-only, SQLite may leave its (empty) write-ahead log and index beside the file.
    assert after.pop("history.sqlite3-wal", b"") == b""
    after.pop("history.sqlite3-shm", None)
    assert after == before, "the history is unchanged: the cycle is not stored"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nights.png", "state"]


@pytest.mark.parametrize(("args", "message"), [
    (["--cycle-start", "2026-11-02"],
     "--cycle-start and --cycle-length shape the picture: add --plot FILE.png"),
    (["--plot", "n.png", "--cycle-length", "30"],
     "--cycle-length needs --cycle-start YYYY-MM-DD (the first day of a cycle)"),
    (["--plot", "n.png", "--cycle-start", "2.11.2026"],
     "--cycle-start 2.11.2026 is not a date: give the first day of a cycle as YYYY-MM-DD, "
     "for example 2026-11-02"),
    (["--plot", "n.png", "--cycle-start", "2026-11-02", "--cycle-length", "90"],
     "--cycle-length 90: the cycle length must be a whole number of days from 15 to 60, "
     "not 90"),
    (["--plot", "n.jpg"], "cannot draw n.jpg: the file name must end in .png or .svg"),
])
def test_history_plot_refuses_what_it_cannot_draw_in_one_line(tmp_path, args, message):
    _sessions(tmp_path / "state", 1)
    done = ebbtide("history", *args, env={"XDG_STATE_HOME": str(tmp_path / "state")},
                   cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"ebbtide: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


@pytest.mark.parametrize(("count", "demos", "said"), [
    (1, 0, "1 session"), (1, 1, "1 session, from the demo (drawn hollow)"),
    (3, 1, "3 sessions, 1 of them from the demo (drawn hollow)"),
    (3, 3, "3 sessions, 3 of them from the demo (drawn hollow)"),
])
def test_history_plot_says_how_many_sessions_it_drew(tmp_path, count, demos, said):
    _sessions(tmp_path / "state", count, demos)
    done = ebbtide("history", "--plot", str(tmp_path / "n.svg"),
                   env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.stdout == f"drew {tmp_path / 'n.svg'}: {said}\n", done.stderr


def test_history_plot_with_no_sessions_or_no_matplotlib_says_so(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    empty = ebbtide("history", "--plot", str(tmp_path / "n.png"), env=env)
    assert (empty.returncode, empty.stderr) == (1, "ebbtide: no sessions yet: nothing to draw\n")
    _sessions(tmp_path / "state", 1)
    missing = subprocess.run([*WITHOUT_MATPLOTLIB, "history", "--plot", str(tmp_path / "n.png")],
                             capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 2
    assert missing.stderr == ("ebbtide: pictures need matplotlib, which is not installed here; "
                              f"install it with: {sys.executable} -m pip install "
                              "'matplotlib>=3.6'\n")
    assert not (tmp_path / "n.png").exists()
