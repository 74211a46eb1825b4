"""The `ebbtide` command: run, demo, render and check.

A person never sees a traceback: every known failure is one plain line, and
anything unexpected is one line too (the details go to the log with --verbose).
"""

from __future__ import annotations

import argparse
import datetime
import errno
import logging
import os
import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from device.core.config import Config, ConfigError, find, load_config
from device.core.events import Event, SessionEnded, SessionStarted
from device.core.script import Script, ScriptError, load_script
from device.service.controller import SIGNALS
from device.service.wake import WakePipe

log = logging.getLogger("ebbtide")

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_USAGE = 2  # as argparse exits for a wrong argument


_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
                    logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """journald reads a "<N>" syslog priority at the start of a line as the line's level."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def _setup_logging(verbose: bool) -> None:
    """One line per event on stderr; journald adds its own timestamps, so we never do."""
    handler = logging.StreamHandler(sys.stderr)
    if "JOURNAL_STREAM" in os.environ:
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("ebbtide: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def _load(args: argparse.Namespace) -> tuple[Config, Script]:
    config = load_config(args.config)
    script = load_script(config.voice.script)
    return config, script


def _open_trace(args: argparse.Namespace, stack: ExitStack):
    if not args.trace:
        return None
    from device.service.trace import TraceFile

    # Streamed as it happens (so a crash keeps it), not swapped in whole; but, as every file
    # Ebbtide writes, never through a symbolic link (O_NOFOLLOW), and a new file is 0644.
    try:
        descriptor = os.open(args.trace, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o644)
        stream = open(descriptor, "w", encoding="utf-8")  # noqa: SIM115 - closed by the stack
    except OSError as error:
        why = ("it is a symbolic link, and Ebbtide never writes through one: remove the link "
               "or choose another name" if error.errno == errno.ELOOP else error.strerror)
        raise SystemExit(f"ebbtide: cannot write the trace file {args.trace}: {why}") from None
    trace = TraceFile(stream)
    stack.callback(trace.close)
    return trace


def _load_or_defaults(args: argparse.Namespace) -> tuple[Config, Script, bool]:
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
    wordless = [part for part in config.session.parts
                if part in ("feel", "partner") and not getattr(script, part)]
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


def cmd_run(args: argparse.Namespace) -> int:
    # Signals first: from here on, a burst of presses or a stop at any moment of start-up is
    # kept in the pipe for the controller, and never kills or hangs the process.
    with WakePipe() as wake, wake.catching(SIGNALS):
        return _run(args, wake)


def _run(args: argparse.Namespace, wake: WakePipe) -> int:
    from device.core.events import Listeners
    from device.service.appliance import Appliance
    from device.service.clock import MonotonicClock
    from device.service.notify import ServiceNotifier
    from hardware.pins import NoPins, choose_factory

    config, script, valid = _load_or_defaults(args)
    try:
        factory = choose_factory()
    except NoPins as error:
        log.error("%s", error)
        return EXIT_FAILED
    with ExitStack() as stack:
        trace = _open_trace(args, stack)
        # A crash's traceback goes to the journal, or to a terminal only when asked for.
        tracebacks = args.verbose or "JOURNAL_STREAM" in os.environ
        listener = Listeners(trace, _SessionLog())

        def appliance_for(config: Config, script: Script) -> Appliance:
            return Appliance(config, script, clock=MonotonicClock(), pin_factory=factory,
                             listener=listener, log_tracebacks=tracebacks,
                             open_history=_history_opener(config), notifier=ServiceNotifier(),
                             wake=wake)

        try:
            appliance = appliance_for(config, script)
        except (ConfigError, ScriptError) as error:  # the plan, with the voice's own lengths
            _log_unplannable(error)
            config, script, valid = Config(), load_script(), False
            appliance = appliance_for(config, script)
        stack.callback(appliance.close)
        if appliance.controller.quitting:
            return 0  # stopped while starting: nothing lit, nothing to say
        if not valid:
            appliance.blink(3)  # so the owner notices, and looks at the log
        _log_voice(appliance.speaker, session_lines(config, script))
        log.info("ready: press the button on GPIO%d to begin", config.button.pin)
        appliance.serve()
    return 0


def cmd_off(args: argparse.Namespace) -> int:
    """The light off, from a process of its own: systemd runs this after the service ends,
    however it ended (ExecStopPost=), so a killed or crashed service never leaves it lit."""
    from hardware.light import switch_off
    from hardware.motor import switch_off as stop_motor
    from hardware.pins import NoPins, choose_factory

    try:
        config = load_config(args.config)
    except ConfigError as error:  # `run` used the same pin: the usable part, or the defaults
        config = error.usable or Config()
    except Exception as error:  # whatever the file holds, the light still goes off
        log.warning("cannot read the config (%s): switching off the default pins", error)
        config = Config()
    try:
        factory = choose_factory()
        if config.light.kind == "rgb":
            for pin in config.light.pins:
                how = switch_off(pin, factory, "gpiozero",
                                 lit_when_high=config.light.common == "cathode")
        else:
            how = switch_off(config.light.pin, factory, config.light.backend)
        if config.haptic.pin is not None:
            stop_motor(config.haptic.pin, factory)
        factory.close()
    except NoPins as error:
        log.error("%s", error)
        return EXIT_FAILED
    except Exception as error:  # e.g. the pin is held by another program
        log.error("cannot switch the light (GPIO%d) off: %s", config.light.pin, error)
        return EXIT_FAILED
    pins = config.light.pins if config.light.kind == "rgb" else (config.light.pin,)
    log.info("the light (%s) is off%s%s", ", ".join(f"GPIO{p}" for p in pins),
             f" ({how})" if how.startswith("hardware") else "",
             f"; the motor (GPIO{config.haptic.pin}) is still" if config.haptic.pin is not None
             else "")
    return 0


def session_lines(config: Config, script: Script) -> int:
    """How many different lines the configured session speaks."""
    from device.core.plan import voice_lines

    return len({line.text for line in voice_lines(config, script)})


def _log_voice(speaker, total: int) -> None:
    """One line for the journal: which voice speaks, and how much of the script is ready."""
    report = speaker.voice_report
    if not speaker.speaks:
        log.info("voice: off, sessions are silent ([voice] enabled = false)")
    elif report is not None and report.engine and not report.stopped:
        model = f" ({Path(report.model).stem})" if report.model else ""
        log.info("voice: %s%s, %d of %d lines ready, %d from recordings", report.engine,
                 model, len(report.lines), total, report.recorded)


HISTORY_WAIT_S = 0.25  # how long a write waits for another program's lock (then: later)


def _history_opener(config: Config):
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


def cmd_history(args: argparse.Namespace) -> int:
    from device.history.report import format_recent, format_weekly, skipped_note, write_csv
    from device.history.store import History, HistoryUnavailable, default_directory

    if not 1 <= args.limit <= MAX_LIMIT:
        log.error("--limit %s: give how many recent sessions to show, a whole number from 1 "
                  "to %d", args.limit, MAX_LIMIT)
        return EXIT_USAGE
    cycle = None
    if args.cycle_start is not None or args.cycle_length is not None:
        cycle = _cycle(args)
        if cycle is None:
            return EXIT_USAGE
    if args.plot:
        from device.pictures.picture import PictureError, check_path, require

        try:
            check_path(Path(args.plot))
            require()
        except PictureError as error:
            log.error("%s", error)
            return EXIT_USAGE
    try:
        with History.reading(default_directory()) as history:
            records = (history.all_sessions() if args.plot
                       else history.recent(args.limit))
            weeks = history.weekly()
            often = history.recent_nights()
            skipped = history.skipped
    except HistoryUnavailable as error:
        log.error("%s", error)
        return EXIT_FAILED
    if skipped:
        log.warning("%s", skipped_note(skipped))
    if args.plot:
        return _plot_history(records, Path(args.plot), cycle)
    if args.csv:
        write_csv(records, sys.stdout)
        return 0
    print(format_recent(records))
    if records:
        print("\nSessions per week (weeks start on Monday):")
        print(format_weekly(weeks))
    if often >= OFTEN_SESSIONS and _help_note_wanted(args):
        print(f"\n{often} sessions in the last 7 nights. If nights like these keep coming, it "
              "can help to talk with someone: `ebbtide card` prints where to find a "
              "therapist and lines to call, and the README's \"When to look for help\" says "
              "more.")
    return 0


OFTEN_SESSIONS = 3  # in the last 7 nights: `ebbtide history` then points to help, gently
MAX_LIMIT = 100_000  # `history --limit`: more than any bedside history holds


def _help_note_wanted(args: argparse.Namespace) -> bool:
    """[history] help_note, read leniently: a config with a mistake still shows the note."""
    try:
        return load_config(args.config).history.help_note
    except ConfigError as error:
        return error.usable.history.help_note if error.usable else True


def _cycle(args: argparse.Namespace):
    """The cycle for the picture from --cycle-start and --cycle-length, or None after one
    line saying what is wrong. The dates are used for the picture and never stored."""
    from device.pictures.history import CYCLE_DAYS_DEFAULT, Cycle

    if not args.plot:
        log.error("--cycle-start and --cycle-length shape the picture: add --plot FILE.png")
        return None
    if args.cycle_start is None:
        log.error("--cycle-length needs --cycle-start YYYY-MM-DD (the first day of a cycle)")
        return None
    try:
        start = datetime.date.fromisoformat(args.cycle_start)
    except ValueError:
        log.error("--cycle-start %s is not a date: give the first day of a cycle as "
                  "YYYY-MM-DD, for example 2026-11-02", args.cycle_start)
        return None
    try:
        return Cycle(start, CYCLE_DAYS_DEFAULT if args.cycle_length is None
                     else args.cycle_length)
    except ValueError as error:
        log.error("--cycle-length %s: %s", args.cycle_length, error)
        return None


def _plot_history(records, path: Path, cycle) -> int:
    from device.pictures.history import write_history_picture
    from device.pictures.picture import PictureError

    try:
        write_history_picture(records, path, datetime.date.today(), cycle)
    except PictureError as error:
        log.error("%s", error)
        return EXIT_FAILED
    demos = sum(record.demo for record in records)
    if not demos:
        marked = ""
    elif len(records) == 1:
        marked = ", from the demo (drawn hollow)"
    else:
        marked = f", {demos} of them from the demo (drawn hollow)"
    by_cycle = f", by day of a {cycle.length}-day cycle" if cycle else ""
    count = f"{len(records)} session" + ("s" if len(records) != 1 else "")
    print(f"drew {path}: {count}{marked}{by_cycle}")
    return 0


class _SessionLog:
    """Logs the start and end of each session, nothing more."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted | SessionEnded):
            log.info("session %s", event.state)


