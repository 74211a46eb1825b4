"""The appliance: one button, one light, one voice, and a session whenever it is pressed."""

from __future__ import annotations

import datetime
import logging
import math
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from audio.mixer import Mixer
from audio.speaker import Speaker
from audio.voicemaker import VoiceSettings
from device.clock import Clock
from device.config import MIN_BRIGHTNESS, Config
from device.controller import Controller
from device.events import Listener
from device.history import History, HistoryUnavailable
from device.notify import ServiceNotifier
from device.plan import SessionPlan, plan_session, voice_lines
from device.runner import Outcome, Runner
from device.script import Script
from hardware.button import ButtonEdges
from hardware.light import Light
from hardware.pins import PinFactory

log = logging.getLogger("ebbtide")

BLINK_ON_S = 0.15
BLINK_OFF_S = 0.25
LINE_PATIENCE_S = 120.0  # how long systemd should wait for the next line to be made


def speaker_for(config: Config, mixer: Mixer | None = None,
                cache_dir: Path | None = None) -> Speaker:
    """The sound configured in [voice] and [audio]; with a mixer, an offline one."""
    v = config.voice
    return Speaker(voice=VoiceSettings(v.engine, v.model, v.voice, v.rate, v.volume,
                                       v.recordings),
                   device=config.audio.output, mixer=mixer, cache_dir=cache_dir,
                   chime=config.audio.chime, breath_sound=config.audio.breath_sound)


def _local_time() -> datetime.time:
    return datetime.datetime.now().time()


