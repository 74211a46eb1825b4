"""The history as one picture, as `ebbtide history --plot FILE.png` writes it.

Four panels on one page: sessions per week; the time of night each session started; how
far each session got and how it ended; and, only when the user gives a cycle, sessions by
day of the cycle. Only when a breath sensor measured any session, a fifth below them (the
page taller by it): the person's breathing rate at the start and at the end of the
breathing part, session by session over the weeks. The numbers come from a pure function
(`history_numbers`), tested without pixels; drawing only places them. matplotlib is
imported inside the drawing functions (through device.pictures.picture), so the appliance
never loads it.

The cycle's start date is used for this one picture and never stored or drawn: the cycle
panel counts days from it, and nothing but the picture file is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from device.core import parts as registry
from device.history.store import ENDINGS, RUNNING, SessionRecord
from device.history.weeks import sessions_per_week, week_of
from device.pictures import picture

WIDTH_PX, HEIGHT_PX = 1400, 1000
RATES_HEIGHT_PX = 420  # the rates panel's strip, added below when a session has rates
MIN_WEEKS, MAX_WEEKS = 8, 52
CYCLE_DAYS_DEFAULT, CYCLE_DAYS_MIN, CYCLE_DAYS_MAX = 28, 15, 60
# The time-of-night axis: 0 is 18:00, its top unless an afternoon start is drawn above it.
NIGHT_STARTS_AT = 18
NIGHT_HOURS = 18  # 18:00 through midnight to 12:00
NO_SESSIONS = "no sessions yet: nothing to draw"

WEEK_COLOR = "#7fa7c9"
START_COLOR = "#4f6d8f"
CYCLE_COLOR = "#a993c4"
OUTCOME_COLORS = {
    "finished": "#4a9c8c", "stopped": "#7b8fc4", "interrupted": "#d39a4f",
    "error": "#c06a6a", RUNNING: "#9a9a9a",
}
OTHER_OUTCOME_COLOR = "#9a9a9a"
START_RATE_COLOR = "#d39a4f"  # the person's own rate, before the breathing part
END_RATE_COLOR = "#4a9c8c"  # their rate at its end
RATE_SPAN_COLOR = "#c9c9c9"  # from one to the other, within a session
GRID_COLOR = "#e4e4e4"
TEXT_COLOR = "#333333"


@dataclass(frozen=True)
class Cycle:
    """A cycle for the cycle panel: day 1 is `start`, `length` days long.

    The start date is not shown in repr(), so it does not turn up in a log or a traceback.
    """

    start: date = field(repr=False)
    length: int = CYCLE_DAYS_DEFAULT

    def __post_init__(self) -> None:
        if not isinstance(self.start, date) or isinstance(self.start, datetime):
            raise TypeError("the cycle's start must be a date")
        if (isinstance(self.length, bool) or not isinstance(self.length, int)
                or not CYCLE_DAYS_MIN <= self.length <= CYCLE_DAYS_MAX):
            raise ValueError(f"the cycle length must be a whole number of days from "
                             f"{CYCLE_DAYS_MIN} to {CYCLE_DAYS_MAX}, not {self.length!r}")

    def day_of(self, day: date) -> int:
        """The day of the cycle, 1..length; days before the start count back whole cycles."""
        return (day - self.start).days % self.length + 1


def night_hours(moment: datetime) -> float:
    """Hours after 18:00 on the time-of-night axis: 0 is 18:00, 6 midnight, 18 noon.

    The local wall time of `moment` is used as it was recorded. A start between 12:00 and
    18:00 comes before the night it leads into (the same night `night_of` gives it): it is
    negative, -4.5 for 13:30, and the axis grows upwards to show it at its time.
    """
    hour = moment.hour + moment.minute / 60 + moment.second / 3600
    return hour - NIGHT_STARTS_AT if hour >= 12 else hour + 24 - NIGHT_STARTS_AT


def night_of(moment: datetime) -> date:
    """The date of the evening a night began: a start before 12:00 belongs to the night
    before, so 23:30 and 01:30 after it are drawn as the same night."""
    day = moment.date()
    return day - timedelta(days=1) if moment.hour < 12 else day


def last_part_index(parts: Sequence[str]) -> int:
    """0 when no part was finished, else 1 + the place in the registry of the last finished
    part the device knows (a part name from elsewhere is passed over)."""
    known = registry.names()
    for name in reversed(parts):
        if name in known:
            return known.index(name) + 1
    return 0


def weekly_counts(records: Sequence[SessionRecord], today: date) -> list[tuple[date, int]]:
    """Sessions per local week (Monday first), oldest first, from the first session's week
    to today's: at least MIN_WEEKS, at most the last MAX_WEEKS, empty weeks as 0."""
    days = [r.started_local.date() for r in records]
    last = week_of(today)
    first = min((week_of(day) for day in days), default=last)
    weeks = min(MAX_WEEKS, max(MIN_WEEKS, (last - first).days // 7 + 1))
    return sessions_per_week(days, today, weeks)


def cycle_day_counts(records: Sequence[SessionRecord], cycle: Cycle) -> list[int]:
    """Sessions on each day of the cycle, by local start date; index 0 is day 1."""
    counts = [0] * cycle.length
    for record in records:
        counts[cycle.day_of(record.started_local.date()) - 1] += 1
    return counts


@dataclass(frozen=True)
class SessionPoint:
    """One session as panels 2 and 3 place it."""

    started_local: datetime
    night: date  # night_of(started_local)
    hours: float  # night_hours(started_local)
    reached: int  # last_part_index(parts)
    outcome: str
    demo: bool


@dataclass(frozen=True)
class RatePoint:
    """One session the breath sensor measured, as the rates panel places it."""

    night: date  # night_of(started_local)
    start_bpm: float | None  # the person's own rate before the breathing part
    end_bpm: float | None  # their rate at its end
    demo: bool


@dataclass(frozen=True)
class HistoryNumbers:
    """Everything the picture shows, as numbers; sessions are oldest first (by id, as
    recorded, not by the clock, which can jump on a Pi without a clock battery)."""

    weeks: tuple[tuple[date, int], ...]
    sessions: tuple[SessionPoint, ...]
    cycle_days: tuple[int, ...] | None  # None without a cycle
    rates: tuple[RatePoint, ...] = ()  # the sessions with a start or end rate, oldest first


def history_numbers(records: Sequence[SessionRecord], today: date,
                    cycle: Cycle | None = None) -> HistoryNumbers:
    """The numbers of every panel, from the records (any order) and today's local date."""
    ordered = sorted(records, key=lambda r: r.id)
    sessions = tuple(SessionPoint(
        started_local=r.started_local, night=night_of(r.started_local),
        hours=night_hours(r.started_local), reached=last_part_index(r.parts),
        outcome=r.outcome, demo=r.demo) for r in ordered)
    rates = tuple(RatePoint(night=night_of(r.started_local), start_bpm=r.start_bpm,
                            end_bpm=r.end_bpm, demo=r.demo)
                  for r in ordered if r.start_bpm is not None or r.end_bpm is not None)
    return HistoryNumbers(
        weeks=tuple(weekly_counts(ordered, today)), sessions=sessions,
        cycle_days=None if cycle is None else tuple(cycle_day_counts(ordered, cycle)),
        rates=rates)


def clock_label(hours: float) -> str:
    """The clock time of a place on the time-of-night axis: 6 is "00:00"."""
    minutes = round((NIGHT_STARTS_AT + hours) * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def date_labels(days: Sequence[date]) -> list[str]:
    """Short dates under an axis ("3 Nov"); the first, and the first of each new year,
    also say the year, so a history that spans a new year reads plainly."""
    labels = []
    for i, day in enumerate(days):
        new_year = i == 0 or day.year != days[i - 1].year
        labels.append(f"{day.day} {day:%b}" + (f" {day.year}" if new_year else ""))
    return labels


def draw_history(records: Sequence[SessionRecord], today: date,
                 cycle: Cycle | None = None) -> Any:
    """The history on one page (a matplotlib Figure). Each Axes is labelled by what it
    shows ("weeks", "starts", "reached", "cycle" with a cycle, and "rates" when a session
    has a breathing rate) so tests can find it."""
    if not records:
        raise picture.PictureError(NO_SESSIONS)
    numbers = history_numbers(records, today, cycle)
    height = picture_height(numbers)
    fig = picture.figure(WIDTH_PX, height)
    # The margins and the first panels keep their size in pixels when the rates are added.
    rows, ratios = (3, [1, 1.1, 0.9]) if numbers.rates else (2, [1, 1.1])
    grid = fig.add_gridspec(rows, 2, height_ratios=ratios, width_ratios=[1, 1], hspace=0.42,
                            wspace=0.16, left=0.07, right=0.98, top=1 - 100 / height,
                            bottom=80 / height)
    reached = grid[1, :] if cycle is None else grid[1, 0]  # the whole width without a cycle
    axes = {
        "weeks": fig.add_subplot(grid[0, 0], label="weeks"),
        "starts": fig.add_subplot(grid[0, 1], label="starts"),
        "reached": fig.add_subplot(reached, label="reached"),
    }
    if cycle is not None:
        axes["cycle"] = fig.add_subplot(grid[1, 1], label="cycle")
    if numbers.rates:
        axes["rates"] = fig.add_subplot(grid[2, :], label="rates")
    for ax in axes.values():
        ax.set_axisbelow(True)  # the grid behind the bars and marks, not across them
        ax.tick_params(labelsize=9, colors=TEXT_COLOR)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    count = len(numbers.sessions)
    fig.suptitle(f"Your sessions: {count} in all" if count != 1 else "Your session",
                 fontsize=15, x=0.07, ha="left", color=TEXT_COLOR)

    _draw_weeks(axes["weeks"], numbers.weeks)
    _draw_starts(axes["starts"], numbers.sessions)
    _draw_reached(axes["reached"], numbers.sessions)
    if cycle is not None and numbers.cycle_days is not None:
        _draw_cycle(axes["cycle"], numbers.cycle_days)
    if numbers.rates:
        _draw_rates(axes["rates"], numbers.rates)
    return fig


def picture_height(numbers: HistoryNumbers) -> int:
    """The page's height in pixels: taller by the rates panel when there is one."""
    return HEIGHT_PX + (RATES_HEIGHT_PX if numbers.rates else 0)


def write_history_picture(records: Sequence[SessionRecord], path: Path, today: date,
                          cycle: Cycle | None = None) -> None:
    """Draw the history and write it to `path` (.png or .svg, 0600: it shows the user's
    nights); nothing else is written."""
    picture.check_path(path)
    picture.save(draw_history(records, today, cycle), path, private=True)


def _title(ax: Any, text: str, pad: float = 10) -> None:
    ax.set_title(text, loc="left", fontsize=12, color=TEXT_COLOR, pad=pad)


def _whole_numbers(ax: Any, most: int) -> None:
    """A count axis from 0 with whole-number ticks and room above the tallest bar."""
    from matplotlib.ticker import MaxNLocator

    ax.set_ylim(0, max(1, most) * 1.12)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.grid(axis="y", color=GRID_COLOR, linewidth=0.8)


def _draw_weeks(ax: Any, weeks: Sequence[tuple[date, int]]) -> None:
    positions = range(len(weeks))
    ax.bar(positions, [n for _, n in weeks], width=0.75, color=WEEK_COLOR, linewidth=0)
    step = max(1, -(-len(weeks) // 9))  # at most about nine dates under the bars
    shown = list(positions)[::-1][::step][::-1]  # always the current week
    ax.set_xticks(shown, date_labels([weeks[i][0] for i in shown]))
    ax.set_xlim(-0.6, len(weeks) - 0.4)
    _whole_numbers(ax, max(n for _, n in weeks))
    _title(ax, "Sessions each week")
    ax.set_xlabel("week starting Monday", fontsize=10, color=TEXT_COLOR)
    ax.set_ylabel("sessions", fontsize=10, color=TEXT_COLOR)


def _scatter(ax: Any, xs: list[float], ys: list[float], color: str, hollow: bool,
             size: float = 42) -> None:
    if not xs:
        return
    if hollow:
        ax.scatter(xs, ys, s=size, facecolors="none", edgecolors=color, linewidths=1.6,
                   zorder=3)
    else:
        ax.scatter(xs, ys, s=size, color=color, linewidths=0, zorder=3)


def _night_axis(ax: Any, nights: Sequence[date], most_ticks: int = 7) -> None:
    """A date axis over these nights, a day and a half of room either side."""
    from matplotlib.dates import AutoDateLocator, date2num, num2date

    places = [date2num(night) for night in nights]
    low, high = min(places) - 1.5, max(places) + 1.5
    locator = AutoDateLocator(minticks=3, maxticks=most_ticks)
    days = [x for x in locator.tick_values(num2date(low), num2date(high)) if low <= x <= high]
    ax.set_xticks(days, date_labels([num2date(x).date() for x in days]))
    ax.set_xlim(low, high)


def _draw_starts(ax: Any, sessions: Sequence[SessionPoint]) -> None:
    from matplotlib.dates import date2num

    for hollow in (False, True):
        chosen = [s for s in sessions if s.demo == hollow]
        _scatter(ax, [date2num(s.night) for s in chosen], [s.hours for s in chosen],
                 START_COLOR, hollow)
    _night_axis(ax, [s.night for s in sessions])
    # From 18:00, or from the even hour before the earliest afternoon start, so every
    # session is drawn at the time it started.
    top = min(0, 2 * math.floor(min(s.hours for s in sessions) / 2))
    hours = list(range(top, NIGHT_HOURS + 1, 2))
    ax.set_yticks(hours, [clock_label(h) for h in hours])
    ax.set_ylim(NIGHT_HOURS + 0.4, top - 0.4)
    ax.grid(axis="y", color=GRID_COLOR, linewidth=0.8)
    ax.axhline(NIGHT_HOURS / 3, color="#c9c9c9", linewidth=1.0, zorder=1)  # midnight
    _title(ax, "What time each session started")
    ax.set_xlabel("night of", fontsize=10, color=TEXT_COLOR)
    ax.set_ylabel("started at (afternoon at the top)" if top < 0
                  else "started at (evening at the top)", fontsize=10, color=TEXT_COLOR)


def _draw_reached(ax: Any, sessions: Sequence[SessionPoint]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    order = range(1, len(sessions) + 1)
    outcomes = [*ENDINGS, RUNNING]
    outcomes += sorted({s.outcome for s in sessions} - set(outcomes))
    for outcome in outcomes:
        color = OUTCOME_COLORS.get(outcome, OTHER_OUTCOME_COLOR)
        for hollow in (False, True):
            chosen = [(i, s) for i, s in zip(order, sessions, strict=True)
                      if s.outcome == outcome and s.demo == hollow]
            _scatter(ax, [i for i, _ in chosen], [s.reached for _, s in chosen], color,
                     hollow, size=50)
    known = registry.names()
    ax.set_yticks(range(len(known) + 1), ["none", *known])
    ax.set_ylim(-0.6, len(known) + 0.6)
    ticks = [round(x) for x in MaxNLocator(integer=True, nbins=8, min_n_ticks=1)
             .tick_values(1, len(sessions)) if 1 <= x <= len(sessions)]
    ax.set_xticks(ticks, date_labels([sessions[i - 1].started_local.date() for i in ticks]))
    ax.set_xlim(0.3, len(sessions) + 0.7)
    ax.grid(axis="y", color=GRID_COLOR, linewidth=0.8)
    _title(ax, "How far each session got, and how it ended", pad=28)  # the legend below it
    ax.set_xlabel("each session, oldest on the left (the day it started)", fontsize=10,
                  color=TEXT_COLOR)
    ax.set_ylabel("last part finished", fontsize=10, color=TEXT_COLOR)

    present = {s.outcome for s in sessions}
    shown = [o for o in outcomes if o in ENDINGS or o in present]
    handles = [Line2D([], [], linestyle="", marker="o", markersize=7, markeredgewidth=0,
                      color=OUTCOME_COLORS.get(o, OTHER_OUTCOME_COLOR), label=o)
               for o in shown]
    if any(s.demo for s in sessions):
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=7,
                              markerfacecolor="none", markeredgewidth=1.6,
                              markeredgecolor=OTHER_OUTCOME_COLOR, label="demo"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0),
              ncols=len(handles), fontsize=9, frameon=False, handletextpad=0.3,
              columnspacing=1.0, borderaxespad=0.2)


def _draw_cycle(ax: Any, days: Sequence[int]) -> None:
    length = len(days)
    ax.bar(range(1, length + 1), days, width=0.75, color=CYCLE_COLOR, linewidth=0)
    ticks = [1, *range(7, length + 1, 7)]
    if length - ticks[-1] >= 3:
        ticks.append(length)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlim(0.4, length + 0.6)
    _whole_numbers(ax, max(days))
    # As high as its neighbour's title, which has the legend under it.
    _title(ax, f"Sessions by day of the cycle ({length} days)", pad=28)
    ax.set_xlabel("day of cycle (day 1 = the start date you gave)", fontsize=10,
                  color=TEXT_COLOR)
    ax.set_ylabel("sessions", fontsize=10, color=TEXT_COLOR)


def _draw_rates(ax: Any, rates: Sequence[RatePoint]) -> None:
    """Each measured session at its night: its start rate and its end rate, joined."""
    from matplotlib.dates import date2num
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    for point in rates:
        if point.start_bpm is not None and point.end_bpm is not None:
            x = date2num(point.night)
            ax.plot([x, x], [point.start_bpm, point.end_bpm], color=RATE_SPAN_COLOR,
                    linewidth=1.2, zorder=2)
    for hollow in (False, True):
        chosen = [p for p in rates if p.demo == hollow]
        for color, which in ((START_RATE_COLOR, "start_bpm"), (END_RATE_COLOR, "end_bpm")):
            placed = [(date2num(p.night), getattr(p, which)) for p in chosen
                      if getattr(p, which) is not None]
            _scatter(ax, [x for x, _ in placed], [y for _, y in placed], color, hollow,
                     size=36)
    _night_axis(ax, [p.night for p in rates], most_ticks=12)
    values = [v for p in rates for v in (p.start_bpm, p.end_bpm) if v is not None]
    ax.set_ylim(min(4.0, min(values) - 1), max(12.0, max(values) + 1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.grid(axis="y", color=GRID_COLOR, linewidth=0.8)
    _title(ax, "Your breathing rate, at the start and at the end of the breathing part",
           pad=28)  # the legend below it
    ax.set_xlabel("night of", fontsize=10, color=TEXT_COLOR)
    ax.set_ylabel("breaths a minute", fontsize=10, color=TEXT_COLOR)
    handles = [Line2D([], [], linestyle="", marker="o", markersize=7, markeredgewidth=0,
                      color=color, label=label)
               for color, label in ((START_RATE_COLOR, "at the start"),
                                    (END_RATE_COLOR, "at the end of the breathing part"))]
    if any(p.demo for p in rates):
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=7,
                              markerfacecolor="none", markeredgewidth=1.6,
                              markeredgecolor=OTHER_OUTCOME_COLOR, label="demo"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0),
              ncols=len(handles), fontsize=9, frameon=False, handletextpad=0.3,
              columnspacing=1.0, borderaxespad=0.2)
