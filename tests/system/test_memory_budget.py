"""The whole appliance inside a Pi Zero 2 W's memory: a cold `ebbtide check` and a cold
`ebbtide run` (service and speech process together) inside a memory cgroup of 300 MB with
no swap make every line with the natural voice: none lost, none by espeak-ng, none made
again, and the kernel's OOM killer never called.

Needs root and a cgroup memory controller (v2, or v1 as on hybrid systems); skips, saying
why, without them (CI fails instead when EBBTIDE_REQUIRE_CGROUP is set).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from device.core.config import Config
from device.core.plan import voice_lines
from device.files.script_file import load_script
from tests.polling import wait_until

pytestmark = [pytest.mark.process, pytest.mark.memory]

BUDGET = "300M"  # what Raspberry Pi OS Lite leaves a Pi Zero 2 W, with room to spare
FILL_TIMEOUT_S = 600.0  # the whole script made cold on a busy machine
ALL_LINES = len({line.text for line in voice_lines(Config(), load_script())})


@dataclass
class Cgroup:
    """A memory cgroup of our own: its folder and the names of its files."""

    path: Path
    version: int

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside it (the shell joins first, then becomes the program)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"',
                str(self.path), *argv]

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        fields = dict(line.split() for line in (self.path / name).read_text().splitlines())
        return int(fields["oom_kill"])

    def peak_mb(self) -> float:
        """The most it held (page cache included); NaN where the kernel does not say."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text()) / 2**20
        except FileNotFoundError:  # memory.peak came with Linux 5.19
            return float("nan")


def _own_path(controller: str) -> str:
    """This process's cgroup for `controller` (v1) or its unified one ("")."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and not names):
            return path
    return ""


def _unified() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, kind, *_ = line.split()
        if kind == "cgroup2":
            return Path(mount)
    return None


def _make(name: str) -> tuple[Cgroup | None, str]:
    """A new cgroup limited to BUDGET (v2 where it has the memory controller, else v1),
    or None and why not."""
    if os.geteuid() != 0:
        return None, "needs root to make a memory cgroup"
    unified = _unified()
    tried = []
    # Under our own cgroup if it may have children with the memory controller, else under
    # the root (which may have processes of its own and children with controllers).
    parents = [unified / _own_path("").lstrip("/"), unified] if unified is not None else []
    for parent in dict.fromkeys(parents):
        if "memory" not in (parent / "cgroup.controllers").read_text().split():
            tried.append(f"cgroup v2 at {parent} has no memory controller")
            continue
        path = parent / name
        try:
            (parent / "cgroup.subtree_control").write_text("+memory")
            path.mkdir()
            (path / "memory.max").write_text(BUDGET)
            if (path / "memory.swap.max").exists():  # where the kernel accounts swap
                (path / "memory.swap.max").write_text("0")
            return Cgroup(path, 2), ""
        except OSError as error:
            tried.append(f"cgroup v2 at {parent}: {error.strerror or error}")
            with contextlib.suppress(OSError):
                path.rmdir()
    v1 = Path("/sys/fs/cgroup/memory")
    if (v1 / "memory.limit_in_bytes").exists():
        path = v1 / _own_path("memory").lstrip("/") / name
        try:
            path.mkdir()
            (path / "memory.limit_in_bytes").write_text(BUDGET)
            swap = path / "memory.memsw.limit_in_bytes"
            if swap.exists():  # swap included, where the kernel accounts it
                swap.write_text(BUDGET)
            return Cgroup(path, 1), ""
        except OSError as error:
            tried.append(f"cgroup v1 at {path}: {error.strerror or error}")
    else:
        tried.append("no cgroup v1 memory controller")
    return None, "; ".join(tried)


@pytest.fixture
def budget(request) -> Iterator[Cgroup]:
    group, why = _make(f"ebbtide-test-{os.getpid()}-{request.node.name[:40]}")
    if group is None:
        if os.environ.get("EBBTIDE_REQUIRE_CGROUP"):
            pytest.fail(f"a memory cgroup is required here: {why}")
        pytest.skip(f"no memory cgroup: {why}")
    yield group
    for pid in (group.path / "cgroup.procs").read_text().split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    wait_until(lambda: not (group.path / "cgroup.procs").read_text().strip(), 10,
               "the cgroup emptied")
    group.path.rmdir()


def cold_environment(tmp_path: Path, **more: str) -> dict[str, str]:
    """A home of its own, with no voice made yet."""
    home = tmp_path / "home"
    for folder in ("cache", "config", "state"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    return dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / "cache"),
                XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
                **more)


def test_a_cold_check_makes_every_line_with_piper_in_300_mb(tmp_path, budget, tell) -> None:
    began = time.monotonic()
    done = subprocess.run(budget.command([sys.executable, "-m", "device.cli", "check"]),
                          env=cold_environment(tmp_path), capture_output=True, text=True,
                          timeout=FILL_TIMEOUT_S)
    voice = [line for line in done.stdout.splitlines() if line.startswith("voice")]
    assert done.returncode == 0, done.stdout + done.stderr
    assert voice[0].startswith("voice: piper "), voice
    assert not [line for line in voice if "warning" in line], voice  # nothing lost or remade
    assert f"{ALL_LINES} lines ready ({ALL_LINES} made now" in voice[-1], voice
    assert budget.oom_kills() == 0
    tell(f"\ncold check in {BUDGET}: {ALL_LINES} lines by Piper, peak {budget.peak_mb():.0f} MB "
         f"(page cache included), {time.monotonic() - began:.0f} s")


class NotifySocket:
    """What the service tells systemd (READY=1 ...), as a test socket hears it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.setblocking(False)
        self.heard: list[str] = []

    def has(self, message: str) -> bool:
        with contextlib.suppress(BlockingIOError):
            while True:
                self.heard.append(self.socket.recv(4096).decode())
        return message in self.heard


