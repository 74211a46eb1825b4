"""The appliance: one button, one light, one voice, and a session whenever it is pressed."""

from __future__ import annotations

import datetime
import gc
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from audio.speaker import Speaker
from device.core.config import Config, session_settings
from device.core.events import (
    Event,
    LightChanged,
    Listener,
    PartBegan,
    SessionEnded,
    SessionStarted,
    SoundReport,
)
from device.core.plan import SessionPlan, plan_session, voice_lines
from device.core.script import Script
from device.core.sensed_session import SessionSensing
from device.history.store import RUNNING, History, HistoryBusy, HistoryUnavailable
from device.service.breath_listening import (
    BreathListener,
    Samples,
    breathing_plan,
    laid_breaths,
)
from device.service.clock import Clock
from device.service.controller import Controller
from device.service.notify import ServiceNotifier
from device.service.runner import Outcome, Runner
from device.service.wake import WakePipe
from device.service.wiring import dress, light_for, motor_for, sensor_for, speaker_for
from hardware.button import ButtonEdges
from hardware.i2c_bus import BusOpener, SensorError, open_i2c_bus
from hardware.motion_reader import MotionReader
from hardware.pins import PinFactory

log = logging.getLogger("ebbtide")

# A simulated person on the sensor (the demo's --breather): given the clock and the pacer's
# inhales as the light shows them (clock times), the samples it gives
# (device/service/breather.py).
SimulatedSensor = Callable[[Clock, Callable[[], Sequence[float]]], Samples]

BLINK_ON_S = 0.15
BLINK_OFF_S = 0.25
LINE_PATIENCE_S = 120.0  # how long systemd should wait for the next line to be made
HISTORY_RETRY_S = 30.0  # how often a busy history is tried again while sessions wait for it


def _wall_clock() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class _Record:
    """A session's row in the history, as it stands; its times are counted on the monotonic
    clock from the wall time it began, so NTP setting the clock mid-session cannot stretch
    it. The whole row is written each time, so one written late (the history was busy)
    lands as if written as it went."""

    wall: datetime.datetime
    clock: float
    row: int | None = None  # None until first written
    parts: list[str] = field(default_factory=list)  # begun, in order
    finished: int = 0  # how many of them are finished
    last_seen: float | None = None  # on the monotonic clock; None: at the start
    outcome: str = RUNNING
    ended: float | None = None
    sensing: SessionSensing | None = None  # what the breath sensor told, set at the end

    def wall_time(self, clock: float) -> datetime.datetime:
        return self.wall + datetime.timedelta(seconds=clock - self.clock)

    def save(self, history: History, pattern: str, demo: bool) -> None:
        seen = self.clock if self.last_seen is None else self.last_seen
        self.row = history.save(
            self.row, pattern, self.wall, self.parts[:self.finished], self.wall_time(seen),
            self.outcome, None if self.ended is None else self.wall_time(self.ended), demo,
            sensing=self.sensing)


