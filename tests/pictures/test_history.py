"""The history picture, read back as pixels: real history files in, PNG and SVG files out.

Sessions are recorded with naive start times, which History takes as local wall time, so
the wall times asserted here hold in any time zone the tests run in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from device.core.config import ALL_PARTS
from device.history.store import History, SessionRecord
from device.pictures.history import (
    CYCLE_COLOR,
    HEIGHT_PX,
    MAX_WEEKS,
    MIN_WEEKS,
    NO_SESSIONS,
    OUTCOME_COLORS,
    START_COLOR,
    WEEK_COLOR,
    WIDTH_PX,
    Cycle,
    clock_label,
    draw_history,
    history_numbers,
    last_part_index,
    night_hours,
    night_of,
    weekly_counts,
    write_history_picture,
)
from device.pictures.picture import PictureError

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 25)  # a Wednesday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def record(directory: Path, *sessions: tuple[str, tuple[str, ...], str, bool]
           ) -> list[SessionRecord]:
    """A real history file with (local start, finished parts, outcome, demo) sessions, read
    back as the command line reads it."""
    with History.open(directory) as history:
        for started, parts, outcome, demo in sessions:
            session = history.begin("paced-exhale", at(started), demo=demo)
            for part in parts:
                history.part_done(session, part)
            if outcome != "running":
                history.end(session, outcome, at(started) + timedelta(minutes=9))
    with History.open(directory) as history:
        return history.recent(limit=10_000)


def finished(started: str, demo: bool = False) -> tuple[str, tuple[str, ...], str, bool]:
    return started, ("arrive", "breathe"), "finished", demo


def png(path: Path) -> np.ndarray:
    """The PNG's RGB pixels as 0-255 integers, row 0 at the top."""
    from matplotlib.image import imread

    return np.rint(imread(path)[:, :, :3] * 255).astype(int)


def rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])


def matches(image: np.ndarray, color: str, tolerance: int = 8) -> np.ndarray:
    return np.abs(image - rgb(color)).max(axis=-1) <= tolerance


def axes(fig, label: str):
    [found] = [ax for ax in fig.axes if ax.get_label() == label]
    return found


def pixel(ax, x: float, y: float) -> tuple[float, float]:
    """(column, row) in the saved PNG of a point in the Axes' data coordinates."""
    column, up = ax.transData.transform((x, y))
    return column, HEIGHT_PX - up


def box(ax) -> tuple[int, int, int, int]:
    """The Axes' plotting area in the PNG: left, top, right, bottom (pixels)."""
    extent = ax.get_window_extent()
    return (int(extent.x0), int(HEIGHT_PX - extent.y1), int(extent.x1),
            int(HEIGHT_PX - extent.y0))


def tick_at(ax, text: str, axis: str = "y") -> float:
    """The data position of the tick labelled `text`: what the reader of the picture sees."""
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    [position] = [t.get_position()[1 if axis == "y" else 0] for t in ticks
                  if t.get_text() == text]
    return position


def draw_png(records, path: Path, cycle: Cycle | None = None):
    """Draw, save as PNG, and return the Figure (its transforms are the saved picture's)
    and the PNG's pixels."""
    fig = draw_history(records, TODAY, cycle)
    from device.pictures.picture import save

    save(fig, path)
    return fig, png(path)


def bar_height(image: np.ndarray, ax, x: float, color: str) -> int:
    """How many pixels of the bar colour the column through data x holds inside the Axes."""
    column = round(pixel(ax, x, 0)[0])
    left, top, right, bottom = box(ax)
    assert left < column < right
    return int(matches(image[top:bottom + 1, column], color).sum())


def blobs(mask: np.ndarray) -> list[tuple[float, float]]:
    """Centres (column, row) of marks in a mask, told apart by gaps between columns."""
    rows, columns = np.nonzero(mask)
    order = np.argsort(columns)
    rows, columns = rows[order], columns[order]
    cuts = np.nonzero(np.diff(columns) > 3)[0] + 1
    return [(float(c.mean()), float(r.mean()))
            for r, c in zip(np.split(rows, cuts), np.split(columns, cuts), strict=True)]


