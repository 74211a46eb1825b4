"""A sound output to measure against: PulseAudio's null sink, kept awake by a listener.

With no listener the null sink sleeps in 2-second blocks, and a new stream's first sound
waits up to 2 s for the next one; a real ALSA device does not. parecord on the sink's
monitor keeps it running in small blocks, as the end-to-end test does.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _answers() -> bool:
    return subprocess.run(["pactl", "info"], capture_output=True).returncode == 0


@contextmanager
def awake_null_sink() -> Iterator[str | None]:
    """Yields a description of the output, or None when there is no PulseAudio here."""
    if not (shutil.which("pulseaudio") and shutil.which("parecord")):
        yield None
        return
    started = False
    if not _answers():
        subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1", "-n",
                        "--load=module-null-sink", "--load=module-native-protocol-unix"],
                       capture_output=True, check=False)
        deadline = time.monotonic() + 10
        while not _answers() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = True
    listener = subprocess.Popen(
        ["parecord", "--device=null.monitor", "--raw", "--latency-msec=10", "/dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)  # connected, and the sink out of its last 2-second block
    try:
        yield "PulseAudio null sink (kept awake by parecord)"
    finally:
        listener.terminate()
        listener.wait()
        if started:
            subprocess.run(["pulseaudio", "--kill"], capture_output=True, check=False)
