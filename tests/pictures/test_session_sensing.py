"""The session picture with a breath sensor, read back as pixels and words: the person's
sensed breathing under the light, each breath of the breathing part marked in step or at
their own pace; without a sensor, the very picture it always was."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device.core.sensed_session import PacedBreath, SessionSensing
from device.pictures import picture
from device.pictures.session import (
    BREATH_MARK_Y,
    HEIGHT_PX,
    IN_STEP_COLOR,
    OWN_PACE_COLOR,
    SENSED_COLOR,
    WIDTH_PX,
    SessionTimeline,
    draw_session,
    write_session_picture,
)

pytest.importorskip("matplotlib")

ARRIVE_S, BREATHE_S, SECONDS = 20.0, 120.0, 180.0
PERIOD_S = 7.5  # 8 breaths a minute: in 2.5 s, out 5 s


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def _near(color: np.ndarray, hex_color: str, tolerance: float = 12) -> bool:
    return bool(np.abs(color - _rgb(hex_color)).max() < tolerance)


def breathing_session() -> SessionTimeline:
    """Arrive, two minutes of breathing at 8 a minute, and a close: the light's events."""
    events: list[tuple[float, str, str, float]] = [
        (0.0, "part", "arrive", ARRIVE_S), (ARRIVE_S, "part", "breathe", BREATHE_S),
        (ARRIVE_S + BREATHE_S, "part", "close", SECONDS - ARRIVE_S - BREATHE_S),
        (2.0, "say", "Settle in.", 1.5)]
    for n in range(int(BREATHE_S / PERIOD_S)):
        t = ARRIVE_S + n * PERIOD_S
        events += [(t, "phase", "inhale", 2.5), (t + 2.5, "phase", "exhale", 5.0)]
    light_t = [n / 10 for n in range(int(SECONDS * 10) + 1)]
    return SessionTimeline("a sensed session", SECONDS, tuple(events), light_t,
                           [0.3] * len(light_t), [0.0], [-80.0])


def person(t: float) -> float:
    """A person breathing with the light after a first few breaths of their own."""
    return -math.cos(2 * math.pi * (t - ARRIVE_S) / PERIOD_S)


def sensing_of(timeline: SessionTimeline) -> SessionSensing:
    """Every fourth breath at their own pace (one with no inhale sensed near it), the rest in
    step; the trace four points a second over the whole session."""
    inhales = [t for t, name, _ in timeline.of_kind("phase") if name == "inhale"]
    breaths = tuple(PacedBreath(paced_at=t, rate_bpm=8.0,
                                sensed_at=None if n % 4 == 0 else t + 0.4,
                                in_step=n % 4 != 0) for n, t in enumerate(inhales))
    trace = tuple((n / 4, person(n / 4)) for n in range(int(SECONDS * 4) + 1))
    return SessionSensing(start_bpm=15.6, end_bpm=6.8, in_step_share=0.75, breaths=breaths,
                          trace=trace)


class Drawn:
    """A drawn session: its PNG as 0-255 RGB, and where times fall in it."""

    def __init__(self, fig, path) -> None:
        from matplotlib.image import imread

        picture.save(fig, path)
        self.figure = fig
        self.pixels = imread(path)[:, :, :3] * 255.0
        self.axes = {ax.get_label(): ax for ax in fig.axes}

    def at(self, panel: str, t: float, y: float) -> tuple[int, int]:
        x_px, y_px = self.axes[panel].transData.transform((t, y))
        return round(self.pixels.shape[0] - y_px), round(x_px)

    def color(self, panel: str, t: float, y: float) -> np.ndarray:
        return self.pixels[self.at(panel, t, y)]

    def rows_of(self, panel: str, t: float, color: str, tolerance: float = 30) -> np.ndarray:
        _, column = self.at(panel, t, 0)
        extent = self.axes[panel].get_window_extent()
        top, bottom = (int(self.pixels.shape[0] - extent.y1),
                       int(self.pixels.shape[0] - extent.y0))
        near = np.abs(self.pixels[top:bottom, column] - _rgb(color)).max(axis=1) < tolerance
        return np.flatnonzero(near) + top


@pytest.fixture(scope="module")
def sensed(tmp_path_factory):
    timeline = breathing_session()
    sensing = sensing_of(timeline)
    path = tmp_path_factory.mktemp("sensed") / "session.png"
    return Drawn(draw_session(timeline, sensing), path), sensing


def test_the_sensed_breathing_lies_under_the_light_on_the_same_page(sensed):
    drawn, _ = sensed
    assert drawn.pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    tops = {name: ax.get_window_extent().y1 for name, ax in drawn.axes.items()}
    assert tops["light"] > tops["sensed"] > tops["voice"]  # up the page is up the list


def test_the_line_follows_the_person_s_breathing(sensed):
    drawn, _ = sensed
    for t in (5.0, ARRIVE_S + 1.25, ARRIVE_S + 30 * 0.25 * 7, 100.0, 150.0, 170.0):
        value = person(t)
        rows = drawn.rows_of("sensed", t, SENSED_COLOR)
        expected, _ = drawn.at("sensed", t, value)
        assert len(rows) and abs(np.median(rows) - expected) <= 3, t
    # the breathing's top and bottom are far apart on the page: the breath shows
    top, _ = drawn.at("sensed", 0, 1.0)
    bottom, _ = drawn.at("sensed", 0, -1.0)
    assert bottom - top > 60


def test_each_breath_is_marked_at_the_light_s_inhale_in_step_or_at_its_own_pace(sensed):
    drawn, sensing = sensed
    assert len(sensing.breaths) == 16
    for breath in sensing.breaths:
        color = drawn.color("sensed", breath.paced_at, BREATH_MARK_Y)
        assert _near(color, IN_STEP_COLOR if breath.in_step else OWN_PACE_COLOR), breath
    # no mark where no breath was paced: in the arrive part, above the breathing
    assert _near(drawn.color("sensed", ARRIVE_S / 2, BREATH_MARK_Y), "#ffffff")


def test_the_figures_and_the_key_are_said_in_gentle_words(tmp_path):
    timeline = breathing_session()
    path = tmp_path / "session.svg"
    write_session_picture(timeline, path, sensing=sensing_of(timeline))
    text = path.read_text()
    for words in ("16→7/min, 75% in step", "your breathing", "in step with the light",
                  "at your own pace", "your breath"):
        assert words in text, words
    for blame in ("fail", "miss", "wrong", "out of step", "poor"):
        assert blame not in text.lower(), blame


def test_without_a_sensor_or_without_breaths_the_picture_is_the_one_it_always_was(tmp_path):
    timeline = breathing_session()
    plain = tmp_path / "plain.png"
    write_session_picture(timeline, plain)
    no_breaths = SessionSensing(start_bpm=None, end_bpm=None, in_step_share=None,
                                trace=sensing_of(timeline).trace)
    for name, sensing in (("none.png", None), ("empty.png", no_breaths)):
        write_session_picture(timeline, tmp_path / name, sensing=sensing)
        assert (tmp_path / name).read_bytes() == plain.read_bytes(), name
    assert "sensed" not in {ax.get_label() for ax in draw_session(timeline).axes}
