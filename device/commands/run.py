"""`ebbtide run`: the appliance on the real pins, as systemd starts it.

Also the wiring `ebbtide demo` shares: the signal pipe, the trace file, the history opener
and the appliance built from them, and the voice's line in the log.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from device.commands import exit_codes
from device.core import parts as registry
from device.core.config import Config, ConfigError
from device.core.errors import EbbtideError
from device.core.events import Event, Listener, Listeners, SessionEnded, SessionStarted
from device.core.script import Script, ScriptError
from device.files.config_file import load_config
from device.files.script_file import load_script
from device.service.controller import SIGNALS
from device.service.trace import TraceFile
from device.service.wake import WakePipe

if TYPE_CHECKING:
    from audio.speaker import Speaker
    from device.history.store import History
    from device.service.appliance import Appliance, SimulatedSensor
    from device.service.notify import ServiceNotifier
    from hardware.pins import PinFactory

log = logging.getLogger("ebbtide")

HISTORY_WAIT_S = 0.25  # how long a write waits for another program's lock (then: later)


class TraceUnwritable(EbbtideError):
    """--trace names a file Ebbtide cannot or will not write."""


def cmd_run(args: argparse.Namespace) -> int:
    # Signals first: from here on, a burst of presses or a stop at any moment of start-up is
    # kept in the pipe for the controller, and never kills or hangs the process.
    with ExitStack() as stack:
        return _run(args, listening_for_signals(stack))


def _run(args: argparse.Namespace, wake: WakePipe) -> int:
    from device.service.notify import ServiceNotifier
    from hardware.pins import NoPins, choose_factory

    config, script, valid = load_or_defaults(args)
    try:
        factory = choose_factory()
    except NoPins as error:
        log.error("%s", error)
        return exit_codes.FAILED
    with ExitStack() as stack:
        trace = open_trace(args, stack)
        # A crash's traceback goes to the journal, or to a terminal only when asked for.
        tracebacks = args.verbose or "JOURNAL_STREAM" in os.environ
        listener = Listeners(trace, _SessionLog())

        def appliance_for(config: Config, script: Script) -> Appliance:
            return build_appliance(config, script, factory, listener, wake,
                                   log_tracebacks=tracebacks, notifier=ServiceNotifier())

        try:
            appliance = appliance_for(config, script)
        except (ConfigError, ScriptError) as error:  # the plan, with the voice's own lengths
            _log_unplannable(error)
            config, script, valid = Config(), load_script(), False
            appliance = appliance_for(config, script)
        stack.callback(appliance.close)
        if appliance.controller.quitting:
            return exit_codes.OK  # stopped while starting: nothing lit, nothing to say
        if not valid:
            appliance.blink(3)  # so the owner notices, and looks at the log
        log_voice(appliance.speaker, session_lines(config, script))
        log.info("ready: press the button on GPIO%d to begin", config.button.pin)
        appliance.serve()
    return exit_codes.OK


def build_appliance(config: Config, script: Script, factory: PinFactory, listener: Listener,
                    wake: WakePipe, *, log_tracebacks: bool, demo: bool = False,
                    making: Callable[[int, int], None] | None = None,
                    notifier: ServiceNotifier | None = None,
                    simulated_sensor: SimulatedSensor | None = None) -> Appliance:
    """The appliance as `run` and `demo` both build it: on the monotonic clock, woken by
    `wake`, with the history opened through `history_opener`."""
    from device.service.appliance import Appliance
    from device.service.clock import MonotonicClock

    return Appliance(config, script, clock=MonotonicClock(), pin_factory=factory,
                     listener=listener, log_tracebacks=log_tracebacks,
                     open_history=history_opener(config), demo=demo, making=making,
                     notifier=notifier, wake=wake, simulated_sensor=simulated_sensor)


def listening_for_signals(stack: ExitStack) -> WakePipe:
    """The wake pipe, catching the stop signals until `stack` closes."""
    wake = stack.enter_context(WakePipe())
    stack.enter_context(wake.catching(SIGNALS))
    return wake


def load_or_defaults(args: argparse.Namespace) -> tuple[Config, Script, bool]:
    """The config and script, or the built-in ones (and False) if either is refused: a
    bedside appliance still works with a bad file; the log says what to fix."""
    valid = True
    try:
        config = load_config(args.config)
    except ConfigError as error:
        if error.usable is not None:  # only the voice model is wrong: espeak-ng speaks
            log.error("%s; speaking with espeak-ng", "; ".join(error.problems))
            config = error.usable
        else:
            log.error("invalid config, running with the built-in defaults: %s",
                      "; ".join(error.problems))
            config, valid = Config(), False
    try:
        script = load_script(config.voice.script)
    except ScriptError as error:
        log.error("invalid script, running with the built-in words: %s", error)
        script, valid = load_script(), False
    wordless = registry.wordless(config.session.parts, script)
    if wordless:  # a script made before these parts existed: its own words, without them
        log.warning("%s has no words for %s: the session runs without %s (add them, see "
                    "`ebbtide script check`)", script.where, " or ".join(wordless),
                    " and ".join(wordless))
        parts = tuple(p for p in config.session.parts if p not in wordless)
        config = replace(config, session=replace(config.session, parts=parts))
    try:  # what loads must also plan (a pure estimate, before any voice is made for it)
        from device.core.plan import plan_session

        plan_session(config, script, {})
    except (ConfigError, ScriptError) as error:
        _log_unplannable(error)
        config, script, valid = Config(), load_script(), False
    return config, script, valid


def _log_unplannable(error: ConfigError | ScriptError) -> None:
    log.error("no session can be planned from the config and script, running with the "
              "built-in defaults: %s", "; ".join(getattr(error, "problems", [str(error)])))


def open_trace(args: argparse.Namespace, stack: ExitStack) -> TraceFile | None:
    """The --trace file, closed by `stack`; None without --trace."""
    if not args.trace:
        return None
    # Streamed as it happens (so a crash keeps it), not swapped in whole; but, as every file
    # Ebbtide writes, never through a symbolic link (O_NOFOLLOW), and a new file is 0644.
    try:
        descriptor = os.open(args.trace, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o644)
        stream = open(descriptor, "w", encoding="utf-8")  # noqa: SIM115 - closed by the stack
    except OSError as error:
        why = ("it is a symbolic link, and Ebbtide never writes through one: remove the link "
               "or choose another name" if error.errno == errno.ELOOP else error.strerror)
        raise TraceUnwritable(f"cannot write the trace file {args.trace}: {why}") from None
    trace = TraceFile(stream)
    stack.callback(trace.close)
    return trace


def session_lines(config: Config, script: Script, sensed: bool = False) -> int:
    """How many different lines the configured session speaks (`sensed`: to a simulated
    person on the breath sensor too)."""
    from device.core.plan import voice_lines

    return len({line.text for line in voice_lines(config, script, sensed)})


def log_voice(speaker: Speaker, total: int) -> None:
    """One line for the journal: which voice speaks, and how much of the script is ready."""
    report = speaker.voice_report
    if not speaker.speaks:
        log.info("voice: off, sessions are silent ([voice] enabled = false)")
    elif report is not None and report.engine and not report.stopped:
        model = f" ({Path(report.model).stem})" if report.model else ""
        log.info("voice: %s%s, %d of %d lines ready, %d from recordings", report.engine,
                 model, len(report.lines), total, report.recorded)


def history_opener(config: Config) -> Callable[[], History] | None:
    """How the appliance opens the session history (None when it is switched off): with
    any session cut off by a crash or power loss marked interrupted. The appliance tries
    again while another program holds the history's lock, so no session is lost to it."""
    if not config.history.enabled:
        return None
    from device.history.store import History, default_directory

    def open_history() -> History:
        history = History(default_directory(), timeout=HISTORY_WAIT_S)
        try:
            recovered = history.recover()
        except BaseException:
            history.close()
            raise
        if recovered:
            log.info("%d session(s) cut off last time are recorded as interrupted", recovered)
        return history

    return open_history


class _SessionLog:
    """Logs the start and end of each session, nothing more."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted | SessionEnded):
            log.info("session %s", event.state)
