"""Shared fixtures: mock GPIO pins, and a real PulseAudio null sink when PulseAudio is installed."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from gpiozero import Device

from hardware.pins import mock_factory


@pytest.fixture
def pins():
    """gpiozero's MockFactory with PWM-capable pins, reset after each test."""
    factory = mock_factory()
    yield factory
    factory.reset()
    factory.close()
    Device.pin_factory = None


def _pulse_running() -> bool:
    return subprocess.run(["pactl", "info"], capture_output=True).returncode == 0


def start_pulseaudio() -> bool:
    """Start PulseAudio with a null sink (as in DESIGN.md) and wait until it answers."""
    subprocess.run(
        ["pulseaudio", "-D", "--exit-idle-time=-1", "-n",
         "--load=module-null-sink", "--load=module-native-protocol-unix"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )
    deadline = time.monotonic() + 10
    while not _pulse_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    return _pulse_running()


def kill_pulseaudio() -> None:
    """Kill the PulseAudio server, as when the sound device goes away, and wait until it has."""
    subprocess.run(["pulseaudio", "--kill"], capture_output=True, check=False)
    deadline = time.monotonic() + 10
    while _pulse_running() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope="session", autouse=True)
def null_sink():
    """A real audio output for the tests: PulseAudio with a null sink, started if needed.

    Without PulseAudio installed the audio tests see no device and the session
    runs light-only, exactly as on a Pi with no speaker.
    """
    if not shutil.which("pulseaudio") or not shutil.which("pactl"):
        yield None
        return
    started = False
    if not _pulse_running():
        started = start_pulseaudio()
    yield "null"
    if started:
        subprocess.run(["pulseaudio", "--kill"], capture_output=True, check=False)


@pytest.fixture
def pulseaudio_control(null_sink):
    """(kill, start) functions for the PulseAudio server; it is running after the test."""
    yield kill_pulseaudio, start_pulseaudio
    if not _pulse_running():
        start_pulseaudio()


@pytest.fixture(scope="session")
def tell(request):
    """A function that writes one line to the terminal, even under -q and output capture
    (modules use it to report how many random cases they ran)."""
    plugins = request.config.pluginmanager

    def write(line: str) -> None:
        reporter = plugins.get_plugin("terminalreporter")
        capture = plugins.get_plugin("capturemanager")
        if reporter is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return write
