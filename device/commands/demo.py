"""`ebbtide demo`: the real session on mock pins, shown in a terminal, wired as `run` wires it.

The light is drawn as a bar with its number, beside the part and the phase;
each spoken line is printed as it starts. The keyboard stands in for the button,
read by line: Enter presses it, "s" then Enter holds it (stop), "q" then Enter quits.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Protocol

from audio.speaker import NO_OUTPUT
from device.commands import exit_codes
from device.core.errors import EbbtideError
from device.core.events import (
    Event,
    FadingOut,
    LightChanged,
    LineSpoken,
    PartBegan,
    PhaseBegan,
    SessionEnded,
    SessionStarted,
    TouchChanged,
)
from device.service.breath_listening import Samples
from device.service.clock import Clock
from device.service.controller import Controller

log = logging.getLogger("ebbtide")

BAR = 24
REDRAW = 1 / 20  # redraw the bar at most 20 times a second


class DemoScreen:
    """A listener that draws the session: a live light bar and a transcript."""

    def __init__(self, out: IO[str] = sys.stdout, live: bool | None = None) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live  # redraw in place on a terminal
        self.part = "idle"
        self.phase = ""
        self.lightness = 0.0
        self.duty = 0.0
        self.color: str | None = None  # an RGB light's "#rrggbb", drawn on a terminal
        self.touch: float | None = None  # the motor's touch, when there is a motor
        self._drawn = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            match event:
                case LightChanged(value=duty, lightness=lightness):
                    self.duty, self.lightness = duty, lightness
                    self._draw(force=self.duty == 0.0)
                case TouchChanged(touch=touch):
                    self.touch = touch
                    self._draw()
                case PartBegan(name=name) | FadingOut(name=name):
                    self.part, self.phase = name, ""
                    self._print(f"-- {self.part} --")
                case PhaseBegan(name=name):
                    self.phase = name
                    self._draw(force=not self.live)
                case LineSpoken(text=text):
                    self._print(f'   "{text}"')
                case SessionStarted(color=color):
                    self.color = color
                case SessionEnded(state=state):
                    self.part, self.phase = "idle", ""
                    again = "" if state == "interrupted" else (
                        "; press Enter to begin again, q to quit")
                    self._print(f"-- session {state}{again} --")

    def bar(self) -> str:
        filled = round(self.lightness * BAR)
        phase = f" · {self.phase}" if self.phase else ""
        label = f"{self.part}{phase}"
        lit = "#" * filled
        if self.color and self.live:  # the light's own colour, on a 24-bit colour terminal
            red, green, blue = (int(self.color[i:i + 2], 16) for i in (1, 3, 5))
            lit = f"\x1b[38;2;{red};{green};{blue}m{lit}\x1b[0m"
        touch = f"  touch {self.touch:.2f}" if self.touch is not None else ""
        return (f"{label:<20} [{lit}{'.' * (BAR - filled)}] "
                f"{self.lightness * 100:3.0f}%  duty {self.duty:.3f}{touch}")

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.live:
            if force:
                self.out.write(self.bar() + "\n")
                self.out.flush()
            return
        if force or now - self._drawn >= REDRAW:
            self._drawn = now
            self.out.write("\r\x1b[2K" + self.bar())
            self.out.flush()

    def say(self, line: str) -> None:
        """A line of its own above the bar (a log message, say)."""
        with self._lock:
            self._print(line)

    def _print(self, line: str) -> None:
        if self.live:
            self.out.write("\r\x1b[2K" + line + "\n" + self.bar())
        else:
            self.out.write(line + "\n")
        self.out.flush()


class ScreenLog(logging.Handler):
    """Log lines go above the bar, each on its own line, never glued onto it.

    With `no_sound_said`, the demo has already said in plain words that there is no sound
    device, so the speaker's line at each session's start (in PortAudio's words, and flagged
    NO_OUTPUT on its record) is left out. With `elsewhere` (stderr's handler), lines go there
    until the screen is `showing()` and after it is done: the demo sets up this one handler at
    its start, never swaps it.
    """

    def __init__(self, screen: DemoScreen, no_sound_said: bool = False,
                 elsewhere: logging.Handler | None = None) -> None:
        super().__init__()
        self.screen = screen
        self.no_sound_said = no_sound_said
        self.elsewhere = elsewhere
        self.shown = elsewhere is None
        self.setFormatter(logging.Formatter("ebbtide: %(message)s"))

    @contextlib.contextmanager
    def showing(self) -> Iterator[None]:
        """Lines go on the screen while the session is drawn."""
        self.shown = True
        try:
            yield
        finally:
            self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.shown and self.elsewhere is not None:
            self.elsewhere.handle(record)
            return
        if self.no_sound_said and getattr(record, NO_OUTPUT, False):
            return
        self.screen.say(self.format(record))


@contextlib.contextmanager
def quiet_keys(stream: IO[str] = sys.stdin) -> Iterator[None]:
    """On a terminal, typed keys are not echoed: they would land on the bar. Lines are
    still read whole (Enter ends one)."""
    try:
        import termios

        fd = stream.fileno()
        before = termios.tcgetattr(fd) if stream.isatty() else None
    except (ImportError, OSError, ValueError):
        before = None
    if before is None:
        yield
        return
    quiet = list(before)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, before)


class MockButtonPin(Protocol):
    """The mock pin the keyboard works (gpiozero's MockPin)."""

    def drive_low(self) -> None: ...

    def drive_high(self) -> None: ...


class Keyboard:
    """Reads lines from stdin and works the mock button pin as a person would."""

    def __init__(self, pin: MockButtonPin, controller: Controller, hold_seconds: float,
                 stream: IO[str] = sys.stdin) -> None:
        self.pin = pin
        self.controller = controller
        self.hold_seconds = hold_seconds
        self.stream = stream
        self._thread = threading.Thread(target=self._read, name="demo-keyboard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def press(self, seconds: float = 0.15) -> None:
        """Down, a moment, up, a moment: lines typed quickly still make separate presses
        (the controller ignores a press that follows a release within its debounce time)."""
        self.pin.drive_low()
        time.sleep(seconds)
        self.pin.drive_high()
        time.sleep(0.1)

    def hold(self) -> None:
        self.press(self.hold_seconds + 0.3)

    def _read(self) -> None:
        for line in self.stream:
            word = line.strip().lower()
            if word in ("q", "quit"):
                break
            if word in ("s", "stop"):
                self.hold()
            else:
                self.press()
        self.controller.quit()


def cmd_demo(args: argparse.Namespace) -> int:
    """A session on mock pins, in this terminal; the exit code."""
    from audio.stream import AudioUnavailable, describe_output
    from device.commands.config_and_script import load
    from device.commands.keyboard import keyboard_open
    from device.commands.progress import ProgressBar
    from device.commands.run import (
        build_appliance,
        listening_for_signals,
        log_voice,
        open_trace,
        session_lines,
    )
    from device.core.events import Listeners
    from device.core.plan import session_shape
    from device.service.journal import setup_logging, stderr_handler
    from hardware.pins import mock_factory

    # The one log handler for this run: stderr's until the screen shows, then above the bar.
    screen = DemoScreen()
    screen_log = ScreenLog(screen, elsewhere=stderr_handler())
    setup_logging(args.verbose, screen_log)
    config, script = load(args)
    simulated = None
    if args.breather is not None:
        from device.commands.render import breather_from
        from device.service.breather import RecordedBreather, SimulatedBreather

        try:
            breather = breather_from(args.breather)
        except EbbtideError as error:
            log.error("--breather %s", error)
            return exit_codes.USAGE

        def simulated(clock: Clock, paced: Callable[[], Sequence[float]]) -> Samples:
            """The simulated person, on the appliance's clock, on the breath sensor."""
            if isinstance(breather, str):
                return SimulatedBreather(breather, clock, paced)
            return RecordedBreather(breather[0], breather[1], clock)
    if not keyboard_open("demo", "Enter presses the button, q quits"):
        return exit_codes.USAGE
    factory = mock_factory()
    with ExitStack() as stack:
        wake = listening_for_signals(stack)
        trace = open_trace(args, stack)
        print("Ebbtide demo: mock pins, real voice where there is a sound device.")
        bar = ProgressBar.on_terminal(sys.stdout, "making the voice (once)")
        appliance = build_appliance(config, script, factory, Listeners(screen, trace), wake,
                                    log_tracebacks=False, demo=True, making=bar,
                                    simulated_sensor=simulated)
        if bar:
            bar.done()
        log_voice(appliance.speaker,
                  session_lines(config, script, sensed=args.breather is not None))
        stack.callback(appliance.close)
        print(f"Session ({config.breathing.pattern}): {session_shape(appliance.plan)}.")
        try:
            describe_output(config.audio.output)
        except AudioUnavailable as error:
            screen_log.no_sound_said = True
            # A device named in the config but missing is the owner's to fix, so name it;
            # with none at all, PortAudio's words would say nothing to a person.
            why = (f"{error}" if config.audio.output is not None
                   else "No sound device here")
            print(f"{why[0].upper()}{why[1:]}: the light is drawn and each line is printed "
                  "as it would be spoken, but the voice stays silent.")
        print("Press Enter to press the button (start, or next part); "
              "s + Enter to hold it (stop); q + Enter to quit.")
        stack.enter_context(screen_log.showing())
        stack.enter_context(quiet_keys())
        Keyboard(factory.pin(config.button.pin), appliance.controller,
                 config.button.hold_seconds).start()
        appliance.serve()
        print()
    if appliance.history is not None:
        print(f"Sessions are kept in {appliance.history.path}, marked as the demo's: "
              f"{typed_command()} history shows them.")
    return exit_codes.OK


def typed_command() -> str:
    """`ebbtide` as the person can type it: the bare name when their PATH finds this very
    command, else the path they ran it by (setup.sh makes .venv/bin/ebbtide, which is not
    on the PATH), else the console script beside this Python."""
    import shutil

    ran = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if ran is not None and ran.name != "-c" and ran.suffix != ".py" and ran.is_file():
        found = shutil.which(ran.name)
        if found is not None and os.path.samefile(found, ran):
            return ran.name
        return str(ran)
    beside = Path(sys.executable).with_name("ebbtide")
    found = shutil.which("ebbtide")
    if found is not None and (not beside.is_file() or os.path.samefile(found, beside)):
        return "ebbtide"
    return str(beside) if beside.is_file() else "ebbtide"
