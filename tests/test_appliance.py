"""The appliance on mock pins and a simulated clock, with the real voice: press, run, idle
again; a crash in a session is logged and the next press still works."""

from __future__ import annotations

import datetime

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from audio.mixer import Mixer
from audio.speaker import Speaker
from device.appliance import Appliance
from device.clock import SimulatedClock
from device.config import parse
from device.script import load_script
from hardware.lightness import lightness_for

SCRIPT = load_script()


class GlitchyPWMPin(MockPWMPin):
    """A PWM pin whose driver fails once, on the first write after `glitch_at` is armed."""

    glitch = False

    def _set_state(self, value):
        if GlitchyPWMPin.glitch and value > 0:
            GlitchyPWMPin.glitch = False
            raise OSError("PWM write failed")
        super()._set_state(value)


class WatchedSpeaker(Speaker):
    """The real speaker, noting how bright the LED already was when the sound was opened."""

    led = None
    duty_at_open: list[float]
    volumes: list[float]

    def open(self, volume: float = 1.0) -> float | None:
        self.duty_at_open.append(self.led.state)
        self.volumes.append(volume)
        return super().open(volume)


@pytest.fixture
def appliance(tmp_path):
    factory = MockFactory(pin_class=GlitchyPWMPin)
    clock = SimulatedClock()
    events: list = []
    speaker = WatchedSpeaker(mixer=Mixer(48000), cache_dir=tmp_path / "voice")
    speaker.led, speaker.duty_at_open, speaker.volumes = factory.pin(18), [], []
    device = Appliance(parse({"breathing": {"minutes": 1}}), SCRIPT, clock=clock,
                       pin_factory=factory, speaker=speaker,
                       listener=lambda e, **f: events.append((clock.now(), e, f)),
                       local_time=lambda: LOCAL_TIME["now"])
    yield device, clock, factory, events
    device.close()
    factory.close()


LOCAL_TIME = {"now": datetime.time(12, 0)}


def sessions(events):
    return [f["state"] for _, e, f in events if e == "session"]


def test_a_press_runs_a_whole_session_then_waits_for_the_next(appliance):
    device, clock, factory, events = appliance
    button, led = factory.pin(17), factory.pin(18)
    clock.at(5.0, button.drive_low)
    clock.at(5.2, button.drive_high)
    clock.at(1000.0, button.drive_low)
    clock.at(1000.2, button.drive_high)
    clock.at(1010.0, button.drive_low)  # held: stops the second session
    clock.at(1020.0, device.controller.quit)
    device.serve()
    assert sessions(events) == ["started", "finished", "started", "stopped"]
    assert led.state == 0
    said = [f for _, e, f in events if e == "clip"]
    assert said[0]["text"] == SCRIPT.arrive[0]
    assert all(f["seconds"] > 0.3 for f in said), "real espeak-ng clips have real lengths"
    first_light = next(t for t, e, f in events if e == "light" and f["value"] > 0)
    assert first_light == 5.0, "the light appears on the press itself"
    assert len(device.speaker.duty_at_open) == 2
    assert all(duty > 0 for duty in device.speaker.duty_at_open), "glowing before any sound"


def test_a_crash_in_a_session_is_logged_and_the_next_press_works(appliance, caplog):
    device, clock, factory, events = appliance
    button, led = factory.pin(17), factory.pin(18)
    clock.at(1.0, button.drive_low)
    clock.at(1.1, button.drive_high)
    clock.at(30.0, lambda: setattr(GlitchyPWMPin, "glitch", True))
    clock.at(100.0, button.drive_low)
    clock.at(100.1, button.drive_high)
    clock.at(101.0, device.controller.quit)
    device.serve()
    assert sessions(events) == ["started", "error", "started", "interrupted"]
    assert led.state == 0
    failure = [r for r in caplog.records if "session failed" in r.getMessage()]
    assert len(failure) == 1 and "PWM write failed" in failure[0].getMessage()
    assert failure[0].exc_info is not None, "the traceback goes to the log"


def test_in_quiet_hours_a_session_is_dimmer_and_quieter(appliance, monkeypatch):
    device, clock, factory, events = appliance
    button, led = factory.pin(17), factory.pin(18)
    monkeypatch.setitem(LOCAL_TIME, "now", datetime.time(12, 0))
    clock.at(1.0, button.drive_low)
    clock.at(1.1, button.drive_high)
    clock.at(40.0, button.drive_low)  # held: stops the day session
    clock.at(50.0, button.drive_high)
    clock.at(50.5, lambda: LOCAL_TIME.__setitem__("now", datetime.time(23, 30)))
    clock.at(51.0, button.drive_low)
    clock.at(51.1, button.drive_high)
    clock.at(90.0, device.controller.quit)
    device.serve()
    assert sessions(events) == ["started", "stopped", "started", "interrupted"]
    night = device.config.night
    day_volume, night_volume = device.speaker.volumes
    assert day_volume == device.config.audio.volume
    assert night_volume == pytest.approx(day_volume * night.volume_scale)
    duties = [(t, f["value"]) for t, e, f in events if e == "light"]
    day = max(d for t, d in duties if t < 40.0)
    by_night = max(d for t, d in duties if 51.0 <= t < 90.0)
    # The same breaths, at a lower peak: the brightness scale is on the perceptual curve.
    scale = lightness_for(by_night) / lightness_for(day)
    assert scale == pytest.approx(night.brightness_scale, abs=0.02)
    assert [f["night"] for _, e, f in events if e == "session" and "night" in f] == [False, True]
    assert led.state == 0


def test_sigterm_handling_restores_the_previous_handlers(appliance):
    import signal

    device = appliance[0]
    before = signal.getsignal(signal.SIGTERM)
    restore = device.quit_on_signals()
    assert signal.getsignal(signal.SIGTERM) is not before
    restore()
    assert signal.getsignal(signal.SIGTERM) is before
