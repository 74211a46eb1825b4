"""The real `ebbtide run` process, as systemd runs it: mock pins, a trace, a test
NOTIFY_SOCKET, and signals from outside (USR1 to press, TERM to stop, KILL to crash)."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.history.store import FILE_NAME, History
from tests.polling import wait_until

pytestmark = pytest.mark.process

CONFIG = '[breathing]\nminutes = 1\n[audio]\ndevice = "no-such-speaker"\n'
# As the unit starts it: presses are ignored until Ebbtide catches them.
DEAF_UNTIL_READY = ["/bin/sh", "-c", "trap '' USR1 HUP; exec \"$0\" \"$@\""]


class Service:
    """One `ebbtide run` process and what it tells systemd, its trace and its log."""

    def __init__(self, tmp_path: Path, seed_voice, config: str = CONFIG,
                 name: str = "run", seed: bool = True,
                 env: dict[str, str] | None = None, module: str = "device.cli") -> None:
        """`module` runs it: bench.service is `ebbtide` on mock pins that keep no history."""
        self.state = tmp_path / "state"
        if seed and not (self.state / "voice").exists():
            seed_voice(self.state / "voice")  # the voice made before, as install.sh does
        self.trace = tmp_path / f"{name}.jsonl"
        (tmp_path / "config.toml").write_text(config)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = tmp_path / f"{name}.notify"
        self.socket.bind(str(address))
        self.messages: list[str] = []
        env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", STATE_DIRECTORY=str(self.state),
                   NOTIFY_SOCKET=str(address), WATCHDOG_USEC="1000000",
                   JOURNAL_STREAM="8:1234", XDG_CACHE_HOME=str(tmp_path / "cache"),
                   **(env or {}))
        self.process = subprocess.Popen(
            [*DEAF_UNTIL_READY, sys.executable, "-m", module, "run", "--config",
             str(tmp_path / "config.toml"), "--trace", str(self.trace)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def wait_for(self, message: str, timeout: float = 60.0) -> None:
        """Read the notify socket until `message` arrives."""
        deadline = time.monotonic() + timeout
        while message not in self.messages:
            left = deadline - time.monotonic()
            assert left > 0, f"no {message} within {timeout} s; got {self.messages}"
            self.socket.settimeout(min(left, 1.0))
            try:
                self.messages.append(self.socket.recv(4096).decode())
            except TimeoutError:
                assert self.process.poll() is None, self.process.communicate()

    def received(self) -> list[str]:
        """Every message so far, with those waiting on the socket read first."""
        self.socket.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.messages.append(self.socket.recv(4096).decode())
        return self.messages

    def events(self) -> list[dict]:
        text = self.trace.read_text() if self.trace.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for_event(self, event: str, timeout: float = 10.0, **fields) -> dict:
        def found() -> dict | None:
            return next((e for e in self.events() if e["event"] == event
                         and all(e.get(k) == v for k, v in fields.items())), None)

        return wait_until(found, timeout, f"{event} {fields} in the trace", every=0.02)

    def finish(self, timeout: float = 10.0) -> tuple[int, str]:
        """Wait for the process to end; its exit code and its log (stderr)."""
        _, err = self.process.communicate(timeout=timeout)
        self.received()
        self.socket.close()
        return self.process.returncode, err


@pytest.fixture
def service(tmp_path, made_voice):
    made: list[Service] = []

    def start(**options) -> Service:
        made.append(Service(tmp_path, made_voice, **options))
        return made[-1]

    yield start
    for s in made:
        if s.process.poll() is None:
            s.process.kill()
            s.process.wait()


def test_ready_and_watchdog_reach_systemd_from_the_running_service(service):
    run = service()
    run.wait_for("READY=1")
    run.wait_for("WATCHDOG=1", timeout=5)  # every 0.5 s with WATCHDOG_USEC=1000000
    run.process.send_signal(signal.SIGUSR1)
    run.wait_for_event("session", state="started")
    count = run.received().count("WATCHDOG=1")  # none from before the session counts
    wait_until(lambda: run.received().count("WATCHDOG=1") >= count + 2, 5,
               "two WATCHDOG=1 during a session")
    assert not [e for e in run.events() if e["event"] == "session"
                and e["state"] != "started"], "the session was still running"
    run.process.send_signal(signal.SIGTERM)
    code, _err = run.finish()
    assert code == 0
    assert "STOPPING=1" in run.messages


def wait_until_presses_are(how: str, pid: int, timeout: float = 10.0) -> None:
    """Until USR1 is "ignored" (by the shell's trap, about a millisecond after the start: a
    window no program can close) or "caught" (by Ebbtide, once Python has started)."""
    bit = 1 << (signal.SIGUSR1 - 1)
    fields = {"ignored": ("SigIgn", "SigCgt"), "caught": ("SigCgt",)}[how]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = dict(line.split(":", 1) for line in
                      Path(f"/proc/{pid}/status").read_text().splitlines())
        if any(int(status[field], 16) & bit for field in fields):
            return
    raise AssertionError(f"USR1 was never {how}")


def press_in_bursts(pid: int, bursts: int = 10, each: int = 300) -> int:
    """USR1 as `systemctl kill -s USR1 ebbtide` sends it (to the service and every child of
    it), as a script in a loop or a bouncing switch would: `bursts` of `each` signals, 20 ms
    apart. Returns how many were sent."""
    sent = 0
    for _ in range(bursts):
        for _ in range(each):
            children = Path(f"/proc/{pid}/task/{pid}/children")
            for target in (pid, *map(int, children.read_text().split())):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, signal.SIGUSR1)
                    sent += 1
        time.sleep(0.02)
    return sent


@pytest.mark.parametrize("repeat", range(3))
@pytest.mark.parametrize("moment", ["starting", "idle", "in a session"])
def test_bursts_of_presses_never_hang_or_kill_it(service, moment, repeat, tell):
    """Thousands of USR1 in bursts, then SIGTERM: it ends at once, cleanly, in the dark.
    Starting, bursts come while Python starts (the presses are ignored) and while the voice
    is made (espeak-ng, no cache: they are kept, and start a session once it is ready)."""
    if moment == "starting":
        run = service(config=CONFIG + '[voice]\nengine = "espeak"\n', seed=False)
        wait_until_presses_are("ignored", run.process.pid)
        press_in_bursts(run.process.pid, bursts=5)
        wait_until_presses_are("caught", run.process.pid)
        assert "READY=1" not in run.messages
        press_in_bursts(run.process.pid, bursts=5)
        run.wait_for("READY=1")
        run.wait_for_event("session", state="started")  # the presses kept start one
    else:
        run = service()
        run.wait_for("READY=1")
        if moment == "in a session":
            run.process.send_signal(signal.SIGUSR1)
            run.wait_for_event("session", state="started")
        assert press_in_bursts(run.process.pid) >= 3000
    assert run.process.poll() is None, run.process.communicate()
    sent = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish(timeout=30)
    took = time.monotonic() - sent
    assert code == 0, err
    assert took < 1.0, f"exited {took:.2f} s after SIGTERM"
    assert "Traceback" not in err and "died of signal" not in err, err
    lights = [e["value"] for e in run.events() if e["event"] == "light"]
    assert not lights or lights[-1] == 0.0
    started = [e for e in run.events() if e["event"] == "session" and e["state"] == "started"]
    assert 1 <= len(started) <= 10, "a burst counts as a press or a few"
    tell(f"\nbursts {moment}: {len(started)} session(s) started; exit {took:.3f} s after "
         "SIGTERM")


class Trace:
    """A trace file read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.events = path, 0, []

    def until(self, found, timeout: float = 30.0) -> dict:
        """Wait for the first new event for which found(event) is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError), self.path.open() as file:
                file.seek(self.offset)
                while (line := file.readline()).endswith("\n"):
                    self.offset += len(line.encode())
                    self.events.append(json.loads(line))
                    if found(self.events[-1]):
                        return self.events[-1]
            time.sleep(0.02)
        raise AssertionError(f"not in the trace within {timeout} s; last: {self.events[-3:]}")


def footprint(pid: int) -> tuple[float, int, int]:
    """Resident memory (MB), open files and threads of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