# The numbers, without pixels.

def test_a_cycle_day_counts_from_the_start_and_back_by_whole_cycles_before_it():
    cycle = Cycle(date(2026, 11, 10))
    assert cycle.length == 28
    assert cycle.day_of(date(2026, 11, 10)) == 1
    assert cycle.day_of(date(2026, 11, 11)) == 2
    assert cycle.day_of(date(2026, 12, 7)) == 28
    assert cycle.day_of(date(2026, 12, 8)) == 1
    assert cycle.day_of(date(2026, 11, 9)) == 28  # the day before the start
    assert cycle.day_of(date(2026, 10, 13)) == 1  # one whole cycle before it
    assert cycle.day_of(date(2026, 10, 12)) == 28
    long = Cycle(date(2026, 11, 10), 35)
    assert long.day_of(date(2026, 12, 14)) == 35 and long.day_of(date(2026, 11, 9)) == 35
    for offset in range(-400, 400):
        assert 1 <= cycle.day_of(date(2026, 11, 10) + timedelta(days=offset)) <= 28


def test_a_cycle_length_outside_15_to_60_days_is_refused_in_plain_words():
    for length in (14, 61, 0, -28, 28.5, True):
        with pytest.raises(ValueError, match="from 15 to 60") as raised:
            Cycle(date(2026, 11, 10), length)
        assert "\n" not in str(raised.value)
    assert Cycle(date(2026, 11, 10), 15).length == 15
    assert Cycle(date(2026, 11, 10), 60).length == 60
    with pytest.raises(TypeError):
        Cycle(datetime(2026, 11, 10, 12, 0))


def test_a_cycle_does_not_show_its_start_date_when_printed():
    cycle = Cycle(date(2026, 10, 7), 30)
    assert "2026" not in repr(cycle) and "30" in repr(cycle)


def test_start_times_lie_on_an_axis_from_1800_through_midnight_to_1200():
    hours = {clock: night_hours(at(f"2026-11-17T{clock}")) for clock in (
        "18:00:00", "22:00:00", "23:59:00", "00:00:00", "02:30:00", "11:59:24", "12:00:00",
        "15:00:00", "17:59:59")}
    assert hours["18:00:00"] == 0
    assert hours["22:00:00"] == 4
    assert hours["23:59:00"] == pytest.approx(6 - 1 / 60)
    assert hours["00:00:00"] == 6
    assert hours["02:30:00"] == 8.5
    assert hours["11:59:24"] == pytest.approx(18 - 0.01)
    assert hours["12:00:00"] == -6  # noon begins the afternoon before the next night
    # The afternoon comes before the night it leads into: above 18:00, at its own time.
    assert hours["15:00:00"] == -3
    assert hours["17:59:59"] == pytest.approx(-1 / 3600)
    # The night a start belongs to: the evening it began, also for the afternoon before it.
    assert night_of(at("2026-11-16T23:00:00")) == date(2026, 11, 16)
    assert night_of(at("2026-11-17T02:30:00")) == date(2026, 11, 16)
    assert night_of(at("2026-11-17T11:59:00")) == date(2026, 11, 16)
    assert night_of(at("2026-11-17T15:00:00")) == date(2026, 11, 17)
    assert [clock_label(h) for h in (0, 4, 6, 8, 8.5, 18)] == [
        "18:00", "22:00", "00:00", "02:00", "02:30", "12:00"]


