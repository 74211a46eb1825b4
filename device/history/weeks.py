"""Sessions counted by local week (Monday first): for `ebbtide history --weekly` and the
history picture alike. Pure: dates in, counts out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta


def week_of(day: date) -> date:
    """The Monday that begins `day`'s week."""
    return day - timedelta(days=day.weekday())


def sessions_per_week(days: Iterable[date], today: date, weeks: int) -> list[tuple[date, int]]:
    """(Monday, sessions begun that week) for the `weeks` weeks up to and including today's,
    oldest first, empty weeks as 0; `days` are the sessions' local start dates (those outside
    the weeks are not counted)."""
    last = week_of(today)
    counts = {last - timedelta(weeks=back): 0 for back in range(weeks - 1, -1, -1)}
    for day in days:
        week = week_of(day)
        if week in counts:
            counts[week] += 1
    return list(counts.items())
