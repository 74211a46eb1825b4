"""Button gestures on mock pins and a simulated clock: start, skip, hold-to-stop, bounces."""

from __future__ import annotations

import pytest

from device.service.clock import SimulatedClock
from device.service.controller import DEBOUNCE, Command, Controller, State
from hardware.button import ButtonEdges


@pytest.fixture
def rig(pins):
    clock = SimulatedClock()
    heard = Heard()
    controller = Controller(clock, hold_seconds=2.0,
                            listener=lambda e: heard.note(clock.now(), e.action))
    button = ButtonEdges(17, controller.edge, pin_factory=pins)
    yield clock, controller, pins.pin(17), heard
    button.close()


class Heard(list):
    """The gestures the controller reported, in order; `.times` says when."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def note(self, t: float, action: str) -> None:
        self.append(action)
        self.times.append(t)


def at(clock, t, action):
    clock.run_pending(t)
    action()


def running(clock, controller, pin):
    """A session started by a press at 0 s and released at 0.2 s."""
    pin.drive_low()
    assert controller.wait_for_start()
    controller.session_began()
    at(clock, 0.2, pin.drive_high)
    clock.run_pending(0.2 + DEBOUNCE)
    assert controller.take(clock.now()) is None


def bounce(clock, pin, t, settle_low: bool):
    """Contact bounce at t: a few edges within 4 ms, ending down or up."""
    first, second = (pin.drive_high, pin.drive_low) if settle_low else (
        pin.drive_low, pin.drive_high)
    for k in range(3):
        at(clock, t + 0.001 * (2 * k + 1), first)
        at(clock, t + 0.001 * (2 * k + 2), second)


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
    clock.run_pending(5.5)
    assert controller.take(clock.now()) is None


def test_a_short_press_while_running_skips_once_the_release_settles(rig):
    clock, controller, pin, heard = rig
    running(clock, controller, pin)
    at(clock, 10.0, pin.drive_low)
    assert controller.take(clock.now()) is None
    at(clock, 10.3, pin.drive_high)
    assert controller.next_deadline() == pytest.approx(10.3 + DEBOUNCE)
    clock.run_pending(10.3 + DEBOUNCE)
    assert controller.take(clock.now()) is Command.SKIP
    assert controller.take(clock.now()) is None
    assert heard[-2:] == ["press", "release"]


def test_holding_stops_while_the_button_is_still_down(rig):
    clock, controller, pin, heard = rig
    running(clock, controller, pin)
    at(clock, 10.0, pin.drive_low)
    assert controller.next_deadline() == 12.0
    clock.run_pending(11.99)
    assert controller.take(clock.now()) is None
    clock.run_pending(12.0)
    assert controller.take(clock.now()) is Command.STOP
    at(clock, 13.0, pin.drive_high)
    clock.run_pending(14.0)
    assert controller.take(clock.now()) is None, "the release after a hold is not a skip"
    assert heard[-2:] == ["hold", "release"]


def test_a_bouncing_start_press_starts_once_and_its_release_does_nothing(rig):
    clock, controller, pin, _ = rig
    at(clock, 0.0, pin.drive_low)
    bounce(clock, pin, 0.0, settle_low=True)
    assert controller.take(clock.now()) is Command.START
    controller.session_began()
    at(clock, 0.5, pin.drive_high)
    bounce(clock, pin, 0.5, settle_low=False)
    clock.run_pending(1.0)
    assert controller.take(clock.now()) is None


def test_a_bouncing_short_press_skips_exactly_once(rig):
    clock, controller, pin, _ = rig
    running(clock, controller, pin)
    at(clock, 10.0, pin.drive_low)
    bounce(clock, pin, 10.0, settle_low=True)
    at(clock, 10.3, pin.drive_high)
    bounce(clock, pin, 10.3, settle_low=False)
    clock.run_pending(11.0)
    assert controller.take(clock.now()) is Command.SKIP
    assert controller.take(clock.now()) is None


def test_a_bouncing_hold_still_stops(rig):
    clock, controller, pin, _ = rig
    running(clock, controller, pin)
    at(clock, 10.0, pin.drive_low)
    bounce(clock, pin, 10.0, settle_low=True)
    clock.run_pending(12.0)
    assert controller.take(clock.now()) is Command.STOP


def test_a_release_bounce_after_a_stopping_hold_does_not_start_another(rig):
    clock, controller, pin, _ = rig
    running(clock, controller, pin)
    at(clock, 10.0, pin.drive_low)
    clock.run_pending(12.0)
    assert controller.take(clock.now()) is Command.STOP
    controller.session_ended()
    at(clock, 15.0, pin.drive_high)
    bounce(clock, pin, 15.0, settle_low=False)
    clock.run_pending(16.0)
    assert controller.take(clock.now()) is None
    assert controller.state is State.IDLE
    at(clock, 30.0, pin.drive_low)  # a real press later starts the next session
    assert controller.take(clock.now()) is Command.START


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


def test_a_hold_released_while_bouncing_is_still_a_stop(rig):
    clock, controller, pin, _ = rig
    running(clock, controller, pin)
    at(clock, 10.0, pin.drive_low)
    at(clock, 11.99, pin.drive_high)  # the finger lifts just before 2 s; contacts bounce
    clock.run_pending(12.0)
    assert controller.take(clock.now()) is Command.STOP
    clock.run_pending(13.0)
    assert controller.take(clock.now()) is None, "and not a skip as well"


def test_a_release_while_idle_is_noticed_when_it_settles(rig):
    clock, controller, pin, heard = rig
    clock.at(10.0, pin.drive_low)
    assert controller.wait_for_start()
    controller.session_began()
    controller.session_ended()  # say the session was over in a moment
    clock.at(10.2, pin.drive_high)
    clock.at(50.0, pin.drive_low)
    assert controller.wait_for_start()
    assert heard == ["press", "release", "press"]
    assert heard.times[1] == pytest.approx(10.2 + DEBOUNCE), "reported as it settled"


def test_a_press_exactly_one_debounce_after_a_release_counts(rig):
    clock, controller, pin, _ = rig
    running(clock, controller, pin)
    controller.session_ended()
    release = 0.29
    at(clock, release, pin.drive_high)
    at(clock, release + DEBOUNCE, pin.drive_low)
    assert controller.take(clock.now()) is Command.START


def test_a_remote_press_starts_a_session_then_moves_to_the_next_part(rig):
    clock, controller, _, heard = rig
    clock.at(5.0, controller.remote_press)
    assert controller.wait_for_start() is True
    assert clock.now() == 5.0 and controller.state is State.STARTING
    controller.session_began()
    assert controller.take(clock.now()) is None
    controller.remote_press()
    controller.remote_press()  # two signals in a row are one press
    assert controller.take(clock.now()) is Command.SKIP
    assert controller.take(clock.now()) is None
    assert heard == ["remote press", "remote press"]


def test_waiting_for_a_press_can_give_up_after_a_while_to_show_it_is_alive(rig):
    clock, controller, pin, _ = rig
    assert controller.wait_for_start(timeout=15.0) is None
    assert clock.now() == 15.0
    clock.at(20.0, pin.drive_low)
    assert controller.wait_for_start(timeout=15.0) is True
    assert clock.now() == 20.0
