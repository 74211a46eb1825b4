"""Sessions by local week, Monday first: the one count behind `history --weekly` and the
history picture."""

from __future__ import annotations

from datetime import date

from device.history.weeks import sessions_per_week, week_of


def test_a_week_begins_on_its_monday():
    assert week_of(date(2026, 11, 22)) == date(2026, 11, 16)  # a Sunday
    assert week_of(date(2026, 11, 16)) == date(2026, 11, 16)


def test_weeks_are_counted_oldest_first_with_empty_ones_and_nothing_outside():
    days = [date(2026, 11, 2), date(2026, 11, 16), date(2026, 11, 18), date(2026, 10, 1)]
    assert sessions_per_week(days, date(2026, 11, 18), 3) == [
        (date(2026, 11, 2), 1), (date(2026, 11, 9), 0), (date(2026, 11, 16), 2)]
