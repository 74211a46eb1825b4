"""The service's tests share a voice cache with every line of the built-in script made."""

from __future__ import annotations

import pytest

from audio import cache
from audio.mixer import Mixer
from audio.speaker import Speaker
from device.core.config import Config
from device.core.plan import voice_lines
from device.files.script_file import load_script

RATE = 16000  # the tests' mixing rate: quick, and enough to hear the words


@pytest.fixture(scope="module")
def voice_cache():
    """The run's voice cache (tests/conftest.py), with every line of the script made."""
    Speaker(mixer=Mixer(RATE)).prepare(voice_lines(Config(), load_script()))
    return cache.default_cache_dir()