class Appliance:
    """Owns the pins, the voice and the plan, and serves sessions until told to quit."""

    def __init__(self, config: Config, script: Script, *, clock: Clock, pin_factory: PinFactory,
                 listener: Listener, speaker: Speaker | None = None,
                 log_tracebacks: bool = True,
                 local_time: Callable[[], datetime.time] = _local_time,
                 history: History | None = None,
                 notifier: ServiceNotifier | None = None,
                 making: Callable[[int, int], None] | None = None) -> None:
        """local_time says the time of day, for the quiet hours in [night]; each session is
        recorded in `history`, if given; `notifier` tells systemd when Ebbtide is ready and
        that its loop is alive; `making` hears how far making the voice has got."""
        self.config = config
        self.clock = clock
        self.notifier = notifier or ServiceNotifier({})
        self._watchdog_every = self.notifier.watchdog_interval() or math.inf
        self._next_watchdog = -math.inf
        self.local_time = local_time
        self.history = history
        self._record: tuple[int, list[str]] | None = None  # (row, parts begun) of this session
        self.listener = listener
        self.log_tracebacks = log_tracebacks
        self.controller = Controller(clock, config.button.hold_seconds, listener)
        self.light = Light(config.light.pin, max_brightness=config.light.max_brightness,
                           pin_factory=pin_factory)
        self.light.off()
        try:
            self.button = ButtonEdges(config.button.pin, self.controller.edge,
                                      pin_factory=pin_factory)
        except BaseException:
            self.light.close()
            raise
        self.speaker = speaker or speaker_for(config)
        self.runner = Runner(clock, self.light, self.speaker, self.controller,
                             self._noting_parts, heartbeat=self._alive)
        # Making every line now (in a child process) fills the voice cache before the first
        # press.
        self._making_since = clock.now()
        self._making_shown = making
        self.plan: SessionPlan = plan_session(
            config, script, self.speaker.prepare(voice_lines(config, script), self._making))

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
        """
        self.notifier.ready()
        self.notifier.status(f"ready: press the button on GPIO{self.config.button.pin}")
        while True:
            started = self.controller.wait_for_start(self._watchdog_every)
            self._alive()
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
        """Short blinks at the top brightness, so the owner looks (e.g. a config was refused)."""
        wake = threading.Event()
        try:
            for _ in range(times):
                if self.controller.quitting:
                    break
                self.listener("light", value=self.light.show(1.0), lightness=1.0)
                self.clock.wait_until(self.clock.now() + BLINK_ON_S, wake)
                self.light.off()
                self.listener("light", value=0.0, lightness=0.0)
                self.clock.wait_until(self.clock.now() + BLINK_OFF_S, wake)
        finally:
            self._light_off()

    def _alive(self) -> None:
        """WATCHDOG=1 when it is due: from the main loop itself, never from a helper thread."""
        now = self.clock.now()
        if now >= self._next_watchdog:
            self._next_watchdog = now + self._watchdog_every
            self.notifier.watchdog()

    def session(self) -> Outcome | None:
        """Run one session; a crash inside it is logged and the appliance goes back to idle."""
        self.controller.session_began()
        volume, brightness = self.config.night.scales(self.local_time())
        self.light.max_brightness = max(MIN_BRIGHTNESS,
                                        self.config.light.max_brightness * brightness)
        self.listener("session", state="started", night=(volume, brightness) != (1.0, 1.0))
        outcome: Outcome | None = None
        try:
            self.runner.glow(self.plan)  # the light comes first, then the sound and history
            self._remember(self._begin)
            delay = self.speaker.open(self.config.audio.volume * volume)
            outcome = self.runner.run(self.plan, delay or 0.0)
        except Exception as error:
            log.error("the session failed: %s; the light is off and Ebbtide is ready again",
                      error, exc_info=self.log_tracebacks)
        finally:
            self._light_off()
            self.controller.session_ended()  # ready for the next press while the sound closes
            report = self.speaker.close()
            if report is not None:
                self.listener("audio", underflows=report.underflows, dropped=report.dropped,
                              failure=report.failure, first_heard=report.first_heard,
                              late_ms=report.late_ms)
            self.listener("session", state=outcome.value if outcome else "error")
            self._end(outcome)
        return outcome

    def _noting_parts(self, event: str, **fields: object) -> None:
        """The runner's events, passed on; each part begun means the one before is done."""
        if event == "part" and self._record is not None and fields["name"] != "stopping":
            row, parts = self._record
            if parts:
                self._remember(lambda h: h.part_done(row, parts[-1]))
            parts.append(str(fields["name"]))
        self.listener(event, **fields)

    def _begin(self, history: History) -> None:
        self._record = (history.begin(self.config.breathing.pattern), [])

    def _end(self, outcome: Outcome | None) -> None:
        if self._record is None:
            return
        (row, parts), self._record = self._record, None
        if outcome is Outcome.FINISHED and parts:
            self._remember(lambda h: h.part_done(row, parts[-1]))
        self._remember(lambda h: h.end(row, outcome.value if outcome else "error"))

    def _remember(self, write: Callable[[History], None]) -> None:
        """Write to the history; if it fails (a full or read-only card), say so once and
        go on without it: a session never depends on its record."""
        if self.history is None:
            return
        try:
            write(self.history)
        except HistoryUnavailable as error:
            log.error("%s; sessions are no longer recorded", error)
            self.history = None
            self._record = None

    def _light_off(self) -> None:
        """Off at the end of every session, whatever happened (the runner already tries)."""
        try:
            self.light.off()
        except Exception as error:
            log.error("cannot switch the light off: %s", error)

    def close(self) -> None:
        """Release everything; the light is off afterwards."""
        try:
            self.speaker.close()
            self.button.close()
        finally:
            self.light.close()

    def handle_signals(self) -> Callable[[], None]:
        """SIGTERM and SIGINT end the session at once, light off; SIGUSR1 is a press (start,
        or next part). Returns a restorer."""
        handlers = {signal.SIGTERM: self.controller.quit, signal.SIGINT: self.controller.quit,
                    signal.SIGUSR1: self.controller.remote_press}
        previous = {sig: signal.getsignal(sig) for sig in handlers}
        for sig, action in handlers.items():
            signal.signal(sig, lambda *_, act=action: act())

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
