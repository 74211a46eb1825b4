"""The real `ebbtide run` process: time to READY=1, CPU while idle and in a session, memory.

It runs as systemd would run it (a NOTIFY_SOCKET, SIGUSR1 to press, SIGTERM to stop), on
mock pins that keep no history, as real ones keep none (see bench/service.py), beside a
baseline process doing what people usually write: gpiozero's pulse() and pyttsx3's say() +
runAndWait() for each line, for the same time. CPU is read from /proc/PID/stat (children
included, so the baseline's aplay counts too). Memory is the peak (VmHWM) through a session,
and /proc/PID/maps says whether a speech engine was ever loaded into the service (it must
not be: speech is made in a child process).

The process gets the interpreter settings the unit file gives the service (PYTHON*,
MALLOC_*, OPENBLAS_* ... in its Environment= lines), and starts from compiled bytecode, as an
installed service does: a first start writes it into a private folder (PYTHONPYCACHEPREFIX),
so neither PYTHONDONTWRITEBYTECODE nor a missing __pycache__ makes it compile at each start.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
WINDOW_S = 5.0  # CPU is sampled per window (clock ticks are 10 ms: 0.2 % of a 5 s window)
# Files whose mapping means a speech engine is in the process: espeak-ng's library,
# onnxruntime's, or Piper's own (its package and espeak bridge).
ENGINE_FILES = ("libespeak-ng", "onnxruntime", "piper")
UNIT = Path(__file__).resolve().parent.parent / "systemd" / "ebbtide.service"
# The unit's settings that shape the interpreter itself (not paths of the real device).
INTERPRETER_ENV = ("PYTHON", "MALLOC_", "OPENBLAS_", "OMP_", "GOTO_")

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
class Memory:
    """What the service held: its peak, its memory at the end, and any engine it loaded."""

    peak_mb: float  # VmHWM: the most it was ever resident
    rss_mb: float  # at the end of the session
    anonymous_mb: float  # of which not backed by a file (heap, Python objects, stacks)
    engine_files: list[str]  # mapped files of a speech engine (none expected)


@dataclass(frozen=True)
class ProcessCost:
    ready_s: float
    cpu_idle_pct: list[float]
    cpu_session_pct: list[float]
    memory: Memory
    baseline_cpu_session_pct: list[float]

    @property
    def rss_mb(self) -> float:
        return self.memory.peak_mb


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


def _kib(path: Path, *names: str) -> dict[str, int]:
    """The named "Name:  N kB" lines of a /proc file, in KiB."""
    found = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        if name in names:
            found[name] = int(value.split()[0])
    return found


def memory_of(pid: int) -> Memory:
    """The process's peak and present memory, and the speech-engine files it has mapped."""
    proc = Path(f"/proc/{pid}")
    status = _kib(proc / "status", "VmHWM")
    rollup = _kib(proc / "smaps_rollup", "Rss", "Anonymous")
    mapped = {line.split(maxsplit=5)[5] for line in (proc / "maps").read_text().splitlines()
              if len(line.split(maxsplit=5)) == 6}
    engine = sorted(path for path in mapped
                    if any(name in path.rsplit("/", 1)[-1].lower() or f"/{name}" in path.lower()
                           for name in ENGINE_FILES))
    return Memory(status["VmHWM"] / 1024, rollup["Rss"] / 1024, rollup["Anonymous"] / 1024,
                  engine)


def service_environment(unit: Path = UNIT) -> dict[str, str]:
    """The interpreter settings in the unit's Environment= lines."""
    found: dict[str, str] = {}
    try:
        text = unit.read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() != "Environment":
            continue
        for assignment in shlex.split(value):
            name, _, setting = assignment.partition("=")
            if name.startswith(INTERPRETER_ENV):
                found[name] = setting
    return found


def _environment(scratch: str, cache_home: Path, bytecode: Path) -> dict[str, str]:
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", NOTIFY_SOCKET=f"{scratch}/notify",
               XDG_CACHE_HOME=str(cache_home), XDG_STATE_HOME=f"{scratch}/state")
    for name in ("STATE_DIRECTORY", "CACHE_DIRECTORY"):  # they would win over XDG_*
        env.pop(name, None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(service_environment(), PYTHONPYCACHEPREFIX=str(bytecode))
    return env


def compile_service(config_path: Path, cache_home: Path, bytecode: Path) -> None:
    """Start `ebbtide run` once, through the start of a session, so that every module it
    uses is compiled into `bytecode`: the runs measured after it start as installed."""
    with ebbtide_run(config_path, cache_home, bytecode) as (process, _):
        process.send_signal(signal.SIGUSR1)
        time.sleep(2.0)


@contextmanager
def ebbtide_run(config_path: Path, cache_home: Path,
                bytecode: Path) -> Iterator[tuple[subprocess.Popen, float]]:
    """`ebbtide run` on mock pins with its voice cache under `cache_home` (XDG_CACHE_HOME),
    its bytecode in `bytecode` and its history in a temporary folder; yields it, once it
    has said READY=1, and the seconds that took. SIGTERM ends it."""
    with tempfile.TemporaryDirectory(prefix="ebbtide-bench-run-") as scratch:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(f"{scratch}/notify")
        env = _environment(scratch, cache_home, bytecode)
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "bench.service", "run", "--config",
                                    str(config_path)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            notify.settimeout(60)
            while notify.recv(4096) != b"READY=1":
                pass
            yield process, time.monotonic() - started
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            notify.close()


def measure_process(config_path: Path, cache_home: Path, bytecode: Path, lines: list[str],
                    idle_s: float, session_s: float,
                    started: threading.Event | None = None) -> ProcessCost:
    """Start `ebbtide run`, wait for READY=1 (then set `started`), sit idle, press, and
    measure a session."""
    with ebbtide_run(config_path, cache_home, bytecode) as (ours, ready), \
            tempfile.TemporaryDirectory(prefix="ebbtide-bench-baseline-") as scratch:
        if started:
            started.set()
        idle = _cpu_percent(ours.pid, idle_s)
        # Its own session (killed with its aplay) and temporary folder (pyttsx3's say()
        # leaves a WAV file there when it is killed mid-line).
        baseline = subprocess.Popen([sys.executable, "-c", BASELINE, *lines],
                                    env=dict(os.environ, TMPDIR=scratch),
                                    start_new_session=True, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
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
            os.killpg(baseline.pid, signal.SIGKILL)
            baseline.wait()
        memory = memory_of(ours.pid)
    return ProcessCost(ready, idle, both["ours"], memory, both["baseline"])


def measure_memory(config_path: Path, cache_home: Path, bytecode: Path, idle_s: float,
                   session_s: float, started: threading.Event | None = None) -> Memory:
    """`ebbtide run` idle for idle_s (once READY=1, `started` is set), then a session of
    session_s: its memory."""
    with ebbtide_run(config_path, cache_home, bytecode) as (process, _):
        if started:
            started.set()
        time.sleep(idle_s)
        process.send_signal(signal.SIGUSR1)  # a press
        time.sleep(session_s)
        return memory_of(process.pid)
