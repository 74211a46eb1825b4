"""The history picture's breathing rates: with a breath sensor, each session's rate at the
start and at the end of the breathing part over the weeks, in a panel of its own below the
others; without one, the picture it always was. Real history files in, PNG and SVG out."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from device.core.sensed_session import SessionSensing
from device.history.store import History, SessionRecord
from device.pictures.history import (
    END_RATE_COLOR,
    HEIGHT_PX,
    RATES_HEIGHT_PX,
    START_RATE_COLOR,
    WIDTH_PX,
    RatePoint,
    draw_history,
    history_numbers,
    write_history_picture,
)
from device.pictures.picture import save

pytest.importorskip("matplotlib")

TODAY = date(2026, 11, 25)


def recorded(directory: Path, *sessions: tuple[str, SessionSensing | None, bool]
             ) -> list[SessionRecord]:
    """A real history file with (local start, sensing, demo) finished sessions, read back
    as the command line reads it."""
    with History.open(directory) as history:
        for started, sensing, demo in sessions:
            moment = datetime.fromisoformat(started)
            session = history.begin("paced-exhale", moment, demo=demo)
            history.part_done(session, "arrive")
            history.part_done(session, "breathe")
            history.end(session, "finished", moment + timedelta(minutes=9), sensing=sensing)
    with History.reading(directory) as history:
        return history.all_sessions()


def drawn(records: list[SessionRecord], path: Path):
    """The Figure, and its PNG's RGB pixels as 0-255 integers, row 0 at the top."""
    from matplotlib.image import imread

    fig = draw_history(records, TODAY)
    save(fig, path)
    return fig, np.rint(imread(path)[:, :, :3] * 255).astype(int)


def axes(fig, label: str):
    [found] = [ax for ax in fig.axes if ax.get_label() == label]
    return found


def colour_at(image: np.ndarray, ax, x: float, y: float) -> np.ndarray:
    column, up = ax.transData.transform((x, y))
    return image[round(image.shape[0] - up), round(column)]


def near(colour: np.ndarray, hex_color: str, tolerance: int = 10) -> bool:
    wanted = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return bool(np.abs(colour - wanted).max() <= tolerance)


SESSIONS = (
    ("2026-10-20T22:30:00", None, False),  # before the sensor
    ("2026-11-02T23:00:00", SessionSensing(16.0, 7.0, 0.8), False),
    ("2026-11-10T01:30:00", SessionSensing(14.0, None, None), False),  # stopped early
    ("2026-11-16T22:00:00", SessionSensing(None, None, 0.5), False),  # no rates: not drawn
    ("2026-11-20T22:00:00", SessionSensing(12.0, 6.0, 0.9), True),
)


def test_the_rates_are_each_measured_session_s_oldest_first_by_its_night(tmp_path):
    numbers = history_numbers(recorded(tmp_path, *SESSIONS), TODAY)
    assert numbers.rates == (
        RatePoint(date(2026, 11, 2), 16.0, 7.0, False),
        RatePoint(date(2026, 11, 9), 14.0, None, False),  # 01:30 belongs to the night before
        RatePoint(date(2026, 11, 20), 12.0, 6.0, True),
    )
    assert history_numbers(recorded(tmp_path / "none", SESSIONS[0]), TODAY).rates == ()


def test_each_start_and_end_rate_is_drawn_at_its_night_and_height(tmp_path):
    from matplotlib.dates import date2num

    fig, image = drawn(recorded(tmp_path / "state", *SESSIONS), tmp_path / "history.png")
    assert image.shape == (HEIGHT_PX + RATES_HEIGHT_PX, WIDTH_PX, 3)
    ax = axes(fig, "rates")
    lowest = max(ax.get_window_extent().y1 for ax in fig.axes if ax.get_label() != "rates")
    assert ax.get_window_extent().y1 < lowest  # below every other panel
    for night, start, end, demo in ((date(2026, 11, 2), 16.0, 7.0, False),
                                    (date(2026, 11, 9), 14.0, None, False),
                                    (date(2026, 11, 20), 12.0, 6.0, True)):
        x = date2num(night)
        if demo:  # hollow, as the demo's sessions are in every panel: its ring is coloured
            column, up = ax.transData.transform((x, start))
            ring = image[round(image.shape[0] - up) - 8:round(image.shape[0] - up) + 9,
                         round(column)]
            assert any(near(c, START_RATE_COLOR, 30) for c in ring)
            assert not near(colour_at(image, ax, x, start), START_RATE_COLOR, 30)
            continue
        assert near(colour_at(image, ax, x, start), START_RATE_COLOR), night
        if end is not None:
            assert near(colour_at(image, ax, x, end), END_RATE_COLOR), night
            # and the two are joined, so a session's slowing reads as one stroke
            middle = colour_at(image, ax, x, (start + end) / 2)
            assert not near(middle, "#ffffff", 20), night
    # the session measured only in step has no rate to show, and none is made up for it
    x = date2num(date(2026, 11, 16))
    column = round(ax.transData.transform((x, 0))[0])
    extent = ax.get_window_extent()
    strip = image[round(image.shape[0] - extent.y1):round(image.shape[0] - extent.y0), column]
    assert not any(near(c, START_RATE_COLOR, 30) or near(c, END_RATE_COLOR, 30)
                   for c in strip)


def test_the_panel_is_named_in_plain_words(tmp_path):
    path = tmp_path / "history.svg"
    write_history_picture(recorded(tmp_path / "state", *SESSIONS), path, TODAY)
    text = path.read_text()
    for words in ("Your breathing rate, at the start and at the end of the breathing part",
                  "at the start", "at the end of the breathing part", "breaths a minute"):
        assert words in text, words


def test_without_rates_the_picture_keeps_its_size_and_panels(tmp_path):
    sessions = (SESSIONS[0], SESSIONS[3])  # one without a sensor, one with only a share
    fig, image = drawn(recorded(tmp_path / "state", *sessions), tmp_path / "history.png")
    assert image.shape == (HEIGHT_PX, WIDTH_PX, 3)
    assert [ax.get_label() for ax in fig.axes] == ["weeks", "starts", "reached"]


def test_the_panels_above_keep_their_size_when_the_rates_are_added(tmp_path):
    with_rates, _ = drawn(recorded(tmp_path / "a", *SESSIONS), tmp_path / "a.png")
    without, _ = drawn(recorded(tmp_path / "b", SESSIONS[0]), tmp_path / "b.png")
    for label in ("weeks", "starts", "reached"):
        a, b = axes(with_rates, label).get_window_extent(), axes(without, label).get_window_extent()
        assert a.width == pytest.approx(b.width, abs=1) and \
            a.height == pytest.approx(b.height, abs=2), label
