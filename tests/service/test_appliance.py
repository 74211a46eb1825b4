"""The appliance on mock pins and a simulated clock, with the real voice: press, run, idle
again; a crash in a session is logged and the next press still works."""

from __future__ import annotations

import datetime
import itertools
import os
import signal
import socket

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from audio.mixer import Mixer
from audio.speaker import Speaker
from device.core.config_schema import parse
from device.core.plan import plan_session
from device.files.script_file import load_script
from device.history.store import History
from device.service.appliance import BLINK_OFF_S, BLINK_ON_S, Appliance
from device.service.clock import SimulatedClock
from device.service.controller import SIGNALS
from device.service.notify import ServiceNotifier
from device.service.wiring import speaker_for
from hardware.i2c_bus import open_i2c_bus
from hardware.lightness import lightness_for
from tests.hardware.fake_i2c import FakeI2CBus, FakeLSM6DS3TRC, FakeLSM6DSOX, FakeMPU6050
from tests.polling import wait_until

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
def appliance():
    made = []

    def make(maker_command=None, cache_dir=None, **options):
        factory = MockFactory(pin_class=GlitchyPWMPin)
        clock = SimulatedClock()
        events: list = []
        speaker = WatchedSpeaker(mixer=Mixer(48000), cache_dir=cache_dir,
                                 maker_command=maker_command)
        speaker.led, speaker.duty_at_open, speaker.volumes = factory.pin(18), [], []
        device = Appliance(parse({"breathing": {"minutes": 1}}), SCRIPT, clock=clock,
                           pin_factory=factory, speaker=speaker,
                           listener=lambda e: events.append((clock.now(), e.kind, e.record())),
                           **{"wall_clock": lambda: WALL_CLOCK["now"], **options})
        made.append((device, factory))
        return device, clock, factory, events

    yield make
    for device, factory in made:
        device.close()
        factory.close()


# Local noon, outside the quiet hours; tests move it.
WALL_CLOCK = {"now": datetime.datetime(2026, 6, 1, 12, 0).astimezone()}


def sessions(events):
    return [f["state"] for _, e, f in events if e == "session"]


def test_a_press_runs_a_whole_session_then_waits_for_the_next(appliance):
    device, clock, factory, events = appliance()
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
    assert all(f["seconds"] > 0.3 for f in said), "real clips have real lengths"
    first_light = next(t for t, e, f in events if e == "light" and f["value"] > 0)
    assert first_light == 5.0, "the light appears on the press itself"
    assert len(device.speaker.duty_at_open) == 2
    assert all(duty > 0 for duty in device.speaker.duty_at_open), "glowing before any sound"


def test_a_crash_in_a_session_is_logged_and_the_next_press_works(appliance, caplog):
    device, clock, factory, events = appliance()
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
    device, clock, factory, events = appliance()
    button, led = factory.pin(17), factory.pin(18)
    monkeypatch.setitem(WALL_CLOCK, "now", datetime.datetime(2026, 6, 1, 12, 0).astimezone())
    clock.at(1.0, button.drive_low)
    clock.at(1.1, button.drive_high)
    clock.at(40.0, button.drive_low)  # held: stops the day session
    clock.at(50.0, button.drive_high)
    clock.at(50.5, lambda: WALL_CLOCK.__setitem__(
        "now", datetime.datetime(2026, 6, 1, 23, 30).astimezone()))
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


def test_every_session_is_recorded_in_the_history(appliance, tmp_path):
    history = History(tmp_path / "state")
    device, clock, factory, _events = appliance(history=history)
    button = factory.pin(17)
    clock.at(1.0, button.drive_low)       # 1: plays to the end
    clock.at(1.1, button.drive_high)
    clock.at(1000.0, button.drive_low)    # 2: stopped by a hold in the breathing
    clock.at(1000.1, button.drive_high)
    clock.at(1020.0, button.drive_low)
    clock.at(1030.0, button.drive_high)
    clock.at(2000.0, button.drive_low)    # 3: crashes (a PWM write fails)
    clock.at(2000.1, button.drive_high)
    clock.at(2010.0, lambda: setattr(GlitchyPWMPin, "glitch", True))
    clock.at(3000.0, button.drive_low)    # 4: SIGTERM mid-session
    clock.at(3000.1, button.drive_high)
    clock.at(3005.0, device.controller.quit)
    device.serve()
    rows = list(reversed(history.recent()))
    assert [r.outcome for r in rows] == ["finished", "stopped", "error", "interrupted"]
    assert all(r.pattern == "paced-exhale" for r in rows)
    assert rows[0].parts == tuple(p.name for p in device.plan.parts), "every part done"
    assert rows[1].parts == ("arrive",), "the breathing was cut short, so not done"
    assert rows[3].parts == ()
    assert all(r.ended is not None for r in rows)


