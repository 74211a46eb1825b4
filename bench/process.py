"""The real `ebbtide run` process: time to READY=1, CPU while idle and in a session, memory.

It runs as systemd would run it (mock pins, a NOTIFY_SOCKET, SIGUSR1 to press, SIGTERM to
stop), beside a baseline process doing what people usually write: gpiozero's pulse() and
pyttsx3's say() + runAndWait() for each line, for the same time. CPU is read from
/proc/PID/stat (children included, so the baseline's aplay counts too).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
WINDOW_S = 5.0  # CPU is sampled per window (clock ticks are 10 ms: 0.2 % of a 5 s window)

BASELINE = """
import sys, pyttsx3
from gpiozero import PWMLED
from gpiozero.pins.mock import MockFactory, MockPWMPin
led = PWMLED(18, pin_factory=MockFactory(pin_class=MockPWMPin))
led.pulse(4, 6)
engine = pyttsx3.init()
lines = sys.argv[1:]
while True:
    for line in lines:
        engine.say(line)
        engine.runAndWait()
"""


@dataclass(frozen=True)
class ProcessCost:
    ready_s: float
    cpu_idle_pct: list[float]
    cpu_session_pct: list[float]
    rss_mb: float
    baseline_cpu_session_pct: list[float]


def _cpu_seconds(pid: int) -> float:
    """User + system time of a process and its waited-for children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def _cpu_percent(pid: int, seconds: float) -> list[float]:
    """CPU time over wall time, in % of one core, for each WINDOW_S of `seconds`."""
    samples = []
    wall, cpu = time.monotonic(), _cpu_seconds(pid)
    end = wall + seconds
    while wall < end:
        time.sleep(min(WINDOW_S, end - wall))
        now, used = time.monotonic(), _cpu_seconds(pid)
        samples.append(100 * (used - cpu) / (now - wall))
        wall, cpu = now, used
    return samples


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_process(config_path: Path, lines: list[str], idle_s: float,
                    session_s: float) -> ProcessCost:
    """Start `ebbtide run`, wait for READY=1, sit idle, press, and measure a session."""
    with tempfile.TemporaryDirectory() as scratch:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(f"{scratch}/notify")
        env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", NOTIFY_SOCKET=f"{scratch}/notify",
                   XDG_STATE_HOME=f"{scratch}/state")  # its voice cache: the same as ours
        started = time.monotonic()
        ours = subprocess.Popen([sys.executable, "-m", "device.cli", "run", "--config",
                                 str(config_path)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            notify.settimeout(60)
            while notify.recv(4096) != b"READY=1":
                pass
            ready = time.monotonic() - started
            idle = _cpu_percent(ours.pid, idle_s)
            baseline = subprocess.Popen([sys.executable, "-c", BASELINE, *lines],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                ours.send_signal(signal.SIGUSR1)  # a press
                both = {}

                def sample(name: str, pid: int) -> None:
                    both[name] = _cpu_percent(pid, session_s)

                other = threading.Thread(target=sample, args=("baseline", baseline.pid))
                other.start()
                sample("ours", ours.pid)
                other.join()
            finally:
                baseline.kill()
                baseline.wait()
            rss = _peak_rss_mb(ours.pid)
        finally:
            ours.send_signal(signal.SIGTERM)
            ours.wait(timeout=30)
            notify.close()
    return ProcessCost(ready, idle, both["ours"], rss, both["baseline"])
