"""`ebbtide demo` in a terminal: Enter presses, s holds, q quits; the screen shows the session."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

from device.commands.demo import DemoScreen
from device.core.events import LightChanged, LineSpoken, PartBegan, PhaseBegan, SessionEnded
from tests.polling import wait_until


def test_the_screen_shows_part_phase_line_and_a_light_bar():
    out = io.StringIO()
    screen = DemoScreen(out, live=True)
    screen(PartBegan(at=0.0, name="breathe", seconds=60))
    screen(PhaseBegan(at=0.0, name="inhale", seconds=2.5))
    screen(LineSpoken(at=0.1, text="Breathe in.", seconds=0.8))
    screen(LightChanged(at=0.2, value=0.184, lightness=0.5))
    screen(SessionEnded(at=0.3, state="stopped"))
    text = out.getvalue()
    assert "-- breathe --" in text
    assert '"Breathe in."' in text
    assert "breathe · inhale" in text and "[" + "#" * 12 + "." * 12 + "]" in text
    assert " 50%" in text
    assert "session stopped" in text


def _type(process, keys: str) -> None:
    """Keys typed into the demo, as a person at the terminal would."""
    process.stdin.write(keys)
    process.stdin.flush()


def _read_until(stream, wanted: str, seen: list[str], timeout: float = 240.0) -> bool:
    """Collect lines from the demo until one contains `wanted`. The bound is generous: a demo
    with a cold voice cache makes every line first (one thread; about 30 s of CPU here),
    and a busy CI machine has taken more than 60 s."""
    found = threading.Event()

    def reader():
        for line in stream:
            seen.append(line)
            if wanted in line:
                found.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return found.wait(timeout)


def test_demo_start_skip_hold_and_quit(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1",
           "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("EBBTIDE_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())",
         "demo", "--trace", str(tmp_path / "trace.jsonl")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    seen: list[str] = []
    try:
        assert _read_until(process.stdout, "Press Enter", seen)
        _type(process, "\n")  # press: the session starts
        assert _read_until(process.stdout, "I'm here with you.", seen)
        live = (tmp_path / "trace.jsonl").read_text()
        assert '"event": "session"' in live, "the trace can be followed while it runs"
        wait_until(lambda: '"action": "release"' in (tmp_path / "trace.jsonl").read_text(),
                   10, "the first press released")
        _type(process, "\n")  # press again: on to the breathing
        assert _read_until(process.stdout, "-- breathe --", seen)
        _type(process, "s\n")  # hold: the session ends gently
        assert _read_until(process.stdout, "session stopped", seen)
        _type(process, "q\n")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert "Traceback" not in process.stderr.read()
    trace = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    kinds = {record["event"] for record in trace}
    assert {"light", "button", "part", "phase", "clip", "session"} <= kinds
    fields = {"light": "value", "button": "action", "part": "name", "phase": "name",
              "clip": "text"}
    for record in trace:
        assert isinstance(record["t"], float)
        if record["event"] in fields:
            assert fields[record["event"]] in record
    times = [record["t"] for record in trace]
    assert times == sorted(times)
    assert [r["action"] for r in trace if r["event"] == "button"][:4] == [
        "press", "release", "press", "release"]
    assert [r["name"] for r in trace if r["event"] == "part"] == ["arrive", "breathe",
                                                                   "stopping"]
    lights = [r["value"] for r in trace if r["event"] == "light"]
    assert lights[0] > 0 and lights[-1] == 0.0
    bars = [line for line in seen if "duty" in line]
    assert bars, "the light bar is shown"
    assert bars[-1].rstrip().endswith("duty 0.000"), "the light ends off"
    # The session is in the history, marked as the demo's, and the demo said where.
    history_file = tmp_path / "state" / "ebbtide" / "history.sqlite3"
    assert f"Sessions are kept in {history_file}, marked as the demo's" in \
        process.stdout.read()
    from device.history.store import History

    with History(history_file.parent) as history:
        (record,) = history.recent()
    assert (record.demo, record.outcome, record.parts) == (True, "stopped", ("arrive",))
    shown = subprocess.run([sys.executable, "-c",
                            "import sys; from device.cli import main; sys.exit(main())",
                            "history"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.stdout.splitlines()[1].endswith("stopped (demo)")


def test_with_its_sound_device_missing_the_demo_says_so_once_before_the_first_press(
        tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[audio]\ndevice = "no-such-speaker"\n')
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1",
           "XDG_STATE_HOME": str(tmp_path / "state")}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())",
         "demo", "--config", str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env)
    seen: list[str] = []
    try:
        assert _read_until(process.stdout, "Press Enter", seen)
        _type(process, "\n")  # a session starts, light only
        assert _read_until(process.stdout, "I'm here with you.", seen)
        _type(process, "q\n")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    shown = "".join(seen) + process.stdout.read() + process.stderr.read()
    plain = [i for i, line in enumerate(seen) if line.startswith(
        "Audio device 'no-such-speaker' not found; available: ")]
    press = [i for i, line in enumerate(seen) if line.startswith("Press Enter")]
    assert plain and press and plain[0] < press[0], shown
    assert seen[plain[0]].rstrip().endswith(": the light is drawn and each line is printed as it "
                                   "would be spoken, but the voice stays silent."), shown
    # said once, before the first press: not again when the session starts
    assert "light only" not in shown and shown.count("no-such-speaker") == 1, shown


def test_log_lines_land_above_the_bar_on_their_own_line():
    import io
    import logging

    from device.commands.demo import DemoScreen, ScreenLog

    out = io.StringIO()
    screen = DemoScreen(out, live=True)
    screen(LightChanged(at=0.0, value=0.2, lightness=0.4))
    log = logging.getLogger("ebbtide.demo-test")
    log.addHandler(ScreenLog(screen))
    log.propagate = False
    log.warning("the sound failed")
    text = out.getvalue()
    assert "\r\x1b[2Kebbtide: the sound failed\n" in text, repr(text)
    assert text.endswith(screen.bar())
