"""The `ebbtide` command: the parser, the dispatch to device/commands/, and the one table
that turns an error into a message and an exit code.

A person never sees a traceback: every known failure is one plain line, and
anything unexpected is one line too (the details go to the log with --verbose).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from device.commands import exit_codes
from device.core import parts as registry
from device.core.config import ConfigError
from device.core.errors import EbbtideError
from device.core.script import ScriptError
from device.service.journal import setup_logging

log = logging.getLogger("ebbtide")


def _common_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", default=default,
                        help="config file (default: $EBBTIDE_CONFIG, "
                             "~/.config/ebbtide/config.toml, /etc/ebbtide/config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log details")


def parts_help() -> str:
    """The parts a session can have, for `ebbtide --help`: the registry's, in order."""
    parts = "; ".join(f"{part.name} ({part.about}"
                      + ("" if part.default else ", not in the default session") + ")"
                      for part in registry.PARTS)
    return f"A session's parts ([session] parts in the config), in their usual order: {parts}."


def build_parser() -> argparse.ArgumentParser:
    """--config and -v work before or after the command; given after, they win."""
    parser = argparse.ArgumentParser(
        prog="ebbtide",
        description="Ebbtide: an offline bedside calm device. One button, a breathing light, "
                    "a gentle voice.",
        epilog=parts_help())
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
    breather_help = ("a simulated person on the breath sensor: follow (starts at 16 a minute "
                     "and joins the light), ignore (keeps its own 16), or a recording FILE.csv "
                     "(t_s,ax,ay,az, as `breath record` writes it)")
    demo.add_argument("--breather", metavar="follow|ignore|FILE.csv", help=breather_help)
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
    render.add_argument("--breather", metavar="follow|ignore|FILE.csv", help=breather_help)
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
    _breath_commands(sub, common)
    return parser


def _breath_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                     common: argparse.ArgumentParser) -> None:
    """`ebbtide breath ...`: the breath sensor's commands (device/commands/breath.py)."""
    breath = sub.add_parser("breath", help="the breath sensor: record it, read a recording")
    actions = breath.add_subparsers(dest="breath_command", required=True, metavar="COMMAND")
    analyze = actions.add_parser(
        "analyze", parents=[common],
        help="read a recording (CSV t_s,ax,ay,az in g): the breathing rate, the breaths "
             "found and how much of it could be read")
    analyze.add_argument("file", metavar="FILE.csv", help="the recording")
    analyze.add_argument("--json", metavar="OUT",
                         help="also write every 30 s window's rate and every breath as JSON")
    record = actions.add_parser(
        "record", parents=[common],
        help="record the configured breath sensor ([sensor] kind) to a CSV file (t_s,ax,ay,az "
             "in g), showing the breathing rate once a second; Ctrl-C ends it early and keeps "
             "what was recorded")
    record.add_argument("--seconds", required=True, type=_seconds_to_record, metavar="N",
                        help="how long to record: 1 to 21600 s")
    record.add_argument("--out", required=True, metavar="FILE.csv", help="the file to write")


def _seconds_to_record(text: str) -> float:
    """--seconds of `breath record`: 1 s to 6 h."""
    from device.commands.breath_record import seconds_to_record

    return seconds_to_record(text)


# Each command's module in device/commands/, imported only when it runs: `ebbtide off` (run
# by systemd as the service stops) must not wait for numpy, the audio or the pictures.
COMMANDS = {"run": "run", "demo": "demo", "render": "render", "check": "check",
            "history": "history", "record": "record", "off": "off", "script": "script_check",
            "card": "card", "breath": "breath"}
# The demo draws on the terminal: it sets up its one log handler (its screen's) itself.
LOGS_ON_ITS_OWN = frozenset({"demo"})


def _invalid_config(error: BaseException, verbose: bool) -> None:
    problems = error.problems if isinstance(error, ConfigError) else [str(error)]
    print("ebbtide: invalid config:\n  " + "\n  ".join(problems), file=sys.stderr)


def _invalid_script(error: BaseException, verbose: bool) -> None:
    print(f"ebbtide: invalid script: {error}", file=sys.stderr)


def _one_line(error: BaseException, verbose: bool) -> None:
    log.error("%s", error)


def _nothing(error: BaseException, verbose: bool) -> None:
    """Ctrl-C: the person knows; the shell shows its own ^C."""


def _stdout_gone(error: BaseException, verbose: bool) -> None:
    """The reader went away (`ebbtide check | head -1`): nothing more to say, and no error
    from Python flushing stdout at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _unexpected(error: BaseException, verbose: bool) -> None:
    log.error("stopped by an unexpected error: %s (run with --verbose for details)", error,
              exc_info=verbose)


Say = Callable[[BaseException, bool], None]

# How an error that leaves a command reaches the person, and the exit code: the first row
# whose class matches. Every EbbtideError's message is one plain line for a person.
ERRORS: tuple[tuple[type[BaseException], int, Say], ...] = (
    (ConfigError, exit_codes.CONFIG, _invalid_config),  # stderr: "invalid config:" + problems
    (ScriptError, exit_codes.CONFIG, _invalid_script),  # stderr: "invalid script: ..."
    (EbbtideError, exit_codes.FAILED, _one_line),  # the log: its one line
    (KeyboardInterrupt, exit_codes.INTERRUPTED, _nothing),
    (BrokenPipeError, exit_codes.OK, _stdout_gone),
    (Exception, exit_codes.FAILED, _unexpected),  # the log: one line, details with -v
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in LOGS_ON_ITS_OWN:
        setup_logging(args.verbose)
    try:
        module = importlib.import_module(f"device.commands.{COMMANDS[args.command]}")
        command: Callable[[argparse.Namespace], int] = getattr(
            module, f"cmd_{COMMANDS[args.command]}")
        return command(args)
    except BaseException as error:
        for kind, code, say in ERRORS:
            if isinstance(error, kind):
                say(error, args.verbose)
                return code
        raise  # SystemExit and the like: Python's own way out


if __name__ == "__main__":
    sys.exit(main())