def cmd_demo(args: argparse.Namespace) -> int:
    from audio.stream import AudioUnavailable, describe_output
    from device.commands.demo import DemoScreen, Keyboard, ScreenLog, quiet_keys
    from device.commands.progress import ProgressBar
    from device.core.events import Listeners
    from device.core.plan import session_shape
    from device.service.appliance import Appliance
    from device.service.clock import MonotonicClock
    from hardware.pins import mock_factory

    config, script = _load(args)
    if not _keyboard_open("demo", "Enter presses the button, q quits"):
        return EXIT_USAGE
    factory = mock_factory()
    screen = DemoScreen()
    with ExitStack() as stack:
        wake = stack.enter_context(WakePipe())
        stack.enter_context(wake.catching(SIGNALS))
        trace = _open_trace(args, stack)
        print("Ebbtide demo: mock pins, real voice where there is a sound device.")
        bar = ProgressBar.on_terminal(sys.stdout, "making the voice (once)")
        appliance = Appliance(config, script, clock=MonotonicClock(), pin_factory=factory,
                              listener=Listeners(screen, trace), log_tracebacks=False,
                              open_history=_history_opener(config), demo=True, making=bar,
                              wake=wake)
        if bar:
            bar.done()
        _log_voice(appliance.speaker, session_lines(config, script))
        stack.callback(appliance.close)
        print(f"Session ({config.breathing.pattern}): {session_shape(appliance.plan)}.")
        no_sound = False
        try:
            describe_output(config.audio.output)
        except AudioUnavailable as error:
            no_sound = True
            # A device named in the config but missing is the owner's to fix, so name it;
            # with none at all, PortAudio's words would say nothing to a person.
            why = (f"{error}" if config.audio.output is not None
                   else "No sound device here")
            print(f"{why[0].upper()}{why[1:]}: the light is drawn and each line is printed "
                  "as it would be spoken, but the voice stays silent.")
        print("Press Enter to press the button (start, or next part); "
              "s + Enter to hold it (stop); q + Enter to quit.")
        root = logging.getLogger()
        handlers, root.handlers = root.handlers, [ScreenLog(screen, no_sound)]
        stack.callback(setattr, root, "handlers", handlers)
        stack.enter_context(quiet_keys())
        Keyboard(factory.pin(config.button.pin), appliance.controller,
                 config.button.hold_seconds).start()
        appliance.serve()
        print()
    if appliance.history is not None:
        print(f"Sessions are kept in {appliance.history.path}, marked as the demo's: "
              f"{typed_command()} history shows them.")
    return 0


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


