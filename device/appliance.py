"""The appliance: one button, one light, one voice, and a session whenever it is pressed."""

from __future__ import annotations

import datetime
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from audio.mixer import Mixer
from audio.speaker import Speaker
from device.clock import Clock
from device.config import MIN_BRIGHTNESS, Config
from device.controller import Controller
from device.events import Listener
from device.plan import SessionPlan, plan_session
from device.runner import Outcome, Runner
from device.script import Script
from hardware.button import ButtonEdges
from hardware.light import Light
from hardware.pins import PinFactory

log = logging.getLogger("ebbtide")


def speaker_for(config: Config, mixer: Mixer | None = None,
                cache_dir: Path | None = None) -> Speaker:
    """The sound configured in [voice] and [audio]; with a mixer, an offline one."""
    return Speaker(voice=config.voice.voice, rate=config.voice.rate,
                   volume=config.voice.volume, device=config.audio.output, mixer=mixer,
                   cache_dir=cache_dir, chime=config.audio.chime,
                   breath_sound=config.audio.breath_sound)


def _local_time() -> datetime.time:
    return datetime.datetime.now().time()


class Appliance:
    """Owns the pins, the voice and the plan, and serves sessions until told to quit."""

    def __init__(self, config: Config, script: Script, *, clock: Clock, pin_factory: PinFactory,
                 listener: Listener, speaker: Speaker | None = None,
                 log_tracebacks: bool = True,
                 local_time: Callable[[], datetime.time] = _local_time) -> None:
        """local_time says the time of day, for the quiet hours in [night]."""
        self.config = config
        self.local_time = local_time
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
        self.runner = Runner(clock, self.light, self.speaker, self.controller, listener)
        # Rendering every line now fills the voice cache before the first press.
        self.plan: SessionPlan = plan_session(config, script,
                                              self.speaker.prepare(script.texts()))

    def serve(self) -> None:
        """Wait (without polling) for a press, run the session, and again, until quit."""
        while self.controller.wait_for_start():
            self.session()
            if self.controller.quitting:
                break

    def session(self) -> Outcome | None:
        """Run one session; a crash inside it is logged and the appliance goes back to idle."""
        self.controller.session_began()
        volume, brightness = self.config.night.scales(self.local_time())
        self.light.max_brightness = max(MIN_BRIGHTNESS,
                                        self.config.light.max_brightness * brightness)
        self.listener("session", state="started", night=(volume, brightness) != (1.0, 1.0))
        outcome: Outcome | None = None
        try:
            self.runner.glow(self.plan)  # the light comes first, then the sound opens
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
                              failure=report.failure)
            self.listener("session", state=outcome.value if outcome else "error")
        return outcome

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

    def quit_on_signals(self) -> Callable[[], None]:
        """SIGTERM and SIGINT end the session at once, light off. Returns a restorer."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, lambda *_: self.controller.quit())

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
