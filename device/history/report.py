"""The history as a person reads it: `ebbtide history`'s table, weekly bars and CSV export,
and the note on rows that could not be read. Text only; the store is device/history/store.py."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from typing import TextIO

from device.core.text import minutes_text
from device.history.store import SessionRecord


def skipped_note(skipped: list[str]) -> str:
    """One line for the person reading the history: which rows were left out, and why."""
    if len(skipped) == 1:
        return (f"one session could not be read and is left out ({skipped[0]}); the others "
                "are shown")
    return (f"{len(skipped)} sessions could not be read and are left out ({skipped[0]}; and "
            f"{len(skipped) - 1} more); the others are shown")


def _duration_text(duration: timedelta | None) -> str:
    if duration is None:
        return "-"
    return minutes_text(max(0, int(duration.total_seconds())))  # whole seconds: cut, not rounded


def _outcome_text(record: SessionRecord) -> str:
    return f"{record.outcome} (demo)" if record.demo else record.outcome


def breathing_text(start_bpm: float | None, end_bpm: float | None,
                   in_step_share: float | None) -> str:
    """What the breath sensor told of a session, in a few words: "16→7/min, 84% in step";
    "" when it told nothing (no sensor). Figures only: how far a person followed the light
    is theirs to read, never a grade."""
    if start_bpm is not None and end_bpm is not None:
        rates = f"{round(start_bpm)}→{round(end_bpm)}/min"
    elif start_bpm is not None:
        rates = f"{round(start_bpm)}/min at first"
    elif end_bpm is not None:
        rates = f"{round(end_bpm)}/min at the end"
    else:
        rates = ""
    share = "" if in_step_share is None else f"{round(in_step_share * 100)}% in step"
    return ", ".join(text for text in (rates, share) if text)


def _breathing_text(record: SessionRecord) -> str:
    return breathing_text(record.start_bpm, record.end_bpm, record.in_step_share) or "-"


def format_recent(records: list[SessionRecord]) -> str:
    """A plain table for `ebbtide history`, in the local time the session was started in.
    The breathing column is shown only when a session in it was sensed, so a device without
    a breath sensor shows the table it always has."""
    if not records:
        return "No sessions yet."
    sensed = any(r.sensed for r in records)
    rows = [("when", "length", "pattern", "parts finished", "outcome",
             *(("breathing",) if sensed else ()))]
    rows += [(r.started_local.strftime("%Y-%m-%d %H:%M"), _duration_text(r.duration),
              r.pattern, ",".join(r.parts) or "-", _outcome_text(r),
              *((_breathing_text(r),) if sensed else ())) for r in records]
    padded = len(rows[0]) - 1  # every column but the last is padded to its width
    widths = [max(len(row[column]) for row in rows) for column in range(padded)]
    lines = ["  ".join([*(row[i].ljust(widths[i]) for i in range(padded)), row[padded]])
             for row in rows]
    return "\n".join(lines)


def format_weekly(weeks: list[tuple[date, int]], bar_width: int = 10) -> str:
    """One line per week, its bar scaled to the busiest week; a week with any session shows."""
    most = max((count for _, count in weeks), default=0)
    if most == 0:
        span = "these weeks" if len(weeks) != 1 else "this week"
        return f"No sessions in {span}." if weeks else "No sessions yet."
    lines = []
    for monday, count in weeks:
        filled = max(1, round(count / most * bar_width)) if count else 0
        lines.append(f"{monday.isoformat()}  {'█' * filled}{'░' * (bar_width - filled)}  {count}")
    return "\n".join(lines)


# New columns go last, so a reader of an older export finds its columns where they were.
CSV_HEADER = ("id", "started_utc", "started_local", "ended_utc", "seconds", "pattern", "parts",
              "outcome", "demo", "start_breaths_per_min", "end_breaths_per_min",
              "in_step_percent")


def _figure_text(value: float | None, scale: float = 1.0, places: int = 1) -> str:
    """A figure for the CSV: blank without one (no sensor), as an unended session's end."""
    return "" if value is None else f"{value * scale:.{places}f}"


def write_csv(records: list[SessionRecord], stream: TextIO) -> None:
    """Header and one row per session, for the user's own records."""
    writer = csv.writer(stream)
    writer.writerow(CSV_HEADER)
    for r in records:
        seconds = "" if r.duration is None else str(int(r.duration.total_seconds()))
        writer.writerow([r.id, r.started.isoformat(), r.started_local.isoformat(),
                         r.ended.isoformat() if r.ended else "", seconds, r.pattern,
                         ",".join(r.parts), r.outcome, int(r.demo), _figure_text(r.start_bpm),
                         _figure_text(r.end_bpm), _figure_text(r.in_step_share, 100, 0)])
