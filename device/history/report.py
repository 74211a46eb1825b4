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


def format_recent(records: list[SessionRecord]) -> str:
    """A plain table for `ebbtide history`, in the local time the session was started in."""
    if not records:
        return "No sessions yet."
    rows = [("when", "length", "pattern", "parts finished", "outcome")]
    rows += [(r.started_local.strftime("%Y-%m-%d %H:%M"), _duration_text(r.duration),
              r.pattern, ",".join(r.parts) or "-", _outcome_text(r)) for r in records]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join([*(row[i].ljust(widths[i]) for i in range(4)), row[4]]) for row in rows]
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
              "outcome", "demo")


def write_csv(records: list[SessionRecord], stream: TextIO) -> None:
    """Header and one row per session, for the user's own records."""
    writer = csv.writer(stream)
    writer.writerow(CSV_HEADER)
    for r in records:
        seconds = "" if r.duration is None else str(int(r.duration.total_seconds()))
        writer.writerow([r.id, r.started.isoformat(), r.started_local.isoformat(),
                         r.ended.isoformat() if r.ended else "", seconds, r.pattern,
                         ",".join(r.parts), r.outcome, int(r.demo)])
