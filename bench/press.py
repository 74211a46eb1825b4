"""From a press to the first light and to the first sound: Ebbtide, and the usual approach.

Every press is a mock pin's drive_low(), timed on the monotonic clock. Ours is the whole
appliance (controller, runner, light, speaker) serving in its own thread, as `ebbtide run`
does. The baselines are gpiozero's `when_pressed` calling `led.pulse()`, and pyttsx3's
`say()` + `runAndWait()`.
"""

from __future__ import annotations

import datetime
import functools
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

from gpiozero import PWMLED, Button

from audio.speaker import Speaker
from bench.pins import recording_factory
from device.core.config import Config
from device.core.events import ignore
from device.core.script import Script
from device.service.appliance import Appliance
from device.service.clock import MonotonicClock

# Local noon: outside the quiet hours, so nothing is scaled down.
NOON = datetime.datetime(2026, 6, 1, 12, 0).astimezone()
SETTLE_S = 0.05  # lets the appliance reach its wait for a press
BASELINE_FADE = (4.0, 6.0)  # pulse(fade_in_time, fade_out_time), the bench pattern's breath


def _serving(config: Config, script: Script, speaker: Speaker):
    """An appliance on recording mock pins, serving in a thread; (appliance, factory, thread)."""
    factory = recording_factory()
    appliance = Appliance(config, script, clock=MonotonicClock(), pin_factory=factory,
                          listener=ignore, speaker=speaker, log_tracebacks=False,
                          wall_clock=lambda: NOON)
    thread = threading.Thread(target=appliance.serve, name="bench-appliance")
    thread.start()
    time.sleep(SETTLE_S)
    return appliance, factory, thread


def _stop(appliance: Appliance, factory, thread: threading.Thread) -> None:
    appliance.controller.quit()
    thread.join(timeout=10)
    appliance.close()
    factory.close()


def _press_until_lit(factory, config: Config) -> float:
    """Press the button pin; ms until the LED pin is first written a non-zero value."""
    led = factory.pin(config.light.pin)
    pressed = time.monotonic()
    factory.pin(config.button.pin).drive_low()
    led.lit.wait(5)
    first = next(t for t, v in led.writes if v > 0 and t >= pressed)
    return (first - pressed) * 1000


def ours_press_to_light(config: Config, script: Script, speaker: Speaker, n: int) -> list[float]:
    """ms from drive_low() to the first non-zero value written to the LED pin."""
    results = []
    for _ in range(n):
        appliance, factory, thread = _serving(config, script, speaker)
        try:
            results.append(_press_until_lit(factory, config))
        finally:
            _stop(appliance, factory, thread)
    return results


def baseline_press_to_light(config: Config, n: int) -> list[float]:
    """gpiozero's when_pressed -> led.pulse(): ms to the first non-zero value written."""
    results = []
    for _ in range(n):
        factory = recording_factory()
        led = PWMLED(config.light.pin, pin_factory=factory)
        button = Button(config.button.pin, pin_factory=factory)
        button.when_pressed = functools.partial(led.pulse, *BASELINE_FADE)
        try:
            results.append(_press_until_lit(factory, config))
        finally:
            led.close()
            button.close()
            factory.close()
    return results


def ours_press_to_audio(config: Config, script: Script, speaker: Speaker, n: int) -> list[float]:
    """ms from drive_low() to the DAC time of the first sample of the first sound."""
    results = []
    for _ in range(n):
        appliance, factory, thread = _serving(config, script, speaker)
        try:
            pressed = time.monotonic()
            factory.pin(config.button.pin).drive_low()
            deadline = pressed + 5
            heard = speaker.heard()
            while not heard and time.monotonic() < deadline:
                time.sleep(0.005)
                heard = speaker.heard()
            if heard:
                results.append((heard[0][1] - pressed) * 1000)
        finally:
            _stop(appliance, factory, thread)
    return results


# Put first on PATH for pyttsx3's os.system("aplay ..."): notes the wall-clock time (in
# microseconds) when aplay has set up the device and begins to write, which `aplay -v`
# announces just then. Without a real aplay, it notes when aplay was started: a lower bound.
APLAY_SHIM = """#!/bin/bash
if [ -x "{aplay}" ]; then
    "{aplay}" -v "$@" 2> >(read -r _; read -r _; echo "$EPOCHREALTIME" >> "{log}"; cat >/dev/null)
else
    echo "$EPOCHREALTIME" >> "{log}"
fi
"""


def baseline_press_to_audio(config: Config, text: str, n: int) -> tuple[list[float], str]:
    """pyttsx3 say() + runAndWait() on a press: ms until aplay begins to write; and how that
    was measured."""
    import pyttsx3

    aplay = shutil.which("aplay") or ""
    how = ("until aplay begins to write (aplay -v)" if aplay else
           "until aplay is started (no aplay here: a lower bound, and no sound)")
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "aplay.log"
        shim = Path(scratch) / "aplay"
        shim.write_text(APLAY_SHIM.format(aplay=aplay or "/nonexistent", log=log))
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        saved = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{scratch}:{saved}"
        try:
            engine = pyttsx3.init()
            engine.say("")
            engine.runAndWait()  # pyttsx3 2.99: the first run after init returns early
            results = []
            for _ in range(n):
                factory = recording_factory()
                button = Button(config.button.pin, pin_factory=factory)
                button.when_pressed = lambda: (engine.say(text), engine.runAndWait())
                log.write_text("")
                pressed = time.time()
                factory.pin(config.button.pin).drive_low()  # blocks until said
                started = log.read_text().split()
                if started:
                    results.append((float(started[0]) - pressed) * 1000)
                button.close()
                factory.close()
            return results, how
        finally:
            os.environ["PATH"] = saved


