"""Button gestures on mock pins and a simulated clock: start, skip, hold-to-stop, bounces."""

from __future__ import annotations

import pytest

from device.clock import SimulatedClock
from device.controller import Command, Controller, State
from hardware.button import ButtonEdges


@pytest.fixture
def rig(pins):
    clock = SimulatedClock()
    heard = []
    controller = Controller(clock, hold_seconds=2.0,
                            listener=lambda e, **f: heard.append(f["action"]))
    button = ButtonEdges(17, controller.edge, pin_factory=pins)
    yield clock, controller, pins.pin(17), heard
    button.close()


def at(clock, t, action):
    clock.run_pending(t)
    action()


def test_a_press_when_idle_starts_at_once_on_the_press(rig):
    clock, controller, pin, heard = rig
    pin.drive_low()
    assert controller.take(clock.now()) is Command.START
    assert controller.state is State.STARTING
    assert heard == ["press"]


def test_the_starting_press_is_never_a_hold_or_a_skip(rig):
    clock, controller, pin, _ = rig
    pin.drive_low()
    assert controller.wait_for_start()
    controller.session_began()
    clock.run_pending(5.0)
    assert controller.take(clock.now()) is None
    pin.drive_high()
    assert controller.take(clock.now()) is None


def test_a_short_press_while_running_skips_on_release(rig):
    clock, controller, pin, _ = rig
    controller.press()
    controller.take(0)
    controller.session_began()
    at(clock, 10.0, pin.drive_low)
    assert controller.take(clock.now()) is None
    at(clock, 10.3, pin.drive_high)
    assert controller.take(clock.now()) is Command.SKIP
    assert controller.take(clock.now()) is None


def test_holding_stops_while_the_button_is_still_down(rig):
    clock, controller, pin, heard = rig
    controller.press()
    controller.take(0)
    controller.session_began()
    at(clock, 10.0, pin.drive_low)
    assert controller.hold_deadline() == 12.0
    clock.run_pending(11.99)
    assert controller.take(clock.now()) is None
    clock.run_pending(12.0)
    assert controller.take(clock.now()) is Command.STOP
    at(clock, 13.0, pin.drive_high)
    assert controller.take(clock.now()) is None, "the release after a hold is not a skip"
    assert heard[-2:] == ["hold", "release"]


def test_bounces_do_not_skip_or_restart(rig):
    clock, controller, pin, _ = rig
    for t in (0.0, 0.002, 0.004, 0.006):  # a bouncing start press
        at(clock, t, pin.drive_low)
        at(clock, t + 0.001, pin.drive_high)
    at(clock, 0.008, pin.drive_low)
    assert controller.take(clock.now()) is Command.START
    controller.session_began()
    for t in (0.5, 0.502, 0.504):  # bouncing on release
        at(clock, t, pin.drive_high)
        at(clock, t + 0.001, pin.drive_low)
    at(clock, 0.506, pin.drive_high)
    assert controller.take(clock.now()) is None
    controller.session_ended()
    at(clock, 30.0, pin.drive_low)  # a press after the session ended starts the next
    assert controller.take(clock.now()) is Command.START


def test_a_release_bounce_after_a_session_does_not_start_another(rig):
    clock, controller, pin, _ = rig
    controller.press()
    controller.take(0)
    controller.session_began()
    at(clock, 10.0, pin.drive_low)
    clock.run_pending(12.0)
    assert controller.take(clock.now()) is Command.STOP
    controller.session_ended()
    at(clock, 15.0, pin.drive_high)
    at(clock, 15.003, pin.drive_low)  # contact bounce as the finger lifts
    at(clock, 15.004, pin.drive_high)
    assert controller.take(clock.now()) is None
    assert controller.state is State.IDLE


def test_quit_wins_over_everything(rig):
    clock, controller, pin, _ = rig
    pin.drive_low()
    controller.quit()
    assert controller.take(clock.now()) is Command.QUIT
    assert controller.wait_for_start() is False


def test_waiting_for_a_press_runs_until_the_press(rig):
    clock, controller, pin, _ = rig
    clock.at(42.0, pin.drive_low)
    assert controller.wait_for_start() is True
    assert clock.now() == 42.0
