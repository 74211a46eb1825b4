"""`ebbtide history`: recent sessions and a count per week, as text, CSV or a picture.

The history is read, never written; a --cycle is used for the picture only, never stored.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from device.commands import exit_codes
from device.core.config import ConfigError
from device.files.config_file import load_config

if TYPE_CHECKING:
    from device.history.store import SessionRecord
    from device.pictures.history import Cycle

log = logging.getLogger("ebbtide")

OFTEN_SESSIONS = 3  # in the last 7 nights: `ebbtide history` then points to help, gently
MAX_LIMIT = 100_000  # `history --limit`: more than any bedside history holds


def cmd_history(args: argparse.Namespace) -> int:
    """Print (or draw) the history; the exit code."""
    from device.history.report import format_recent, format_weekly, skipped_note, write_csv
    from device.history.store import History, HistoryUnavailable, default_directory

    if not 1 <= args.limit <= MAX_LIMIT:
        log.error("--limit %s: give how many recent sessions to show, a whole number from 1 "
                  "to %d", args.limit, MAX_LIMIT)
        return exit_codes.USAGE
    cycle = None
    if args.cycle_start is not None or args.cycle_length is not None:
        cycle = _cycle(args)
        if cycle is None:
            return exit_codes.USAGE
    if args.plot:
        from device.pictures.picture import PictureError, check_path, require

        try:
            check_path(Path(args.plot))
            require()
        except PictureError as error:
            log.error("%s", error)
            return exit_codes.USAGE
    try:
        with History.reading(default_directory()) as history:
            records = (history.all_sessions() if args.plot
                       else history.recent(args.limit))
            weeks = history.weekly()
            often = history.recent_nights()
            skipped = history.skipped
    except HistoryUnavailable as error:
        log.error("%s", error)
        return exit_codes.FAILED
    if skipped:
        log.warning("%s", skipped_note(skipped))
    if args.plot:
        return _plot_history(records, Path(args.plot), cycle)
    if args.csv:
        write_csv(records, sys.stdout)
        return exit_codes.OK
    print(format_recent(records))
    if records:
        print("\nSessions per week (weeks start on Monday):")
        print(format_weekly(weeks))
    if often >= OFTEN_SESSIONS and _help_note_wanted(args):
        print(f"\n{often} sessions in the last 7 nights. If nights like these keep coming, it "
              "can help to talk with someone: `ebbtide card` prints where to find a "
              "therapist and lines to call, and the README's \"When to look for help\" says "
              "more.")
    return exit_codes.OK


def _help_note_wanted(args: argparse.Namespace) -> bool:
    """[history] help_note, read leniently: a config with a mistake still shows the note."""
    try:
        return load_config(args.config).history.help_note
    except ConfigError as error:
        return error.usable.history.help_note if error.usable else True


def _cycle(args: argparse.Namespace) -> Cycle | None:
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


def _plot_history(records: Sequence[SessionRecord], path: Path,
                  cycle: Cycle | None) -> int:
    from device.pictures.history import write_history_picture
    from device.pictures.picture import PictureError

    try:
        write_history_picture(records, path, datetime.date.today(), cycle)
    except PictureError as error:
        log.error("%s", error)
        return exit_codes.FAILED
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
    return exit_codes.OK