def test_the_last_finished_part_is_placed_in_the_order_of_a_session():
    assert ALL_PARTS == ("arrive", "breathe", "feel", "ground", "body", "aftercare",
                         "partner", "close")
    assert last_part_index(()) == 0
    assert last_part_index(("arrive",)) == 1
    assert last_part_index(("arrive", "breathe", "ground")) == 4  # feel left out: ground
    assert last_part_index(ALL_PARTS) == 8
    assert last_part_index(("arrive", "breathe", "aftercare", "partner")) == 7
    assert last_part_index(("arrive", "stretch")) == 1  # a part from elsewhere: passed over
    assert last_part_index(("stretch",)) == 0


def test_weeks_run_from_the_first_session_to_today_with_empty_weeks_as_zero(tmp_path):
    records = record(tmp_path,
                     finished("2026-08-30T23:00:00"),  # a Sunday: the week of 24 August
                     finished("2026-08-31T01:00:00"),  # Monday after midnight: the next week
                     finished("2026-09-01T22:00:00"),
                     finished("2026-11-23T00:10:00"),  # this week
                     finished("2026-11-25T21:00:00", demo=True))
    weeks = weekly_counts(records, TODAY)
    mondays = [monday for monday, _ in weeks]
    assert mondays[0] == date(2026, 8, 24) and mondays[-1] == date(2026, 11, 23)
    assert all(b - a == timedelta(weeks=1) for a, b in pairwise(mondays))
    counts = dict(weeks)
    assert counts[date(2026, 8, 24)] == 1 and counts[date(2026, 8, 31)] == 2
    assert counts[date(2026, 11, 23)] == 2
    assert sum(counts.values()) == 5 and len(weeks) == 14
    assert history_numbers(records, TODAY).weeks == tuple(weeks)


def test_there_are_at_least_8_and_at_most_52_weeks(tmp_path):
    recent = record(tmp_path / "new", finished("2026-11-24T22:00:00"))
    weeks = weekly_counts(recent, TODAY)
    assert len(weeks) == MIN_WEEKS == 8
    assert [n for _, n in weeks] == [0] * 7 + [1]
    old = record(tmp_path / "old", finished("2024-11-20T22:00:00"),
                 finished("2025-11-25T22:00:00"), finished("2025-11-26T22:00:00"))
    weeks = weekly_counts(old, TODAY)
    assert len(weeks) == MAX_WEEKS == 52
    assert weeks[0] == (date(2025, 12, 1), 0)  # the week of 24 November 2025 is left out
    assert sum(n for _, n in weeks) == 0


def test_the_numbers_are_oldest_first_with_how_far_and_how_each_ended(tmp_path):
    records = record(tmp_path,
                     ("2026-11-20T23:10:00", ALL_PARTS, "finished", False),
                     ("2026-11-21T02:30:00", ("arrive",), "stopped", False),
                     ("2026-11-22T01:00:00", (), "error", True),
                     ("2026-11-23T22:00:00", ("arrive", "breathe"), "running", False))
    assert [r.id for r in records] == [4, 3, 2, 1]  # the history gives the newest first
    cycle = Cycle(date(2026, 11, 19), 20)
    numbers = history_numbers(records, TODAY, cycle)
    assert [(s.reached, s.outcome, s.demo) for s in numbers.sessions] == [
        (8, "finished", False), (1, "stopped", False), (0, "error", True),
        (2, "running", False)]
    assert [s.hours for s in numbers.sessions] == pytest.approx([5 + 1 / 6, 8.5, 7, 4])
    assert [s.night for s in numbers.sessions] == [
        date(2026, 11, 20), date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 23)]
    assert numbers.cycle_days == (0, 1, 1, 1, 1) + (0,) * 15
    assert history_numbers(records, TODAY).cycle_days is None


# The pictures, read back as pixels.