def test_the_wall_clock_jumping_changes_only_the_dates_in_the_history(appliance, tmp_path):
    """A Pi without a clock battery boots in the past; NTP then sets the clock by days, in a
    session or between two. The sessions play exactly as with a steady clock, and only the
    dates of the rows move: each session keeps its true length and its parts."""
    def two_sessions(jumps: list[tuple[float, datetime.timedelta]], state: str):
        wall = {"now": datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)}
        history = History(tmp_path / state)
        device, clock, factory, events = appliance(history=history,
                                                   wall_clock=lambda: wall["now"])
        button = factory.pin(17)
        for t in (1.0, 1000.0):
            clock.at(t, button.drive_low)
            clock.at(t + 0.1, button.drive_high)
        for t, jump in jumps:  # the wall clock runs with the monotonic one, then jumps
            clock.at(t, lambda j=jump: wall.__setitem__("now", wall["now"] + j))
        clock.at(2000.0, device.controller.quit)
        device.serve()
        rows = list(reversed(history.recent()))
        history.close()
        return events, rows, device.plan.seconds

    steady_events, steady, _ = two_sessions([], "steady")
    days, hours = datetime.timedelta(days=3), datetime.timedelta(hours=-5)
    jumped_events, jumped, seconds = two_sessions([(60.0, days), (500.0, hours)], "jumped")
    assert jumped_events == steady_events, "the light, the voice and every part, unmoved"
    assert [r.outcome for r in jumped] == ["finished", "finished"]
    assert [r.parts for r in jumped] == [r.parts for r in steady]
    assert [r.duration for r in jumped] == [r.duration for r in steady]
    assert abs(jumped[0].duration.total_seconds() - seconds) <= 1.0
    assert jumped[0].started == steady[0].started, "it began before the jump"
    assert jumped[1].started == steady[1].started + days + hours


def test_a_history_that_fails_is_logged_once_and_the_sessions_go_on(appliance, tmp_path,
                                                                     caplog):
    history = History(tmp_path / "state")
    device, clock, factory, events = appliance(history=history)
    history.close()  # as if the card went read-only: every write now fails
    button = factory.pin(17)
    for t in (1.0, 500.0):
        clock.at(t, button.drive_low)
        clock.at(t + 0.1, button.drive_high)
    clock.at(999.0, device.controller.quit)
    device.serve()
    assert sessions(events) == ["started", "finished", "started", "finished"]
    lines = [r.getMessage() for r in caplog.records if "no longer recorded" in r.getMessage()]
    assert len(lines) == 1