SOAK_SESSIONS = int(os.environ.get("EBBTIDE_SOAK_SESSIONS", "50"))  # more on a Pi


@pytest.mark.audio
def test_fifty_sessions_back_to_back_leave_nothing_growing(service, own_sink, tell):
    """Sessions driven by presses (start, then a press per part until it stops), each with
    its sound through a real PulseAudio sink: memory, files and threads stay flat, every
    session is recorded, and the light is off after each. (gpiozero's mock pins keep every
    state they are set to, 0.4 MB a minute of light; bench.service keeps only the last, as
    a real pin does.)"""
    run = service(config="[breathing]\nminutes = 1\n", env={"PULSE_SINK": own_sink},
                  module="bench.service")
    run.wait_for("READY=1")
    trace = Trace(run.trace)
    sizes = []
    for _ in range(SOAK_SESSIONS):
        press(run, trace)
        trace.until(lambda e: e["event"] == "session" and e["state"] == "started")
        press_until_stopped(run, trace)
        done = len(sizes) + 1
        wait_until(lambda n=done: stopped_sessions(run.state) >= n, 10,
                   f"session {done} committed to the history")  # the session's last step
        sizes.append(footprint(run.process.pid))
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    warm = sizes[9]  # after the first sessions have loaded what they use
    grown = [round(rss - warm[0], 2) for rss, _, _ in sizes[10:]]
    assert max(grown) < 2.0, f"memory grew (MB past session 10): {grown}"
    assert {(files, threads) for _, files, threads in sizes[10:]} == {warm[1:]}, sizes
    with History(run.state) as history:
        rows = history.recent(100)
    assert [row.outcome for row in rows] == ["stopped"] * SOAK_SESSIONS
    ends = [i for i, e in enumerate(trace.events) if e["event"] == "session"
            and e["state"] != "started"]
    for end in ends:
        lights = [e["value"] for e in trace.events[:end] if e["event"] == "light"]
        assert lights[-1] == 0.0
    audio = [e for e in trace.events if e["event"] == "audio"]
    assert len(audio) == SOAK_SESSIONS and not any(e["failure"] for e in audio), audio[-1]
    tell(f"\nsoak: {SOAK_SESSIONS} sessions; RSS {sizes[0][0]:.1f} MB after the first, "
          f"{warm[0]:.1f} after 10, {sizes[-1][0]:.1f} after {SOAK_SESSIONS}; "
          f"files {warm[1]}, threads {warm[2]}")