def test_the_picture_is_1400_by_1000_and_full_of_colour(tmp_path):
    records = record(tmp_path / "state",
                     *(finished(f"2026-11-{day:02d}T22:{day:02d}:00") for day in range(2, 25)))
    fig, image = draw_png(records, tmp_path / "history.png")
    assert image.shape == (HEIGHT_PX, WIDTH_PX, 3) == (1000, 1400, 3)
    assert [ax.get_label() for ax in fig.axes] == ["weeks", "starts", "reached"]
    colours = {tuple(p) for p in image.reshape(-1, 3)}
    assert len(colours) > 200
    background = (image == 255).all(axis=2)
    assert 0.02 < 1 - background.mean() < 0.6  # drawn, yet calm: mostly plain page
    for color in (WEEK_COLOR, START_COLOR, OUTCOME_COLORS["finished"]):
        assert matches(image, color, tolerance=2).sum() > 50


def test_each_weekly_bar_is_as_tall_as_its_count(tmp_path):
    records = record(tmp_path / "state",
                     finished("2026-10-12T22:00:00"),  # the week of 12 October: 3
                     finished("2026-10-14T23:30:00"),
                     finished("2026-10-18T21:00:00", demo=True),
                     finished("2026-10-28T01:00:00"))  # the week of 26 October: 1
    fig, image = draw_png(records, tmp_path / "history.png")
    ax = axes(fig, "weeks")
    # 12 October to today's week (23 November) is 7 weeks; at least 8 are drawn, so the
    # bars are the weeks of 5, 12, 19 and 26 October, then 2, 9, 16 and 23 November.
    assert len(ax.patches) == 8
    unit = pixel(ax, 0, 0)[1] - pixel(ax, 0, 1)[1]  # the height of one session, in pixels
    assert unit > 40
    three = bar_height(image, ax, 1, WEEK_COLOR)
    one = bar_height(image, ax, 3, WEEK_COLOR)
    assert three == pytest.approx(3 * unit, abs=2)
    assert one == pytest.approx(unit, abs=2)
    assert three / one == pytest.approx(3, abs=0.1)
    for empty in (0, 2, 4, 5, 6, 7):
        assert bar_height(image, ax, empty, WEEK_COLOR) == 0
    # The bar stands on the zero line (the axis line covers its lowest pixel or two).
    column = round(pixel(ax, 1, 0)[0])
    rows = np.nonzero(matches(image[:, column], WEEK_COLOR))[0]
    assert 0 <= pixel(ax, 1, 0)[1] - rows.max() <= 2.5


def test_a_session_started_at_0230_is_drawn_at_0230(tmp_path):
    records = record(tmp_path / "state",
                     finished("2026-11-10T02:30:00"),  # the night of 9 November
                     finished("2026-11-20T22:00:00"))
    fig, image = draw_png(records, tmp_path / "history.png")
    ax = axes(fig, "starts")
    left, top, right, bottom = box(ax)
    marks = blobs(matches(image[top:bottom, left:right], START_COLOR, tolerance=12))
    assert len(marks) == 2
    (_, early_row), (_, late_row) = marks  # left to right: 9 November, then 20 November
    two, four = tick_at(ax, "02:00"), tick_at(ax, "04:00")
    half_past_two = pixel(ax, 0, two + (four - two) / 4)[1]
    assert top + early_row == pytest.approx(half_past_two, abs=1.5)
    assert top + late_row == pytest.approx(pixel(ax, 0, tick_at(ax, "22:00"))[1], abs=1.5)
    # Evening above midnight above morning.
    assert pixel(ax, 0, tick_at(ax, "18:00"))[1] < pixel(ax, 0, tick_at(ax, "00:00"))[1]
    assert pixel(ax, 0, tick_at(ax, "00:00"))[1] < pixel(ax, 0, tick_at(ax, "12:00"))[1]


