"""Messages that used to leave a person stuck: each case is one plain line saying what
happened and what to do, never "unexpected error" and never a library's own words."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]
EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]
SILENT = "[voice]\nenabled = false\n"  # no voice to make: these tests are about words


def ebbtide(*args, env=None, command=None, **options):
    environment = {**os.environ, **(env or {})}
    environment.pop("EBBTIDE_CONFIG", None)
    return subprocess.run([*(command or EBBTIDE), *args], capture_output=True, text=True,
                          env=environment, timeout=60, cwd=REPO, **options)


def _config(tmp_path: Path, text: str = SILENT) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def _sessions(state: Path, count: int) -> None:
    from datetime import UTC, datetime, timedelta

    from device.history.store import History

    with History(state / "ebbtide") as history:
        for n in range(count):
            row = history.begin("paced-exhale", datetime(2026, 10, 1, 23, tzinfo=UTC)
                                + timedelta(days=n))
            history.end(row, "finished")


@pytest.mark.parametrize(("command", "keys"), [
    ("demo", "Enter presses the button, q quits"),
    ("record", "Enter starts and ends each take"),
])
def test_demo_and_record_with_their_input_closed_say_so(tmp_path, command, keys):
    config = _config(tmp_path, SILENT + f'recordings = "{tmp_path / "takes"}"\n')
    done = ebbtide(command, "--config", str(config), command=[
        "sh", "-c", 'exec "$@" <&-', "sh", *EBBTIDE])
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"ebbtide: `ebbtide {command}` reads what you type ({keys}), but "
                           "its input is closed: run it in a terminal (without <&-)\n")


@pytest.mark.parametrize("limit", ["0", "-1", "1000000000000000000000000000000"])
def test_history_limit_outside_its_range_is_refused_in_one_line(tmp_path, limit):
    _sessions(tmp_path / "state", 3)
    done = ebbtide("history", "--limit", limit, env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"ebbtide: --limit {limit}: give how many recent sessions to show, "
                           "a whole number from 1 to 100000\n")


def test_history_limit_one_shows_one_of_the_stored_sessions(tmp_path):
    _sessions(tmp_path / "state", 3)
    done = ebbtide("history", "--limit", "1", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.returncode == 0 and "No sessions yet." not in done.stdout
    assert done.stdout.splitlines()[1].startswith("2026-10-03")


@pytest.mark.parametrize("length", ["0", "-5"])
def test_a_cycle_length_of_zero_is_refused_as_minus_five_is(tmp_path, length):
    _sessions(tmp_path / "state", 1)
    done = ebbtide("history", "--plot", str(tmp_path / "n.png"), "--cycle-start", "2026-11-02",
                   "--cycle-length", length, env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"ebbtide: --cycle-length {length}: the cycle length must be a "
                           f"whole number of days from 15 to 60, not {length}\n")
    assert not (tmp_path / "n.png").exists()


def test_render_out_naming_a_file_says_it_is_not_a_folder(tmp_path):
    out = tmp_path / "session.wav"
    out.write_bytes(b"an earlier render")
    done = ebbtide("render", "--config", str(_config(tmp_path)), "--out", str(out))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"ebbtide: --out {out} is a file, not a folder: give a folder for "
                           "the session's files (it is made if it does not exist)\n")
    assert out.read_bytes() == b"an earlier render"


def _at_most_2_gb() -> None:
    """So a config reader that never stops fails fast instead of taking the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize(("kind", "said"), [
    ("/dev/zero", "is not a config file: it holds more than 1 MB (a config file is a few "
                  "kilobytes of TOML text)."),
    ("fifo", "is a pipe, not a config file: give the path of a TOML text file."),
    ("folder", "is a directory, not a config file."),
])
def test_a_config_that_is_a_device_a_pipe_or_a_folder_is_one_plain_line(tmp_path, kind, said):
    path = Path(kind)
    if kind == "fifo":
        path = tmp_path / "config.toml"
        os.mkfifo(path)
    elif kind == "folder":
        path = tmp_path / "config.toml"
        path.mkdir()
    done = ebbtide("check", "--config", str(path), preexec_fn=_at_most_2_gb)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"ebbtide: invalid config:\n  {path}: {said}\n"


def test_an_empty_device_as_config_still_means_the_defaults(tmp_path):
    done = ebbtide("script", "check", "--estimate", "--config", "/dev/null")
    assert done.returncode == 0, done.stderr


def test_check_names_all_three_pins_of_an_rgb_light(tmp_path):
    config = _config(tmp_path, SILENT + '[light]\nkind = "rgb"\npins = [5, 6, 13]\n')
    done = ebbtide("check", "--config", str(config), env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert done.returncode == 0, done.stderr
    assert ("pins: MockFactory: an RGB light on red GPIO5, green GPIO6, blue GPIO13, button on "
            "GPIO17") in done.stdout.splitlines()


def test_check_names_the_single_light_pin_as_before(tmp_path):
    done = ebbtide("check", "--config", str(_config(tmp_path)),
                   env={"GPIOZERO_PIN_FACTORY": "mock"})
    assert "pins: MockFactory: light on GPIO18, button on GPIO17" in done.stdout.splitlines()


def test_check_without_any_sound_device_says_so_in_plain_words(tmp_path):
    probe = ebbtide(command=[sys.executable, "-c", "from audio.stream import "
                             "list_output_devices as l; print(len(l()))"],
                    env={"PULSE_SERVER": "none"})
    if probe.stdout.strip() != "0":
        pytest.skip("this machine has sound hardware besides PulseAudio")
    done = ebbtide("check", "--config", str(_config(tmp_path)),
                   env={"PULSE_SERVER": "none", "GPIOZERO_PIN_FACTORY": "mock"})
    assert done.returncode == 0, done.stderr
    [audio] = [line for line in done.stdout.splitlines() if line.startswith("audio:")]
    assert audio == ("audio: warning: no audio output device found: connect a speaker or "
                     "headphones (or start the sound server, if the system uses one), then "
                     "try again; sessions run with the light only")


def _console_script() -> Path:
    script = Path(sys.executable).with_name("ebbtide")
    if not script.is_file():
        pytest.skip("no ebbtide console script beside this Python")
    return script


@pytest.mark.parametrize("on_path", [False, True])
def test_after_the_demo_the_hint_names_the_command_as_it_can_be_typed(tmp_path, on_path):
    """setup.sh makes .venv/bin/ebbtide, which is not on the PATH: the hint says the path the
    person ran; where the PATH finds the very same command, its bare name."""
    script = _console_script()
    folders = [f for f in os.environ.get("PATH", "").split(os.pathsep)
               if f and Path(f).resolve() != script.parent.resolve()]
    if shutil.which("ebbtide", path=os.pathsep.join(folders)):
        pytest.skip("another ebbtide is on the PATH")
    path = os.pathsep.join([str(script.parent), *folders] if on_path else folders)
    done = ebbtide("demo", "--config", str(_config(tmp_path)), command=[str(script)],
                   input="q\n", env={"PATH": path, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.returncode == 0, done.stderr
    typed = "ebbtide" if on_path else str(script)
    assert done.stdout.splitlines()[-1] == (
        f"Sessions are kept in {tmp_path / 'state' / 'ebbtide' / 'history.sqlite3'}, marked as "
        f"the demo's: {typed} history shows them.")