def cmd_render(args: argparse.Namespace) -> int:
    from device.commands.render import render_session
    from device.files.atomic_file import WriteFailed
    from device.pictures.picture import PictureError, check_path, require
    from device.pictures.session import write_session_picture

    config, script = _load(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        log.error("--out %s is a file, not a folder: give a folder for the session's files "
                  "(it is made if it does not exist)", out)
        return EXIT_USAGE
    at = None
    if args.at is not None:
        try:
            at = datetime.time.fromisoformat(args.at)
        except ValueError:
            log.error("--at %s is not a time of day: give it as HH:MM, for example 23:30",
                      args.at)
            return EXIT_USAGE
    drawing = Path(args.plot) if args.plot else out / "session.png"
    try:
        check_path(drawing)
        if args.plot:
            require()  # asked for by name: say at once when it cannot be drawn
    except PictureError as error:
        log.error("%s", error)
        return EXIT_USAGE
    try:
        rendered = render_session(config, script, out, at)
    except WriteFailed as error:
        log.error("%s", error)
        return EXIT_FAILED
    except OSError as error:
        log.error("cannot write to %s: %s", out, error.strerror or error)
        return EXIT_FAILED
    plan = rendered.plan
    print(f"{'part':<10} {'starts':>9}  {'lasts':>8}  lines")
    for part in plan.parts:
        print(f"{part.name:<10} {part.start:7.1f} s  {part.seconds:6.1f} s  "
              f"{len(part.cues):5d}")
    print(f"{'total':<10} {'':>9}  {plan.seconds:6.1f} s  ({plan.seconds / 60:.1f} min)")
    if at is not None:
        print(f"started at {at:%H:%M}: " + ("in the quiet hours ([night]), quieter and dimmer"
                                            if config.night.active(at) else "by day"))
    ear = rendered.by_ear
    if ear is not None:
        print(f"by ear, through the breathing: the tide is heard in {ear.present:.1%} of it, "
              f"and rises and falls with the breath in {ear.direction:.1%} of it")
    touch = f", {out / 'haptic.csv'}" if config.haptic.pin is not None else ""
    print(f"wrote {out / 'session.wav'}, {out / 'light.csv'}, {out / 'events.csv'}, "
          f"{out / 'levels.csv'}{touch}")
    try:
        write_session_picture(rendered.timeline, drawing)
    except PictureError as error:
        # The files are written; only the picture is missing. Asked for by name, that is a
        # failure; by default, a note.
        if args.plot:
            log.error("%s", error)
            return EXIT_FAILED
        print(f"no picture: {error}")
        return 0
    print(f"drew {drawing}")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    """The printed card to keep by the bed: gestures, the session, and where help is."""
    from device.core.plan import plan_session
    from device.pictures.card import write_card
    from device.pictures.picture import PRINT_FORMATS, PictureError, check_path
    from device.words.card import card_language, countries, country_from_locale, make_card

    out = Path(args.out)
    known = countries()
    code = (args.country or country_from_locale() or "").lower()
    if code not in known:
        what = f"--country {args.country}: Ebbtide has no lines for it" if args.country else \
            "which country's lines should the card show? Your locale does not say"
        log.error("%s; give one of %s, for example --country %s", what, ", ".join(known),
                  next(iter(known)))
        return EXIT_USAGE
    try:
        check_path(out, PRINT_FORMATS)
    except PictureError as error:
        log.error("%s", error)
        return EXIT_USAGE
    config, script = _load(args)
    minutes = plan_session(config, script, {}).seconds / 60
    card = make_card(config, known[code], card_language(script.language), minutes)
    try:
        write_card(card, out)
    except PictureError as error:
        log.error("%s", error)
        return EXIT_FAILED
    country = known[code]
    print(f"drew {out}: the card for {country.name} ({card.language}), numbers checked on "
          f"{country.checked}; print it at A6 (or fold an A4 sheet in four) and keep it by "
          "the bed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    path = find(args.config)
    config, script = _load(args)
    print(f"config: {path or 'none found, using the built-in defaults'}: valid")
    from device.commands.check import report

    return report(config, script)


def cmd_script_check(args: argparse.Namespace) -> int:
    from device.commands.script_check import check_script, rendered_seconds

    config = load_config(args.config)
    name = args.file if args.file is not None else config.voice.script
    report = check_script(config, name, None if args.estimate else rendered_seconds)
    print(f"script: {report.where}")
    for note in report.notes:
        print(f"  {note}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    for error in report.errors:
        print(f"error: {error}")
    verdict = (f"{len(report.errors)} error(s)" if report.errors else "usable") + (
        f", {len(report.warnings)} warning(s)" if report.warnings else "")
    print(f"script check: {verdict}")
    return EXIT_CONFIG if report.errors else 0


def cmd_record(args: argparse.Namespace) -> int:
    from device.commands.record import record_lines

    config, script = _load(args)
    if not args.list and not _keyboard_open("record", "Enter starts and ends each take"):
        return EXIT_USAGE
    return record_lines(config, script, list_only=args.list, line=args.line)


def _keyboard_open(command: str, keys: str) -> bool:
    """False, after one line, when there is no input to read keys from (`ebbtide demo <&-`,
    or started by a program that closed it): the command would wait on nothing."""
    try:
        usable = sys.stdin is not None and not sys.stdin.closed and os.fstat(
            sys.stdin.fileno()) is not None
    except (OSError, ValueError):
        usable = False
    if not usable:
        log.error("`ebbtide %s` reads what you type (%s), but its input is closed: run it "
                  "in a terminal (without <&-)", command, keys)
    return usable


def _common_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", default=default,
                        help="config file (default: $EBBTIDE_CONFIG, "
                             "~/.config/ebbtide/config.toml, /etc/ebbtide/config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log details")


def build_parser() -> argparse.ArgumentParser:
    """--config and -v work before or after the command; given after, they win."""
    parser = argparse.ArgumentParser(
        prog="ebbtide",
        description="Ebbtide: an offline bedside calm device. One button, a breathing light, "
                    "a gentle voice.")
    _common_options(parser, default=None)
    parser.set_defaults(verbose=False)
    # The command's own copies must not overwrite values given before the command.
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="the appliance, on the real pins")
    demo = sub.add_parser("demo", parents=[common],
                          help="a session on mock pins in this terminal")
    for p in (run, demo):
        p.add_argument("--trace", metavar="FILE", help="write every event as JSON lines")
    render = sub.add_parser("render", parents=[common],
                            help="write a whole session to WAV and CSV files and a picture, "
                                 "offline")
    render.add_argument("--out", required=True, metavar="DIR")
    render.add_argument("--at", metavar="HH:MM",
                        help="render a session started at this time of day: in the quiet "
                             "hours of [night] it is quieter and dimmer (default: by day)")
    render.add_argument("--plot", metavar="FILE",
                        help="draw the session picture here (.png or .svg; default: "
                             "DIR/session.png); needs matplotlib, the plots extra")
    card = sub.add_parser("card", parents=[common],
                          help="a card to print and keep by the bed: the gestures, the "
                               "session, when to look for help, and crisis lines")
    card.add_argument("--out", default="ebbtide-card.pdf", metavar="FILE",
                      help="where to write it: .pdf (default ebbtide-card.pdf), .png or .svg")
    card.add_argument("--country", metavar="CODE",
                      help="whose lines: us, uk, ie, de, at or ch (default: from your locale)")
    sub.add_parser("check", parents=[common],
                   help="check the config, the voice, the audio output and the pins")
    sub.add_parser("off", parents=[common],
                   help="switch the light off and exit (systemd runs it after the service "
                        "ends, however it ended)")
    script = sub.add_parser("script", help="check an edited or translated script file")
    script_sub = script.add_subparsers(dest="script_command", required=True, metavar="COMMAND")
    script_check = script_sub.add_parser(
        "check", parents=[common],
        help="check a script: every key there, none unknown, each breathing cue fits its "
             "phase at the configured rate, the grounding counts, and the tone (exit 2 on "
             "errors, 0 with warnings)")
    script_check.add_argument("file", nargs="?", metavar="FILE",
                              help="the script (default: [voice] script, or the built-in one); "
                                   "a built-in language such as de also works")
    script_check.add_argument("--estimate", action="store_true",
                              help="estimate how long lines take instead of making the voice")
    record = sub.add_parser("record", parents=[common],
                            help="record the lines in your own voice, one by one")
    record.add_argument("--list", action="store_true",
                        help="print each line's id and text (ID<TAB>TEXT) and exit")
    record.add_argument("--line", metavar="ID", help="record (or redo) just this line")
    history = sub.add_parser("history", parents=[common],
                             help="recent sessions and a count per week (kept on this device)")
    history.add_argument("--csv", action="store_true", help="all columns as CSV, for export")
    history.add_argument("--limit", type=int, default=20, metavar="N",
                         help="how many recent sessions (default 20)")
    history.add_argument("--plot", metavar="FILE",
                         help="draw every session as a picture (.png or .svg): per week, the "
                              "time of night, how far each got; needs matplotlib")
    history.add_argument("--cycle-start", metavar="YYYY-MM-DD",
                         help="with --plot: also show sessions by day of a cycle (a menstrual "
                              "cycle, say) that began on this date; used for the picture only, "
                              "never stored")
    history.add_argument("--cycle-length", type=int, metavar="N",
                         help="with --cycle-start: the cycle's length in days (default 28)")
    return parser


COMMANDS = {"run": cmd_run, "demo": cmd_demo, "render": cmd_render, "check": cmd_check,
            "history": cmd_history, "record": cmd_record, "off": cmd_off,
            "script": cmd_script_check, "card": cmd_card}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        print("ebbtide: invalid config:\n  " + "\n  ".join(error.problems), file=sys.stderr)
        return EXIT_CONFIG
    except ScriptError as error:
        print(f"ebbtide: invalid script: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `ebbtide check | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        log.error("stopped by an unexpected error: %s (run with --verbose for details)", error,
                  exc_info=args.verbose)
        return EXIT_FAILED



if __name__ == "__main__":
    sys.exit(main())
