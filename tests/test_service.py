"""The real `ebbtide run` process, as systemd runs it: mock pins, a trace, a test
NOTIFY_SOCKET, and signals from outside (USR1 to press, TERM to stop, KILL to crash)."""

from __future__ import annotations

import contextlib
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

from device.history import FILE_NAME, History

CONFIG = '[breathing]\nminutes = 1\n[audio]\ndevice = "no-such-speaker"\n'


class Service:
    """One `ebbtide run` process and what it tells systemd, its trace and its log."""

    def __init__(self, tmp_path: Path, seed_voice, config: str = CONFIG,
                 name: str = "run") -> None:
        self.state = tmp_path / "state"
        if not (self.state / "voice").exists():
            seed_voice(self.state / "voice")  # the voice made before, as install.sh does
        self.trace = tmp_path / f"{name}.jsonl"
        (tmp_path / "config.toml").write_text(config)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = tmp_path / f"{name}.notify"
        self.socket.bind(str(address))
        self.messages: list[str] = []
        env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", STATE_DIRECTORY=str(self.state),
                   NOTIFY_SOCKET=str(address), WATCHDOG_USEC="1000000",
                   JOURNAL_STREAM="8:1234", XDG_CACHE_HOME=str(tmp_path / "cache"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "device.cli", "run", "--config",
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

    def events(self) -> list[dict]:
        text = self.trace.read_text() if self.trace.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for_event(self, event: str, timeout: float = 10.0, **fields) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if e["event"] == event and all(e.get(k) == v for k, v in fields.items()):
                    return e
            time.sleep(0.02)
        raise AssertionError(f"no {event} {fields} in the trace")

    def finish(self, timeout: float = 10.0) -> tuple[int, str]:
        """Wait for the process to end; its exit code and its log (stderr)."""
        _, err = self.process.communicate(timeout=timeout)
        self.socket.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.messages.append(self.socket.recv(4096).decode())
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
    count = run.messages.count("WATCHDOG=1")
    run.process.send_signal(signal.SIGUSR1)
    run.wait_for_event("session", state="started")
    time.sleep(1.2)
    run.socket.settimeout(0.1)
    with pytest.raises(TimeoutError):
        while True:
            run.messages.append(run.socket.recv(4096).decode())
    assert run.messages.count("WATCHDOG=1") >= count + 2, "also during a session"
    run.process.send_signal(signal.SIGTERM)
    code, _err = run.finish()
    assert code == 0
    assert "STOPPING=1" in run.messages


def test_sigterm_mid_session_darkens_records_and_exits_cleanly(service):
    run = service()
    run.wait_for("READY=1")
    run.process.send_signal(signal.SIGUSR1)  # `systemctl kill -s USR1 ebbtide`
    run.wait_for_event("session", state="started")
    run.wait_for_event("part", name="arrive")
    time.sleep(1.0)
    sent = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()
    assert code == 0, err
    lights = [e for e in run.events() if e["event"] == "light"]
    assert lights[-1]["value"] == 0.0
    assert lights[-1]["t"] - sent < 0.1, "the light is off within 100 ms"
    assert run.wait_for_event("session", state="interrupted")
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
    assert "(en_US-joe-medium), 34 of 34 lines ready" in lines[0]
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
    assert "voice: espeak-ng" in err and "34 of 34 lines ready" in err
    assert "blink" not in err and not [e for e in run.events() if e["event"] == "light"
                                       and e["value"] > 0], "the rest of the config holds"
    check = subprocess.run([sys.executable, "-m", "device.cli", "check", "--config",
                            str(tmp_path / "config.toml")], capture_output=True, text=True)
    assert check.returncode == 2
    assert "voice.model = \"missing.onnx\"" in check.stderr
    assert f"{tmp_path / 'missing.onnx'} is not a file" in check.stderr