def stopped_sessions(state: Path) -> int:
    """How many stopped sessions the history holds, read as another reader would."""
    uri = f"{(state / FILE_NAME).as_uri()}?mode=ro"
    with contextlib.suppress(sqlite3.OperationalError), \
            contextlib.closing(sqlite3.connect(uri, uri=True)) as database:
        return database.execute(
            "SELECT count(*) FROM sessions WHERE outcome = 'stopped'").fetchone()[0]
    return 0  # not made yet, or busy for a moment


def press(run: Service, trace: Trace) -> None:
    """One press, waited for until the service has taken it: none is left in flight to start
    another session after this one ends."""
    run.process.send_signal(signal.SIGUSR1)
    trace.until(lambda e: e["event"] == "button" and e["action"] == "remote press")


def press_until_stopped(run: Service, trace: Trace) -> None:
    """A press per part until the one in `close` stops the session; then it has ended."""
    while True:
        press(run, trace)
        if trace.until(lambda e: e["event"] == "part")["name"] == "stopping":
            break
    trace.until(lambda e: e["event"] == "session" and e["state"] != "started")


FAKETIME = next(iter(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1")), None)


def test_the_wall_clock_set_by_days_changes_only_the_dates(service, tmp_path):
    """NTP setting a Pi's clock (no battery) forward by days mid-session, then back by hours
    between sessions: the sessions, the watchdog and the history's lengths do not notice.
    libfaketime moves the wall clock of the real process; its monotonic clock is untouched."""
    if FAKETIME is None:
        if os.environ.get("EBBTIDE_REQUIRE_AUDIO"):
            pytest.fail("libfaketime is required here (Debian package: faketime)")
        pytest.skip("libfaketime is not installed (Debian package: faketime)")
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    run = service(env={"LD_PRELOAD": str(FAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset),
                       "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    run.wait_for("READY=1")
    trace = Trace(run.trace)
    press(run, trace)
    trace.until(lambda e: e["event"] == "part" and e["name"] == "arrive")
    began = time.monotonic()
    offset.write_text("+3d\n")
    trace.until(lambda e: e["event"] == "clip")  # it goes on speaking after the jump
    press_until_stopped(run, trace)
    first_took = time.monotonic() - began
    offset.write_text("+67h\n")  # from three days on, five hours back
    count = run.received().count("WATCHDOG=1")  # those sent before the clock went back
    wait_until(lambda: run.received().count("WATCHDOG=1") >= count + 2, 5,
               "two WATCHDOG=1 after the clock went back (the watchdog paused)")
    press(run, trace)
    trace.until(lambda e: e["event"] == "session" and e["state"] == "started")
    press_until_stopped(run, trace)
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    with History(run.state) as history:
        first, second = reversed(history.recent())
    now = datetime.datetime.now(datetime.UTC)
    assert abs(first.started - now) < datetime.timedelta(minutes=5), "began before the jump"
    assert abs(first.duration.total_seconds() - first_took) < 3, "its true length"
    assert abs(second.started - now - datetime.timedelta(hours=67)) < datetime.timedelta(
        minutes=5)
    assert second.duration < datetime.timedelta(minutes=1)
    assert [first.outcome, second.outcome] == ["stopped", "stopped"]


def test_sigterm_mid_session_darkens_records_and_exits_cleanly(service):
    run = service()
    run.wait_for("READY=1")
    run.process.send_signal(signal.SIGUSR1)  # `systemctl kill -s USR1 ebbtide`
    run.wait_for_event("session", state="started")
    run.wait_for_event("part", name="arrive")
    wait_until(lambda: any(e["event"] == "light" and e["value"] > 0 for e in run.events()),
               10, "the light lit in the session")
    sent = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    lights = [e for e in run.events() if e["event"] == "light"]
    assert [e for e in lights if e["t"] < sent][-1]["value"] > 0, "it was lit when stopped"
    assert lights[-1]["value"] == 0.0
    assert 0 <= lights[-1]["t"] - sent < 0.1, "the light is off within 100 ms"
    run.wait_for_event("session", state="interrupted")
    assert "Traceback" not in err
    with History(run.state) as history:
        [row] = history.recent()
    assert row.outcome == "interrupted" and row.ended is not None
    assert (run.state / FILE_NAME).stat().st_mode & 0o777 == 0o600


def test_kill_9_mid_session_then_a_restart_keeps_the_history_whole(service, tmp_path):
    first = service()
    first.wait_for("READY=1")
    first.process.send_signal(signal.SIGUSR1)
    first.wait_for_event("session", state="started")
    first.wait_for_event("part", name="arrive")
    first.process.kill()
    first.process.wait()

    again = service(name="again")
    again.wait_for("READY=1")
    again.process.send_signal(signal.SIGTERM)
    code, err = again.finish()
    assert code == 0
    assert "1 session(s) cut off last time are recorded as interrupted" in err
    database = sqlite3.connect(first.state / FILE_NAME)
    assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    database.close()
    with History(first.state) as history:
        [row] = history.recent()
    assert row.outcome == "interrupted" and row.pattern == "paced-exhale"


def test_an_invalid_config_runs_with_defaults_after_three_blinks(service, tmp_path):
    bad = "[light]\nmax_brightness = 5\n"
    run = service(config=bad)
    run.wait_for("READY=1")
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0
    lines = [line for line in err.splitlines() if "invalid config" in line]
    assert len(lines) == 1
    assert "light.max_brightness = 5" in lines[0] and "built-in defaults" in lines[0]
    assert lines[0].startswith("<3>"), "an error, for journald"
    lights = [e["value"] for e in run.events() if e["event"] == "light"]
    assert sum(1 for a, b in zip([0.0, *lights], lights, strict=False) if b > 0 == a) == 3
    assert lights[-1] == 0.0
    check = subprocess.run([sys.executable, "-m", "device.cli", "check", "--config",
                            str(tmp_path / "config.toml")], capture_output=True, text=True)
    assert check.returncode == 2
    assert "light.max_brightness = 5" in check.stderr


ENGINE_LIBRARIES = ("libespeak", "onnxruntime", "/piper/", "espeakbridge")


def test_the_service_never_loads_a_speech_engine(service):
    run = service()
    run.wait_for("READY=1")
    run.process.send_signal(signal.SIGUSR1)
    run.wait_for_event("clip", timeout=20)  # it has spoken
    maps = Path(f"/proc/{run.process.pid}/maps").read_text()
    status = Path(f"/proc/{run.process.pid}/status").read_text()
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    assert [lib for lib in ENGINE_LIBRARIES if lib in maps] == []
    assert "libportaudio" in maps  # it does play sound itself
    lines = [line for line in err.splitlines() if "voice: " in line]
    assert len(lines) == 1 and "voice: piper 1.8" in lines[0], err
    assert "(en_US-joe-medium), 39 of 39 lines ready" in lines[0]
    rss_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
    assert rss_mb < 100  # the bench measures it closely; here only that no engine came in


def test_a_missing_voice_model_speaks_with_espeak_and_says_so_once(service, tmp_path):
    run = service(config=CONFIG + '[voice]\nmodel = "missing.onnx"\n')
    run.wait_for("READY=1")
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    said = [line for line in err.splitlines() if "missing.onnx" in line]
    assert len(said) == 1 and said[0].startswith("<3>") and "espeak-ng" in said[0], err
    assert "voice: espeak-ng" in err and "39 of 39 lines ready" in err
    assert "blink" not in err and not [e for e in run.events() if e["event"] == "light"
                                       and e["value"] > 0], "the rest of the config holds"
    check = subprocess.run([sys.executable, "-m", "device.cli", "check", "--config",
                            str(tmp_path / "config.toml")], capture_output=True, text=True)
    assert check.returncode == 2
    assert "voice.model = \"missing.onnx\"" in check.stderr
    assert f"{tmp_path / 'missing.onnx'} is not a file" in check.stderr


def test_a_script_from_before_feel_runs_its_own_words_without_it(service, tmp_path):
    """An owner's script made before the feel part existed: after an update the appliance
    still runs, in their words, without that part, and says so once."""
    from importlib import resources

    text = resources.files("device.words").joinpath("script.toml").read_text()
    older = text[:text.index("[feel]")] + text[text.index("[ground]"):]
    older = older[:older.index("[partner.lines]")] + older[older.index("[close.lines]"):]
    (tmp_path / "mine.toml").write_text(older.replace("I'm here.", "I'm right here."))
    run = service(config=CONFIG + f'[voice]\nscript = "{tmp_path / "mine.toml"}"\n')
    run.wait_for("READY=1")
    trace = Trace(run.trace)
    press(run, trace)
    for part in ("arrive", "breathe", "ground"):  # a press moves on from each
        trace.until(lambda e, p=part: e["event"] == "part" and e["name"] == p)
        press(run, trace)
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    said = [line for line in err.splitlines() if "no words for feel" in line]
    assert len(said) == 1 and said[0].startswith("<4>") and "mine.toml" in said[0], err
    parts = [e["name"] for e in run.events() if e["event"] == "part"]
    assert parts[:3] == ["arrive", "breathe", "ground"], parts
    assert "blink" not in err


_LONG_FEEL = "".join(f'more-{n} = "You can notice it, if you like."\n' for n in range(5))


@pytest.mark.parametrize(("config", "script_edit", "said"), [
    # A list where a name is expected: it stopped `run` (and `off`) with "unhashable type".
    ('[profile]\nname = ["wearable"]\n', None, 'profile.name = ["wearable"] is not allowed'),
    # A device number no PortAudio takes: it stopped `run` when the sound opened.
    ("[audio]\ndevice = 99999999999999999999\n", None,
     "audio.device = 99999999999999999999 is not allowed"),
    # A breathing number that is not a number: it stopped `run` with a ValueError.
    ("", ("cue_breaths = 3", "cue_breaths = nan"),
     "breathe.cue_breaths = nan is not allowed"),
    # Each loads, but together the session would last over an hour: `run` exited 2.
    ("[breathing]\nminutes = 50\n",
     ("pause_seconds = 6", "pause_seconds = 60"), "within 60 min"),
], ids=["profile-list", "huge-device", "nan-in-script", "plan-too-long"])
def test_what_loads_but_cannot_be_used_runs_with_defaults_after_three_blinks(
        service, tmp_path, config, script_edit, said):
    """`ebbtide run` never exits over a file it read: the built-in config and words, three
    blinks, one line in the log saying what to fix; and `ebbtide off` works with the file."""
    from importlib import resources

    if script_edit:
        text = resources.files("device.words").joinpath("script.toml").read_text()
        old, new = script_edit
        text = text.replace(old, new).replace("[ground]\n", _LONG_FEEL + "\n[ground]\n")
        (tmp_path / "mine.toml").write_text(text)
        config += f'[voice]\nscript = "{tmp_path / "mine.toml"}"\n'
    run = service(config=config)
    run.wait_for("READY=1")
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    lines = [line for line in err.splitlines() if said in line]
    assert len(lines) == 1 and lines[0].startswith("<3>"), err
    assert "built-in" in lines[0] and "Traceback" not in err
    lights = [e["value"] for e in run.events() if e["event"] == "light"]
    assert sum(1 for a, b in zip([0.0, *lights], lights, strict=False) if b > 0 == a) == 3
    assert lights[-1] == 0.0
    off = subprocess.run([sys.executable, "-m", "device.cli", "off", "--config",
                          str(tmp_path / "config.toml")], capture_output=True, text=True,
                         env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"})
    assert (off.returncode, off.stderr) == (0, "ebbtide: the light (GPIO18) is off\n")