def trace_has(path: Path, event: str, **fields: object) -> bool:
    lines = path.read_text().splitlines() if path.exists() else []
    return any((e := json.loads(line))["event"] == event
               and all(e.get(k) == v for k, v in fields.items()) for line in lines)


def test_a_cold_run_makes_every_line_with_piper_and_speaks_in_300_mb(tmp_path, budget,
                                                                      own_sink, tell) -> None:
    """The service as systemd starts it on a first boot, no voice made: it makes every line
    (its speech process beside it, in the same budget), then a press starts a session
    that speaks through a real sound server."""
    notify = NotifySocket(tmp_path / "notify")
    trace = tmp_path / "trace.jsonl"
    (tmp_path / "config.toml").write_text("[breathing]\nminutes = 1\n")
    env = cold_environment(tmp_path, GPIOZERO_PIN_FACTORY="mock", PULSE_SINK=own_sink,
                           STATE_DIRECTORY=str(tmp_path / "state"),
                           NOTIFY_SOCKET=str(notify.path))
    run = subprocess.Popen(
        budget.command([sys.executable, "-m", "device.cli", "run", "--config",
                        str(tmp_path / "config.toml"), "--trace", str(trace)]),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: notify.has("READY=1") or run.poll() is not None, FILL_TIMEOUT_S,
                   "READY=1 after the voice was made", every=0.2)
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGUSR1)
        wait_until(lambda: trace_has(trace, "clip"), 60, "a line spoken", every=0.05)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    said = [line for line in err.splitlines() if "WARNING" in line or "ERROR" in line]
    assert said == [], said  # no line lost, remade or left to espeak-ng, no engine trouble
    made = list((tmp_path / "state" / "voice").glob("*.wav"))
    assert len(made) == 2 * ALL_LINES  # each line levelled, and at the output's rate
    assert budget.oom_kills() == 0
    tell(f"\ncold run in {BUDGET}: {ALL_LINES} lines made, a session spoke; peak "
         f"{budget.peak_mb():.0f} MB (page cache included)")