def test_the_watchdog_is_fed_from_the_loop_while_idle_and_in_a_session(appliance, tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    listener.setblocking(False)
    notifier = ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify"),
                                "WATCHDOG_USEC": "30000000"})
    device, clock, factory, events = appliance(notifier=notifier)
    button = factory.pin(17)
    clock.at(100.0, button.drive_low)
    clock.at(100.1, button.drive_high)
    sent: list[tuple[float, str]] = []  # (when read, message)

    def drain() -> None:
        sent.extend((clock.now(), m) for m in receive(listener))

    for t in range(100, 1000, 50):  # systemd reads as they come; a socket holds only ~10
        clock.at(t + 1.0, drain)
    clock.at(1000.0, device.controller.quit)
    device.serve()
    drain()
    assert sent[0][1] == "READY=1" and sent[-1][1] == "STOPPING=1"
    pings = [t for t, m in sent if m == "WATCHDOG=1"]
    assert len(pings) == pytest.approx(1000 / 15, abs=2), "about every 15 s throughout"
    began, ended = (t for t, e, _ in events if e == "session")
    in_session = [t for t in pings if began + 50 < t <= ended]
    assert len(in_session) >= 2 * ((ended - began - 50) // 50), "also from the runner's loop"


def receive(listener: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(listener.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_three_short_blinks_end_dark(appliance):
    device, clock, factory, _ = appliance()
    led = factory.pin(18)
    led.clear_states()
    device.blink(3)
    levels = [round(s.state, 3) for s in led.states]
    pulses = [a for a, b in itertools.pairwise([0.0, *levels]) if b > 0 == a]
    assert len(pulses) == 3, levels
    assert levels[-1] == 0 and led.state == 0
    assert clock.now() == pytest.approx(3 * (BLINK_ON_S + BLINK_OFF_S))


def test_sigusr1_is_a_press(appliance):
    device, clock, factory, events = appliance()
    with device.controller.wake.catching(SIGNALS):
        os.kill(os.getpid(), signal.SIGUSR1)  # `systemctl kill -s USR1 ebbtide`
        clock.at(30.0, lambda: os.kill(os.getpid(), signal.SIGUSR1))  # next part
        clock.at(40.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
        device.serve()
    assert sessions(events) == ["started", "interrupted"]
    parts = [(t, f["name"]) for t, e, f in events if e == "part"]
    assert (30.0, "feel") in parts, "the second press moved on from the breathing"
    assert factory.pin(18).state == 0


def test_an_engine_that_crashes_leaves_a_session_with_light_and_the_lines_it_made(
        appliance, tmp_path, caplog, crashing_engine):
    caplog.set_level("WARNING", logger="ebbtide")
    # The body scan's lines kill the engine, as a native crash would.
    device, clock, factory, events = appliance(
        maker_command=crashing_engine('text.startswith(("Your", "Now the body"))'),
        cache_dir=tmp_path / "voice")
    button, led = factory.pin(17), factory.pin(18)
    clock.at(1.0, button.drive_low)
    clock.at(1.1, button.drive_high)
    clock.at(2000.0, device.controller.quit)
    device.serve()
    assert sessions(events) == ["started", "finished"]
    said = [f["text"] for _, e, f in events if e == "clip"]
    body = {SCRIPT.body_intro, *SCRIPT.body_steps}
    assert not body & set(said), "the lines it crashed on are silent"
    assert {SCRIPT.arrive[0], *SCRIPT.aftercare, *SCRIPT.close} <= set(said)
    parts = [f["name"] for _, e, f in events if e == "part"]
    assert parts == ["arrive", "breathe", "feel", "ground", "body", "aftercare", "close"]
    lights = [f["value"] for _, e, f in events if e == "light"]
    assert max(lights) > 0.5 and lights[-1] == 0 and led.state == 0  # the light went on
    # Each body line killed every engine it was tried with (this engine crashes on the
    # words, whichever voice it is asked for): after MAX_CRASHES deaths the natural voice is
    # given up on, one line; the lines that stayed silent are named in one more.
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("ebbtide")]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("the natural voice cannot run here: its speech process "
                                  "died of signal 11 in ") and "espeak-ng speaks" in warnings[0]
    assert "signal 11" in warnings[1] and "34 of 39 lines are ready" in warnings[1]


def test_with_the_voice_off_a_session_is_light_alone_and_nothing_is_made(tmp_path):
    """[voice] enabled = false, for a partner asleep: the same session, no line made or
    said, the chime kept if [audio] has it."""
    config = parse({"breathing": {"minutes": 1}, "voice": {"enabled": False}})
    factory = MockFactory(pin_class=MockPWMPin)
    clock = SimulatedClock()
    events: list = []
    speaker = speaker_for(config, Mixer(48000), cache_dir=tmp_path / "voice")
    device = Appliance(config, SCRIPT, clock=clock, pin_factory=factory, speaker=speaker,
                       listener=lambda e: events.append((clock.now(), e.kind, e.record())),
                       wall_clock=lambda: WALL_CLOCK["now"])
    try:
        button = factory.pin(17)
        clock.at(1.0, button.drive_low)
        clock.at(1.1, button.drive_high)
        clock.at(2000.0, device.controller.quit)
        device.serve()
    finally:
        device.close()
        factory.close()
    assert sessions(events) == ["started", "finished"]
    assert not [e for _, e, _ in events if e == "clip"], "nothing is said"
    assert not any((tmp_path / "voice").glob("*.wav")), "no line was made"
    lights = [f["value"] for _, e, f in events if e == "light"]
    assert max(lights) > 0.5 and lights[-1] == 0
    voiced = plan_session(parse({"breathing": {"minutes": 1}}), SCRIPT, {})
    assert device.plan.seconds == pytest.approx(voiced.seconds), "timed as if spoken"


def test_an_rgb_light_breathes_amber_with_no_blue_in_quiet_hours(tmp_path):
    config = parse({"breathing": {"minutes": 1},
                    "light": {"kind": "rgb", "pins": [18, 23, 24]}})
    factory = MockFactory(pin_class=MockPWMPin)
    clock = SimulatedClock()
    events: list = []
    blue = factory.pin(24)
    wall = {"now": datetime.datetime(2026, 6, 1, 12, 0).astimezone()}
    device = Appliance(config, SCRIPT, clock=clock, pin_factory=factory,
                       speaker=speaker_for(config, Mixer(48000), cache_dir=tmp_path),
                       listener=lambda e: events.append((e.kind, e.record(), blue.state)),
                       wall_clock=lambda: wall["now"])
    try:
        for t, hour in ((1.0, 12), (1000.0, 23)):
            clock.at(t - 0.5, lambda h=hour: wall.__setitem__(
                "now", datetime.datetime(2026, 6, 1, h, 30).astimezone()))
            clock.at(t, factory.pin(17).drive_low)
            clock.at(t + 0.1, factory.pin(17).drive_high)
        clock.at(2000.0, device.controller.quit)
        device.serve()
    finally:
        device.close()
        factory.close()
    started = [i for i, (e, f, _) in enumerate(events)
               if e == "session" and f["state"] == "started"]
    assert [events[i][1]["color"] for i in started] == ["#ffc890", "#ff7e00"]
    assert [events[i][1]["night"] for i in started] == [False, True]
    day = [b for e, _, b in events[started[0]:started[1]] if e == "light"]
    night = [b for e, _, b in events[started[1]:] if e == "light"]
    assert len(day) > 100 and len(night) > 100
    assert max(day) > 0.1, "a warm white has some blue"
    assert max(night) == 0.0, "the night colour never lights blue"
    assert [f["value"] for e, f, _ in events if e == "light"][-1] == 0


def test_the_motor_breathes_and_is_still_after_every_ending(tmp_path):
    """[haptic] pin: touch in the breathing; still after a session that ends, is stopped by a
    hold, or is cut off by a quit."""
    config = parse({"breathing": {"minutes": 1}, "haptic": {"pin": 12}})
    factory = MockFactory(pin_class=MockPWMPin)
    clock = SimulatedClock()
    events: list = []
    motor = factory.pin(12)
    device = Appliance(config, SCRIPT, clock=clock, pin_factory=factory,
                       speaker=speaker_for(config, Mixer(48000), cache_dir=tmp_path),
                       listener=lambda e: events.append((e.kind, e.record(), motor.state)),
                       wall_clock=lambda: WALL_CLOCK["now"])
    button = factory.pin(17)
    try:
        clock.at(1.0, button.drive_low)      # 1: plays to the end
        clock.at(1.1, button.drive_high)
        clock.at(1000.0, button.drive_low)   # 2: stopped by a hold in the breathing
        clock.at(1000.1, button.drive_high)
        clock.at(1040.0, button.drive_low)
        clock.at(1045.0, button.drive_high)
        clock.at(2000.0, button.drive_low)   # 3: quit mid-breathing
        clock.at(2000.1, button.drive_high)
        clock.at(2040.0, device.controller.quit)
        device.serve()
        ends = [i for i, (e, f, _) in enumerate(events)
                if e == "session" and f["state"] != "started"]
        assert [events[i][1]["state"] for i in ends] == ["finished", "stopped", "interrupted"]
        assert all(events[i][2] == 0 for i in ends), "the motor is still after each ending"
        touches = [f["value"] for e, f, _ in events if e == "haptic"]
        assert max(touches) > 0.5 and touches[-1] == 0.0
    finally:
        device.close()
        factory.close()
    assert motor.state == 0


class ChipUnpluggedAfterFiveReads(FakeLSM6DSOX):
    """A breath puck whose cable comes out after five samples."""

    def answers(self) -> bool:
        return self.block_reads < 5


def sensed_sessions(config_sensor: dict, bus_opener, actions=()) -> tuple[list, Appliance]:
    """Two sessions, voice off, with [sensor] as given and its bus from `bus_opener`; the
    events (kind, record, LED duty) and the appliance, closed."""
    config = parse({"breathing": {"minutes": 1}, "voice": {"enabled": False},
                    "sensor": config_sensor})
    factory = MockFactory(pin_class=MockPWMPin)
    clock = SimulatedClock()
    events: list = []
    led = factory.pin(18)
    device = Appliance(config, SCRIPT, clock=clock, pin_factory=factory,
                       speaker=speaker_for(config, Mixer(48000)),
                       listener=lambda e: events.append((e.kind, e.record(), led.state)),
                       wall_clock=lambda: WALL_CLOCK["now"], open_i2c=bus_opener)
    button = factory.pin(17)
    try:
        for start in (1.0, 1000.0):
            clock.at(start, button.drive_low)
            clock.at(start + 0.1, button.drive_high)
        for t, action in actions:
            clock.at(t, lambda action=action: action(device))
        clock.at(2000.0, device.controller.quit)
        device.serve()
    finally:
        device.close()
        factory.close()
    return events, device


def ended_dark(events) -> bool:
    ends = [duty for e, f, duty in events if e == "session" and f["state"] != "started"]
    lights = [f["value"] for e, f, _ in events if e == "light"]
    return ends == [0, 0] and lights[-1] == 0


def no_i2c_bus() -> int:
    return next(n for n in range(1, 256) if not os.path.exists(f"/dev/i2c-{n}"))


@pytest.mark.parametrize(("sensor", "chips", "said"), [
    ({"kind": "lsm6dsox"}, {}, "no chip answers at address 0x6a on /dev/i2c-"),
    ({"kind": "lsm6dsox"}, {0x6A: FakeLSM6DS3TRC()},
     "is not an LSM6DSOX: its WHO_AM_I register (0x0f) reads 0x6a"),
    ({"kind": "mpu6050", "address": 0x69}, {0x68: FakeMPU6050()},
     "no chip answers at address 0x69"),
    ({"kind": "mpu6050", "bus": "missing"}, None, "does not exist: switch I2C on with "
     "`sudo raspi-config nonint do_i2c 0`"),
])
def test_a_sensor_that_cannot_be_opened_costs_only_its_sensing(sensor, chips, said, caplog):
    """The session runs whole and ends dark; each session says why, once."""
    caplog.set_level("INFO", logger="ebbtide")
    if sensor.get("bus") == "missing":
        sensor = {**sensor, "bus": no_i2c_bus()}
        opener = open_i2c_bus  # the real one, on this machine's missing bus
    else:
        def opener(number):
            return FakeI2CBus(chips)
    events, _ = sensed_sessions(sensor, opener)
    assert sessions([(0, e, f) for e, f, _ in events]) == ["started", "finished",
                                                           "started", "finished"]
    assert ended_dark(events)
    lines = [r.getMessage() for r in caplog.records if "sensor" in r.getMessage()
             or "chip" in r.getMessage()]
    assert len(lines) == 2, lines
    assert all(said in line and line.endswith("; this session goes on without the breath "
                                              "sensor") for line in lines), lines


def test_a_sensor_that_stops_answering_mid_session_is_said_once(caplog):
    caplog.set_level("INFO", logger="ebbtide")
    puck = ChipUnpluggedAfterFiveReads()
    bus = FakeI2CBus({0x6A: puck})

    def thread_ended(device):
        wait_until(lambda: device.motion is not None and not device.motion.running, 10,
                   "the sensor's thread ending")

    events, device = sensed_sessions({"kind": "lsm6dsox"}, lambda n: bus,
                                     [(20.0, thread_ended)])
    assert sessions([(0, e, f) for e, f, _ in events])[:2] == ["started", "finished"]
    assert ended_dark(events)
    stopped = [r.getMessage() for r in caplog.records if "stopped answering" in r.getMessage()]
    assert len(stopped) == 1
    assert stopped[0].startswith("the breath sensor (LSM6DSOX at 0x6a on /dev/i2c-1) stopped "
                                 "answering after ")
    assert stopped[0].endswith("(remote i/o error); the session goes on without it: check "
                               "its cable")
    assert bus.closed and device.motion is None


def test_the_sensor_is_read_in_a_session_and_put_to_sleep_after(caplog):
    caplog.set_level("INFO", logger="ebbtide")
    puck = FakeMPU6050()
    buses: list[FakeI2CBus] = []

    def opener(number: int) -> FakeI2CBus:
        buses.append(FakeI2CBus({0x68: puck}))
        return buses[-1]

    def samples_arrive(device):
        assert device.motion is not None, "reading while the session runs"
        wait_until(lambda: device.motion.count >= 3, 10, "three samples")

    events, device = sensed_sessions({"kind": "mpu6050", "rate_hz": 25}, opener,
                                     [(20.0, samples_arrive), (1020.0, samples_arrive)])
    assert ended_dark(events)
    assert len(buses) == 2 and all(bus.closed for bus in buses), "opened for each session"
    assert puck.registers[0x6B] & 0x40, "asleep between sessions"
    counts = [r.getMessage() for r in caplog.records if "gave" in r.getMessage()]
    assert len(counts) == 2 and all(c.startswith("the breath sensor (MPU-6050) gave ")
                                    for c in counts)
    assert device.motion is None


def breathed_session(person, minutes: float = 3,
                     history: History | None = None) -> tuple[list, Appliance, list]:
    """One session, voice off, with a simulated person on the sensor (the demo's
    --breather); the events, the appliance (closed), and each session's sensing."""
    config = parse({"breathing": {"minutes": minutes}, "voice": {"enabled": False},
                    "session": {"parts": ["arrive", "breathe", "close"]}})
    factory = MockFactory(pin_class=MockPWMPin)
    clock = SimulatedClock()
    events: list = []
    sensed: list = []
    led = factory.pin(18)
    device = Appliance(config, SCRIPT, clock=clock, pin_factory=factory,
                       speaker=speaker_for(config, Mixer(48000)),
                       listener=lambda e: events.append((clock.now(), e.kind, e.record(),
                                                         led.state)),
                       wall_clock=lambda: WALL_CLOCK["now"], simulated_sensor=person,
                       history=history)
    button = factory.pin(17)
    try:
        clock.at(1.0, button.drive_low)
        clock.at(1.1, button.drive_high)
        clock.at(2000.0, device.controller.quit)
        device.serve()
        sensed.append(device.sensing)
    finally:
        device.close()
        factory.close()
    return events, device, sensed


def test_a_person_on_the_sensor_paces_the_session_and_it_keeps_what_it_knew():
    from device.service.breather import SimulatedBreather

    events, _, sensed = breathed_session(
        lambda clock, paced: SimulatedBreather("follow", clock, paced))
    assert sessions([(t, e, f) for t, e, f, _ in events]) == ["started", "finished"]
    inhales = [t for t, e, f, _ in events if e == "phase" and f["name"] == "inhale"]
    gaps = [b - a for a, b in itertools.pairwise(inhales[:4])]
    assert all(abs(60 / gap - 16) <= 2 for gap in gaps), gaps  # met at their own rate
    lights = [f["value"] for _, e, f, _ in events if e == "light"]
    assert lights[-1] == 0
    (sensing,) = sensed
    assert sensing is not None and sensing.in_step_share is not None
    assert sensing.in_step_share >= 0.8 and sensing.start_bpm == pytest.approx(16, abs=2)
    assert sensing.breaths[-1].rate_bpm < sensing.breaths[0].rate_bpm - 2  # slowing with them


def test_what_a_sensed_session_knew_is_kept_in_its_history_row(tmp_path):
    from device.service.breather import SimulatedBreather

    history = History(tmp_path / "state")
    _, _, sensed = breathed_session(
        lambda clock, paced: SimulatedBreather("follow", clock, paced), history=history)
    (row,) = History.reading(tmp_path / "state").recent()
    (sensing,) = sensed
    assert row.outcome == "finished"
    assert row.start_bpm == pytest.approx(sensing.start_bpm, abs=0.05)
    assert row.end_bpm == pytest.approx(sensing.end_bpm, abs=0.05)
    assert row.in_step_share == pytest.approx(sensing.in_step_share, abs=0.005)
    assert row.in_step_share >= 0.8


def test_a_sensor_with_no_breathing_on_it_leaves_the_fixed_session(caplog):
    """A sensor that gives samples with no breath in them (on a table): the same parts and
    breaths as with no sensor, to the microsecond, one line, and no figures."""
    import numpy as np

    from device.service.breather import RecordedBreather

    caplog.set_level("INFO", logger="ebbtide")
    t = np.arange(0, 900, 0.04)
    still = np.tile([0.0, 0.0, 1.0], (len(t), 1))
    events, _, sensed = breathed_session(
        lambda clock, paced: RecordedBreather(t, still, clock), minutes=1)
    plain, _, unsensed = breathed_session(None, minutes=1)

    def played(events):
        return [(t, e, f) for t, e, f, _ in events if e in ("phase", "part", "light")]

    assert played(events) == played(plain)
    assert unsensed == [None]
    assert sensed[0] is not None and sensed[0].in_step_share is None
    said = [r.getMessage() for r in caplog.records if "paced as always" in r.getMessage()]
    assert said == ["no usable breathing was sensed before the breathing part: it was paced "
                    "as always",
                    "no breath sensor ([sensor] kind): the breathing is paced as always"]