class Appliance:
    """Owns the pins, the voice and the plan, and serves sessions until told to quit."""

    def __init__(self, config: Config, script: Script, *, clock: Clock, pin_factory: PinFactory,
                 listener: Listener, speaker: Speaker | None = None,
                 log_tracebacks: bool = True,
                 wall_clock: Callable[[], datetime.datetime] = _wall_clock,
                 history: History | None = None, demo: bool = False,
                 notifier: ServiceNotifier | None = None,
                 making: Callable[[int, int], None] | None = None,
                 wake: WakePipe | None = None,
                 open_history: Callable[[], History] | None = None,
                 open_i2c: BusOpener = open_i2c_bus,
                 simulated_sensor: SimulatedSensor | None = None) -> None:
        """wall_clock says the date and time (timezone-aware): the time of day, for the
        quiet hours in [night], and the dates of each session recorded in `history`, if
        given (its length comes from `clock`, so a wall clock set by hours mid-session
        changes only the dates), marked as the demo's when `demo`; `notifier` tells
        systemd when Ebbtide is ready and that its loop is alive; `making` hears how far
        making the voice has got; `wake` carries the signals caught since start-up
        (cli.cmd_run catches them first thing). Without `history`, `open_history` opens
        it (here, and, while another program holds its lock, again later: the sessions
        meanwhile are kept and written once it is free); the appliance closes it. The breath
        sensor of [sensor], if any, is opened on `open_i2c`'s bus at each session's start
        and read through it (a sensor that fails costs only its sensing, said once); its
        breaths pace the breathing (device/service/breath_listening.py), and what the session
        knew of them is `sensing` at its end. A `simulated_sensor` stands in for [sensor]
        (the demo's --breather)."""
        self.config = config
        self.script = script
        self._simulated_sensor = simulated_sensor
        # What the last session knew of the person's breathing (None: no sensor, or none
        # sensed); set at each session's end, before its history row is finished.
        self.sensing: SessionSensing | None = None
        self.clock = clock
        self.notifier = notifier or ServiceNotifier({})
        self._watchdog_every = self.notifier.watchdog_interval() or math.inf
        self._next_watchdog = -math.inf
        self.wall_clock = wall_clock
        self.history = history
        self.demo = demo
        self._open_i2c = open_i2c
        self.motion: MotionReader | None = None  # the breath sensor, read during a session
        self._record: _Record | None = None  # this session's row in the history
        self._open_history = open_history if history is None else None
        self._owns_history = False
        self._unsaved: list[_Record] = []  # rows not yet written as they stand
        self._busy_said = False
        self.listener = listener
        self.log_tracebacks = log_tracebacks
        self.controller = Controller(clock, config.button.hold_seconds, listener, wake)
        self.light = light_for(config, pin_factory)
        self.light.off()
        try:
            self.motor = motor_for(config, pin_factory)
            try:
                self.button = ButtonEdges(config.button.pin, self.controller.edge,
                                          pin_factory=pin_factory)
            except BaseException:
                if self.motor is not None:
                    self.motor.close()
                raise
        except BaseException:
            self.light.close()
            self.controller.close()
            raise
        self.speaker = speaker or speaker_for(config, language=script.language)
        self.runner = Runner(clock, self.light, self.speaker, self.controller,
                             self._noting_parts, heartbeat=self._alive, motor=self.motor)
        # Making every line now (in a child process) fills the voice cache before the first
        # press; a SIGTERM meanwhile ends the making at once.
        self._making_since = clock.now()
        self._making_shown = making
        try:
            lines = voice_lines(config, script, sensed=simulated_sensor is not None)
            self._spoken = self.speaker.prepare(lines, self._making, interrupt=self.controller)
            self.plan: SessionPlan = plan_session(config, script, self._spoken)
        except BaseException:
            self.close()
            raise
        if config.sensor.kind == "none" and simulated_sensor is None:
            log.info("no breath sensor ([sensor] kind): the breathing is paced as always")
        self._reach_history()

    def _making(self, done: int, total: int) -> None:
        """Lines are being made before the first session (minutes on a Pi Zero, the first
        time): once that takes a while, systemd hears how far it has got, and waits."""
        if self._making_shown:
            self._making_shown(done, total)
        if self.clock.now() - self._making_since > 2.0:
            self.notifier.starting(f"making the voice: {done} of {total} lines",
                                   LINE_PATIENCE_S)

    def serve(self) -> None:
        """Wait (without polling) for a press, run the session, and again, until quit.

        Idle, it wakes only to tell systemd's watchdog it is alive (if there is one).
        What start-up made (modules, the plan, the voice's index) is kept out of later
        garbage collections (gc.freeze): a full collection, which holds up the sound's
        callback while it walks every object, then walks only what sessions make.
        """
        gc.freeze()
        self.notifier.ready()
        self.notifier.status(f"ready: press the button on GPIO{self.config.button.pin}")
        while True:
            started = self.controller.wait_for_start(
                min(self._watchdog_every, HISTORY_RETRY_S) if self._unsaved
                else self._watchdog_every)
            self._alive()
            if self._unsaved:
                self._write_unsaved()
            if started is None:
                continue
            if not started:
                break
            self.notifier.status("in a session")
            self.session()
            self.notifier.status("ready")
            if self.controller.quitting:
                break
        self.notifier.stopping()

    def blink(self, times: int = 3) -> None:
        """Short blinks at the top brightness, so the owner looks (e.g. a config was refused).
        A quit ends them at once; a press meanwhile is kept for afterwards."""
        try:
            for _ in range(times):
                duty = self.light.show(1.0)
                self.listener(LightChanged(at=self.clock.now(), value=duty, lightness=1.0))
                if not self._pause(BLINK_ON_S):
                    break
                self.light.off()
                self.listener(LightChanged(at=self.clock.now(), value=0.0, lightness=0.0))
                if not self._pause(BLINK_OFF_S):
                    break
        finally:
            self._light_off()

    def _pause(self, seconds: float) -> bool:
        """Let `seconds` pass; False (at once) if told to quit meanwhile."""
        until = self.clock.now() + seconds
        while not self.controller.quitting:
            if self.clock.now() >= until:
                return True
            self.clock.wait_until(until, self.controller.wake)
        return False

    def _alive(self) -> None:
        """WATCHDOG=1 when it is due: from the main loop itself, never from a helper thread."""
        now = self.clock.now()
        if now >= self._next_watchdog:
            self._next_watchdog = now + self._watchdog_every
            self.notifier.watchdog()

    def session(self) -> Outcome | None:
        """Run one session; a crash inside it is logged and the appliance goes back to idle."""
        self.controller.session_began()
        started = (self.wall_clock(), self.clock.now())
        settings = session_settings(self.config, started[0].astimezone().time())
        colour = dress(self.light, settings)
        self.listener(SessionStarted(at=self.clock.now(), night=settings.night, color=colour))
        outcome: Outcome | None = None
        listener: BreathListener | None = None
        self.sensing = None
        try:
            self.runner.glow(self.plan)  # the light comes first, then the sound and history
            self._begin(*started)
            self._start_sensing()
            listener = self._listener()
            delay = self.speaker.open(settings.volume)
            plan = self.plan if listener is None else listener.first_plan()
            outcome = self.runner.run(plan, delay or 0.0, source=listener)
        except Exception as error:
            log.error("the session failed: %s; the light is off and Ebbtide is ready again",
                      error, exc_info=self.log_tracebacks)
        finally:
            self._light_off()
            self._stop_sensing()
            self.sensing = self._sensed(listener)
            self.controller.session_ended()  # ready for the next press while the sound closes
            report = self.speaker.close()
            if report is not None:
                self.listener(SoundReport(
                    at=self.clock.now(), underflows=report.underflows, dropped=report.dropped,
                    failure=report.failure, first_heard=report.first_heard,
                    late_ms=report.late_ms))
            self.listener(SessionEnded(at=self.clock.now(),
                                       state=outcome.value if outcome else "error"))
            self._end(outcome)
        return outcome

    def _start_sensing(self) -> None:
        """Start reading the breath sensor, if there is one. One that cannot be opened (the
        bus off, no chip, another chip) is said in one line, and the session goes on
        without it."""
        try:
            chip = sensor_for(self.config, self._open_i2c)
        except SensorError as error:
            log.warning("%s; this session goes on without the breath sensor", error)
            return
        except Exception as error:  # whatever it is, the session does not depend on it
            log.error("the breath sensor could not be opened: %s; this session goes on "
                      "without it", error)
            return
        if chip is not None:
            self.motion = MotionReader(chip, self.config.sensor.rate_hz)
            self.motion.start()

    def _listener(self) -> BreathListener | None:
        """What hears the person's breaths into the plan, if a sensor (or a simulated person)
        listens."""
        samples: Samples | None = self.motion
        listener: BreathListener | None = None

        def paced() -> list[float]:
            """The pacer's inhales on the clock, as the light shows them now."""
            shown = self.plan if listener is None or listener.plan is None else listener.plan
            started = self.runner.started_at
            if started is None or "breathe" not in {p.name for p in shown.parts}:
                return []
            return [b.at + started for b in laid_breaths(shown)]

        if samples is None and self._simulated_sensor is not None:
            samples = self._simulated_sensor(self.clock, paced)
        if samples is None:
            return None
        listener = BreathListener(samples, self.clock,
                                  breathing_plan(self.config, self.script, self._spoken))
        return listener

    def _sensed(self, listener: BreathListener | None) -> SessionSensing | None:
        """What the session knew of the person; one line when the breathing was paced as
        always because nothing usable was sensed before it."""
        if listener is None:
            return None
        try:
            sensing = listener.sensing(self.plan)
        except Exception as error:  # the figures must not take the session's end with them
            log.error("what was sensed of the breathing cannot be summed up: %s", error)
            return None
        if sensing is not None and sensing.start_bpm is None:
            log.info("no usable breathing was sensed before the breathing part: it was paced "
                     "as always")
        return sensing

    def _stop_sensing(self) -> None:
        """Stop reading (the thread closes the chip); how much was read goes to the log."""
        motion, self.motion = self.motion, None
        if motion is None:
            return
        try:
            motion.stop()
            seconds = motion.span[1] - motion.span[0] if motion.span else 0.0
            log.info("the breath sensor (%s) gave %d samples over %.0f s", motion.chip.part,
                     motion.count, seconds)
        except Exception as error:
            log.error("the breath sensor did not stop cleanly: %s", error)

    def _noting_parts(self, event: Event) -> None:
        """The runner's events, passed on; each part begun means the one before is done."""
        record = self._record
        if isinstance(event, PartBegan) and record is not None:
            if record.parts:
                record.finished, record.last_seen = len(record.parts), self.clock.now()
                self._keep(record)
            record.parts.append(event.name)
        self.listener(event)

    def _begin(self, wall: datetime.datetime, clock: float) -> None:
        if self.history is None and self._open_history is None:
            return
        self._record = _Record(wall, clock)
        self._keep(self._record)

    def _end(self, outcome: Outcome | None) -> None:
        if (record := self._record) is None:
            return
        self._record = None
        record.ended = record.last_seen = self.clock.now()
        if outcome is Outcome.FINISHED:
            record.finished = len(record.parts)
        record.outcome = outcome.value if outcome else "error"
        record.sensing = self.sensing
        self._keep(record)

    def _keep(self, record: _Record) -> None:
        """Write the session's row as it stands now, or keep it to write once the history
        is free: a session never depends on its record."""
        if record not in self._unsaved:
            self._unsaved.append(record)
        self._write_unsaved()

    def _write_unsaved(self) -> None:
        """Write every row not yet written, oldest first. Another program holding the
        history's lock only delays them (said once); any other failure (a full or read-only
        card) ends recording, said once."""
        history = self._reach_history()
        while history is not None and self._unsaved:
            try:
                self._unsaved[0].save(history, self.config.breathing.pattern, self.demo)
            except HistoryBusy as error:
                if not self._busy_said:
                    log.warning("%s; the session is recorded once it is free", error)
                    self._busy_said = True
                return
            except HistoryUnavailable as error:
                log.error("%s; sessions are no longer recorded", error)
                self._stop_recording()
                return
            self._unsaved.pop(0)
        if history is not None and self._busy_said:
            log.info("the history is free again: every session is recorded")
            self._busy_said = False

    def _reach_history(self) -> History | None:
        """The history, opened now if it was not yet (it was busy); None while it cannot be
        (said once), or for good when it is switched off or unusable."""
        if self.history is None and self._open_history is not None:
            try:
                self.history = self._open_history()
                self._owns_history = True
            except HistoryBusy as error:
                if not self._busy_said:
                    log.warning("%s; Ebbtide tries again, and records the sessions once it "
                                "is free", error)
                    self._busy_said = True
            except HistoryUnavailable as error:
                log.warning("%s; sessions are not recorded", error)
                self._stop_recording()
        return self.history

    def _stop_recording(self) -> None:
        if self._owns_history and self.history is not None:
            self.history.close()
        self.history = self._open_history = self._record = None
        self._unsaved.clear()

    def _light_off(self) -> None:
        """Off at the end of every session, whatever happened (the runner already tries):
        the light, and the motor."""
        for output in (self.light, self.motor):
            try:
                if output is not None:
                    output.off()
            except Exception as error:
                log.error("cannot switch the %s off: %s",
                          "light" if output is self.light else "motor", error)

    def close(self) -> None:
        """Release everything; the light is off afterwards."""
        if self._unsaved:
            self._write_unsaved()
            if self._unsaved:
                log.error("the history stayed busy: %d session(s) could not be recorded",
                          len(self._unsaved))
                self._unsaved.clear()
        if self._owns_history and self.history is not None:
            self.history.close()
            self._owns_history = False
        self._stop_sensing()
        try:
            self.speaker.close()
            self.button.close()
            if self.motor is not None:
                self.motor.close()
        finally:
            self.light.close()
            self.controller.close()
