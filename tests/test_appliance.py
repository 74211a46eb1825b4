"""The appliance on mock pins and a simulated clock, with the real voice: press, run, idle
again; a crash in a session is logged and the next press still works."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from audio.mixer import Mixer
from audio.speaker import Speaker
from device.appliance import Appliance
from device.clock import SimulatedClock
from device.config import parse
from device.script import load_script

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

    def open(self) -> bool:
        self.duty_at_open.append(self.led.state)
        return super().open()


@pytest.fixture
def appliance(tmp_path):
    factory = MockFactory(pin_class=GlitchyPWMPin)
    clock = SimulatedClock()
    events: list = []
    speaker = WatchedSpeaker(mixer=Mixer(48000), cache_dir=tmp_path / "voice")
    speaker.led, speaker.duty_at_open = factory.pin(18), []
    device = Appliance(parse({"breathing": {"minutes": 1}}), SCRIPT, clock=clock,
                       pin_factory=factory, speaker=speaker,
                       listener=lambda e, **f: events.append((clock.now(), e, f)))
    yield device, clock, factory, events
    device.close()
    factory.close()


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


def test_sigterm_handling_restores_the_previous_handlers(appliance):
    import signal

    device = appliance[0]
    before = signal.getsignal(signal.SIGTERM)
    restore = device.quit_on_signals()
    assert signal.getsignal(signal.SIGTERM) is not before
    restore()
    assert signal.getsignal(signal.SIGTERM) is before
