"""Shared fixtures: mock GPIO pins, and a real PulseAudio null sink when PulseAudio is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    """Start PulseAudio with a null sink and wait until it answers."""
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


_PRIVATE = {"HOME": "home", "XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache",
            "XDG_STATE_HOME": "state", "XDG_DATA_HOME": "data", "XDG_RUNTIME_DIR": "runtime",
            # What a process leaves in the temporary folder when a test kills it (gcc, run
            # by ctypes.util.find_library while `ebbtide run` starts, leaves /tmp/cc*.res).
            "TMPDIR": "tmp"}


def pytest_configure(config):
    """Nothing of a run is left behind, and nothing of it lands in the real home.

    Home, the XDG folders (the voice cache, the history, matplotlib's font cache), the
    runtime folder (PulseAudio's socket) and TMPDIR point into a new temporary folder before
    any test module is imported; pytest's own temporary folders go into another. Both are
    removed at the end (pytest would otherwise keep its last three runs in /tmp).
    """
    if hasattr(config, "workerinput"):
        return
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="ebbtide-tests-")
        config.add_cleanup(lambda: shutil.rmtree(config.option.basetemp, ignore_errors=True))
    base = Path(tempfile.mkdtemp(prefix="ebbtide-tests-home-"))
    saved = {name: os.environ.get(name) for name in _PRIVATE}
    for name, folder in _PRIVATE.items():
        (base / folder).mkdir(mode=0o700)
        os.environ[name] = str(base / folder)
    # TMPDIR is shared as /tmp is (a test drops root to get a real EACCES and works there).
    base.chmod(0o711)
    (base / _PRIVATE["TMPDIR"]).chmod(0o1777)
    tempfile.tempdir = None  # this process, too, asks TMPDIR again
    config.stash[_HOME] = base

    def restore() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        tempfile.tempdir = None
        shutil.rmtree(base, ignore_errors=True)

    config.add_cleanup(restore)


_HOME = pytest.StashKey[Path]()


@pytest.fixture(scope="session", autouse=True)
def private_dirs(request):
    """The run's private folder: home, XDG folders and the runtime folder live in it.

    One voice cache serves the whole run: the speech engine makes each line once, and tests
    of the cache itself use folders of their own.
    """
    return request.config.stash[_HOME]


_CRASHING_ENGINE = """
import os, signal, sys
import numpy as np
from audio import voice_child
from audio.clip import Clip

class Crashing:
    engine_name = "crashing"
    identity = "crashing engine"

    def render(self, text):
        if {crash_if}:
            os.kill(os.getpid(), signal.{how})
        return Clip(0.3 * np.sin(np.arange(len(text) * 900) / 20), 22050)

sys.exit(voice_child.main(lambda settings: Crashing()))
"""


@pytest.fixture
def crashing_engine(tmp_path):
    """crashing_engine(crash_if, how="SIGSEGV"): the command of a voice maker whose engine
    makes a tone for each line, but kills itself with `how` on a line whose text makes the
    Python expression `crash_if` true, as a native crash would."""

    def command(crash_if: str, how: str = "SIGSEGV") -> list[str]:
        script = tmp_path / f"crashing_engine_{how}.py"
        script.write_text(_CRASHING_ENGINE.format(crash_if=crash_if, how=how))
        return [sys.executable, str(script)]

    return command


@pytest.fixture(scope="session")
def made_voice(private_dirs):
    """The run's voice cache with every line of the built-in script made at 48 kHz (the rate
    of a service with no sound device), for tests that start `ebbtide run` with a state
    folder of their own: seed_voice(folder) links the clips in, so it starts at once."""
    from audio import cache
    from audio.voicemaker import VoiceMaker
    from device.core.config import Config
    from device.core.plan import voice_lines
    from device.core.voice import VoiceSettings
    from device.files.script_file import load_script

    directory = cache.default_cache_dir()
    report = VoiceMaker(VoiceSettings(), directory).fill(
        voice_lines(Config(), load_script()), 48000)
    assert report.failure is None, report.failure

    def seed_voice(folder):
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        for path in directory.iterdir():
            if path.is_file():  # the clips and the memo, not the speech process's home
                os.link(path, folder / path.name)
        return folder

    return seed_voice


@pytest.fixture(scope="session")
def null_sink(private_dirs):
    """A real audio output for the tests: PulseAudio with a null sink, the run's own (its
    socket and files in the run's runtime folder), stopped at the end. Started by the first
    test outside tests/core (see sound_outside_the_core).

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
        kill_pulseaudio()


_PURE = (Path(__file__).resolve().parent / "core", Path(__file__).resolve().parent / "sensing")


@pytest.fixture(scope="module", autouse=True)
def sound_outside_the_core(request):
    """Every room's tests but the pure ones' (the core, sensing) have the run's PulseAudio,
    as they always had: module-scoped and autouse, so it is up before any fixture of the
    module opens a sound device. tests/core and tests/sensing play nothing, so
    `pytest tests/core tests/sensing` never starts PulseAudio."""
    if not any(pure in request.path.resolve().parents for pure in _PURE):
        request.getfixturevalue("null_sink")


def _own_sink(null_sink, name: str):
    """A null sink of a test module's own in the tests' PulseAudio (so no other test's sound
    gets in); CI sets EBBTIDE_REQUIRE_AUDIO, so there it fails rather than skips."""
    tools = all(shutil.which(t) for t in ("pactl", "paplay", "parecord"))
    loaded = tools and null_sink and subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={name}"],
        capture_output=True, text=True)
    if not loaded or loaded.returncode != 0:
        if os.environ.get("EBBTIDE_REQUIRE_AUDIO"):
            pytest.fail("PulseAudio with a null sink is required here but is not running")
        pytest.skip("no PulseAudio on this machine")
    yield name
    subprocess.run(["pactl", "unload-module", loaded.stdout.strip()], capture_output=True)


@pytest.fixture(scope="module")
def own_sink(null_sink, request):
    """The name of a null sink for this test module alone."""
    yield from _own_sink(null_sink, f"ebbtide_{request.module.__name__.rsplit('.', 1)[-1]}"
                                    f"_{os.getpid()}")


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