def test_an_afternoon_session_is_drawn_at_its_time_not_at_the_evening_edge(tmp_path):
    records = record(tmp_path / "state",
                     finished("2026-11-18T13:25:00"),
                     finished("2026-11-20T22:00:00"))
    fig, image = draw_png(records, tmp_path / "history.png")
    ax = axes(fig, "starts")
    left, top, right, bottom = box(ax)
    marks = blobs(matches(image[top:bottom, left:right], START_COLOR, tolerance=12))
    assert len(marks) == 2
    (_, afternoon_row), (_, late_row) = marks  # left to right: 18 November, then 20
    two, four = tick_at(ax, "14:00"), tick_at(ax, "16:00")
    twenty_five_past_one = pixel(ax, 0, two - (four - two) * (35 / 120))[1]
    assert top + afternoon_row == pytest.approx(twenty_five_past_one, abs=1.5)
    assert top + afternoon_row < pixel(ax, 0, tick_at(ax, "18:00"))[1] - 20, \
        "above the evening, not clipped to it"
    assert top + late_row == pytest.approx(pixel(ax, 0, tick_at(ax, "22:00"))[1], abs=1.5)
    assert ax.get_ylabel() == "started at (afternoon at the top)"


def test_how_far_sessions_got_is_drawn_in_the_colour_of_how_they_ended(tmp_path):
    records = record(tmp_path / "state",
                     ("2026-11-20T23:00:00", ("arrive", "breathe", "ground"), "finished", False),
                     ("2026-11-21T23:00:00", (), "stopped", False),
                     ("2026-11-22T23:00:00", ALL_PARTS, "finished", True))
    fig, image = draw_png(records, tmp_path / "history.png")
    ax = axes(fig, "reached")

    def around(order: int, part: str) -> np.ndarray:
        column, row = pixel(ax, order, tick_at(ax, part))
        return image[round(row) - 7:round(row) + 8, round(column) - 7:round(column) + 8]

    ground = around(1, "ground")
    assert matches(ground, OUTCOME_COLORS["finished"], 4)[7, 7]  # filled in its middle
    assert matches(around(1, "breathe"), OUTCOME_COLORS["finished"], 40).sum() == 0
    assert matches(around(2, "none"), OUTCOME_COLORS["stopped"], 4)[7, 7]
    demo = around(3, "close")
    assert (demo[7, 7] >= 220).all()  # hollow: the page (and its grid line) shows through
    assert matches(demo, OUTCOME_COLORS["finished"], 12).sum() > 15  # its ring
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["finished", "stopped", "interrupted", "error", "demo"]
    # Each mark has its legend entry's colour, and the endings' colours differ.
    key = {text: handle.get_markerfacecolor() for text, handle
           in zip(legend, ax.get_legend().legend_handles, strict=True)}
    assert np.abs(ground[7, 7] - rgb(key["finished"])).max() <= 4
    assert np.abs(around(2, "none")[7, 7] - rgb(key["stopped"])).max() <= 4
    assert len({key[ending] for ending in legend[:4]}) == 4


def test_running_appears_in_the_legend_only_when_a_session_is_running(tmp_path):
    records = record(tmp_path / "state", finished("2026-11-20T23:00:00"),
                     ("2026-11-21T23:00:00", ("arrive",), "running", False))
    fig = draw_history(records, TODAY)
    legend = [text.get_text() for text in axes(fig, "reached").get_legend().get_texts()]
    assert legend == ["finished", "stopped", "interrupted", "error", "running"]


def test_cycle_bars_count_sessions_by_the_day_of_the_cycle(tmp_path):
    cycle = Cycle(date(2026, 10, 7), 28)  # a Wednesday, on which no session started
    records = record(tmp_path / "state",
                     finished("2026-10-11T22:00:00"),  # day 5
                     finished("2026-11-08T23:00:00"),  # 32 days later: day 5 again
                     finished("2026-09-10T22:00:00"),  # before the start: day 2
                     finished("2026-11-03T23:59:00"),  # day 28
                     finished("2026-11-04T00:30:00"))  # day 1 of the next cycle
    fig, image = draw_png(records, tmp_path / "history.png", cycle)
    assert [ax.get_label() for ax in fig.axes] == ["weeks", "starts", "reached", "cycle"]
    ax = axes(fig, "cycle")
    centres = sorted(bar.get_x() + bar.get_width() / 2 for bar in ax.patches)
    assert centres == pytest.approx(list(range(1, 29)))
    unit = pixel(ax, 1, 0)[1] - pixel(ax, 1, 1)[1]
    heights = {day: bar_height(image, ax, day, CYCLE_COLOR) for day in range(1, 29)}
    assert heights[5] == pytest.approx(2 * unit, abs=2)
    for day in (1, 2, 28):
        assert heights[day] == pytest.approx(unit, abs=2)
    assert all(heights[day] == 0 for day in heights if day not in (1, 2, 5, 28))
    # Nothing left of day 1 or right of the last day: no day 0, no day 29.
    left, top, right, bottom = box(ax)
    first_edge = round(pixel(ax, 0.6, 0)[0])
    last_edge = round(pixel(ax, 28.4, 0)[0])
    assert not matches(image[top:bottom, left:first_edge], CYCLE_COLOR, 12).any()
    assert not matches(image[top:bottom, last_edge:right], CYCLE_COLOR, 12).any()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "1" and all(1 <= int(label) <= 28 for label in labels)
    assert "day 1 = the start date you gave" in ax.get_xlabel()


def test_the_svg_is_xml_and_never_shows_the_cycle_start(tmp_path):
    cycle = Cycle(date(2026, 10, 7), 30)
    records = record(tmp_path / "state", finished("2026-10-11T22:00:00"),
                     finished("2026-11-19T01:00:00", demo=True))
    path = tmp_path / "out" / "history.svg"
    write_history_picture(records, path, TODAY, cycle)
    text = path.read_text(encoding="utf-8")
    root = ElementTree.fromstring(text)
    assert root.tag.endswith("svg")
    assert root.get("width") == "1400pt" or root.get("viewBox") == "0 0 1008 720"
    words = " ".join(" ".join(element.itertext()) for element in root.iter())
    assert "day of cycle" in words and "Sessions by day of the cycle (30 days)" in words
    for shown in ("2026-10-07", "7 Oct", "Oct 7", "07 Oct", "07.10", "10/07", "7/10",
                  "20261007"):
        assert shown not in text


def test_drawing_with_a_cycle_writes_nothing_but_the_picture(tmp_path):
    state = tmp_path / "state"
    record(state, finished("2026-10-11T22:00:00"), finished("2026-11-19T01:00:00"))

    def snapshot() -> dict[str, bytes]:
        return {str(path.relative_to(tmp_path)): path.read_bytes()
                for path in sorted(tmp_path.rglob("*")) if path.is_file()}

    before = snapshot()
    with History.open(state) as history:  # as the command line does: read, then draw
        records = history.recent(limit=10_000)
    picture = tmp_path / "pictures" / "history.png"
    write_history_picture(records, picture, TODAY, Cycle(date(2026, 10, 7)))
    after = snapshot()
    assert after.pop(str(picture.relative_to(tmp_path)))[:8] == b"\x89PNG\r\n\x1a\n"
    assert after == before
    assert sorted(path.name for path in state.iterdir()) == ["history.sqlite3"]
    assert (state / "history.sqlite3").stat().st_mode & 0o777 == 0o600


def test_no_sessions_draw_nothing_and_say_so_in_one_line(tmp_path):
    with pytest.raises(PictureError) as raised:
        draw_history([], TODAY)
    assert str(raised.value) == NO_SESSIONS == "no sessions yet: nothing to draw"
    with pytest.raises(PictureError, match="nothing to draw"):
        write_history_picture([], tmp_path / "history.png", TODAY)
    with pytest.raises(PictureError, match=r"must end in \.png or \.svg"):
        write_history_picture([], tmp_path / "history.jpg", TODAY)
    assert list(tmp_path.iterdir()) == []


def test_importing_the_history_picture_does_not_load_matplotlib():
    code = ("import sys, device.pictures.history, device.history.store; "
            "sys.exit('matplotlib' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
