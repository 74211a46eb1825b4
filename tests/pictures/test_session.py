"""The session picture, read back as pixels: the parts, the light, the voice's lines, the
breathing rate and the sound sit where the rendered session's events say they happened."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from device.commands.render import render_session
from device.core.config import Config
from device.core.config_schema import parse
from device.files.script_file import load_script
from device.pictures import picture
from device.pictures.session import (
    HEIGHT_PX,
    LIGHT_COLOR,
    RATE_COLOR,
    SOUND_COLOR,
    TIDE_COLOR,
    TOUCH_COLOR,
    VOICE_COLOR,
    WIDTH_PX,
    Breath,
    SessionTimeline,
    breaths,
    draw_session,
    envelope,
    part_colour,
    quiet_spans,
    shortened,
    spread,
)

pytest.importorskip("matplotlib")


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


class Drawn:
    """A drawn session: its PNG as an array of 0-255 RGB, and where times fall in it."""

    def __init__(self, timeline: SessionTimeline, path) -> None:
        from matplotlib.image import imread

        self.timeline = timeline
        self.figure = draw_session(timeline)
        picture.save(self.figure, path)
        self.pixels = imread(path)[:, :, :3] * 255.0
        self.axes = {ax.get_label(): ax for ax in self.figure.axes}

    def at(self, panel: str, t: float, y: float) -> tuple[int, int]:
        """(row, column) of the point (t, y) in a panel."""
        x_px, y_px = self.axes[panel].transData.transform((t, y))
        return round(self.pixels.shape[0] - y_px), round(x_px)

    def color(self, panel: str, t: float, y: float) -> np.ndarray:
        row, column = self.at(panel, t, y)
        return self.pixels[row, column]

    def rows_of(self, panel: str, t: float, color: str, tolerance: float = 40) -> np.ndarray:
        """The rows, within the panel, of the pixels of one colour in the column at t."""
        _, column = self.at(panel, t, 0)
        box = self.axes[panel].get_window_extent()
        top, bottom = int(self.pixels.shape[0] - box.y1), int(self.pixels.shape[0] - box.y0)
        strip = self.pixels[top:bottom, column]
        near = np.abs(strip - _rgb(color)).max(axis=1) < tolerance
        return np.flatnonzero(near) + top


def _near(color: np.ndarray, hex_color: str, tolerance: float = 12) -> bool:
    return bool(np.abs(color - _rgb(hex_color)).max() < tolerance)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    rendered = render_session(Config(), load_script(), out)
    return Drawn(rendered.timeline, out / "session.png")


def test_the_picture_has_its_size_and_is_not_blank(drawn):
    assert drawn.pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    colors = {tuple(c) for c in drawn.pixels.reshape(-1, 3)[::7].astype(int)}
    assert len(colors) > 50
    white = np.all(drawn.pixels > 250, axis=2).mean()
    assert 0.2 < white < 0.9


def test_each_part_is_a_band_of_its_colour_from_its_start_to_its_end(drawn):
    parts = drawn.timeline.of_kind("part")
    assert [name for _, name, _ in parts][:2] == ["arrive", "breathe"]
    for start, name, seconds in parts:
        # a fifth of the way in (away from the label) and next to both edges
        for t in (start + seconds / 5, start + 1.0, start + seconds - 1.0):
            assert _near(drawn.color("parts", t, 0.15), part_colour(name)), (name, t)
    for (_, before, _), (start, after, _) in itertools.pairwise(parts):
        assert not _near(drawn.color("parts", start - 1.0, 0.15), part_colour(after)), after
        assert _near(drawn.color("parts", start - 1.0, 0.15), part_colour(before))


def test_every_spoken_line_is_marked_for_as_long_as_it_is_said(drawn):
    said = drawn.timeline.of_kind("say")
    assert len(said) > 20
    for t, text, seconds in said:
        assert _near(drawn.color("voice", t + seconds / 2, 0), VOICE_COLOR), text
        after = t + seconds + 1.5  # unmarked, unless the next line is about to begin
        assert not _near(drawn.color("voice", after, 0), VOICE_COLOR) or any(
            u - 1.0 <= after <= u + s + 1.0 for u, _, s in said if u > t), text


def test_the_grounding_pauses_show_as_quiet_with_no_mark_and_only_the_tide(drawn):
    spans = quiet_spans(drawn.timeline)
    ground = next(p for p in drawn.timeline.of_kind("part") if p[1] == "ground")
    assert len([s for s in spans if ground[0] <= s[0] < ground[0] + ground[2]]) >= 4
    for start, stop in spans:
        t = start + 1.0
        assert not _near(drawn.color("voice", t, 0), VOICE_COLOR)
        middle = (start + stop) / 2
        sound = drawn.rows_of("sound", middle, SOUND_COLOR)
        tide = drawn.rows_of("sound", middle, TIDE_COLOR)
        # no more than the soft tide under the dim light (its line, with the fill below it)
        assert len(tide) and len(sound)
        assert min(sound) >= drawn.at("sound", middle, -33)[0] and min(tide) <= min(sound) + 2
    # and while a line is said, the sound strip shows it
    for t, _, seconds in drawn.timeline.of_kind("say"):
        assert len(drawn.rows_of("sound", t + seconds / 2, SOUND_COLOR)) > 3


def test_the_light_line_follows_the_breath(drawn):
    phases = drawn.timeline.of_kind("phase")
    inhales = [(t, s) for t, name, s in phases if name == "inhale"][:5]
    for t, seconds in inhales:
        top = drawn.rows_of("light", t + seconds, LIGHT_COLOR)
        bottom = drawn.rows_of("light", t, LIGHT_COLOR)
        assert len(top) and len(bottom)
        index = round((t + seconds) * 100)
        expected_row, _ = drawn.at("light", t + seconds, drawn.timeline.lightness[index])
        assert abs(top.min() - expected_row) <= 3  # the crest, where the line peaks
        assert np.median(bottom) > np.median(top) + 100  # dim at the start of an inhale


def test_the_breathing_rate_slows_from_eight_to_six_a_minute(drawn):
    found = breaths(drawn.timeline)
    assert found[0].rate == pytest.approx(8.0, abs=0.1)
    assert found[-1].rate == pytest.approx(6.0, abs=0.1)
    for breath in (found[1], found[len(found) // 2], found[-2]):
        # tight: the grey edges of the "8.0/min" label's glyphs are within 40 of the line
        rows = drawn.rows_of("rate", (breath.start + breath.stop) / 2, RATE_COLOR, 20)
        expected, _ = drawn.at("rate", breath.start, breath.rate)
        assert len(rows) and abs(np.median(rows) - expected) <= 3


def test_the_motor_gets_a_panel_only_when_there_is_one(drawn, tmp_path):
    assert "touch" not in drawn.axes
    config = parse({"breathing": {"minutes": 1}, "haptic": {"pin": 12}})
    rendered = render_session(config, load_script(), tmp_path / "out")
    with_motor = Drawn(rendered.timeline, tmp_path / "motor.png")
    t, _, seconds = next(p for p in rendered.timeline.of_kind("phase") if p[1] == "inhale")
    assert len(with_motor.rows_of("touch", t + seconds * 0.9, TOUCH_COLOR)) > 0
    assert with_motor.pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)


def test_an_svg_is_written_when_asked_for(tmp_path):
    import xml.etree.ElementTree as ElementTree

    timeline = _timeline([(0.0, "part", "arrive", 10.0), (1.0, "say", "Hello there.", 1.0)])
    path = tmp_path / "s.svg"
    picture.save(draw_session(timeline), path)
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert "Hello there." in path.read_text()


def _timeline(events, seconds: float = 60.0) -> SessionTimeline:
    return SessionTimeline("test", seconds, tuple(events), [0.0, seconds], [0.0, 0.0],
                           [0.0], [-80.0])


def test_breaths_begin_at_each_inhale_and_a_top_up_is_part_of_its_breath():
    timeline = _timeline([
        (0.0, "phase", "inhale", 2.0), (2.0, "phase", "exhale", 4.0),
        (6.0, "phase", "inhale", 2.2), (8.2, "phase", "inhale", 0.8),
        (9.0, "phase", "exhale", 6.0), (15.0, "phase", "inhale", 3.0),
        (18.0, "phase", "hold", 2.0), (20.0, "phase", "exhale", 5.0),
    ])
    assert breaths(timeline) == [Breath(0.0, 6.0), Breath(6.0, 15.0), Breath(15.0, 25.0)]
    assert breaths(timeline)[0].rate == 10.0


def test_quiet_is_a_long_pause_inside_a_spoken_part_only():
    timeline = _timeline([
        (0.0, "part", "breathe", 30.0), (1.0, "say", "In.", 1.0), (20.0, "say", "Out.", 1.0),
        (30.0, "part", "ground", 60.0), (31.0, "say", "Five things.", 2.0),
        (45.0, "say", "Four things.", 2.0), (50.0, "say", "Three.", 1.0),
        (90.0, "part", "close", 10.0), (99.0, "say", "Bye.", 1.0),
    ], seconds=100.0)
    assert quiet_spans(timeline) == [(33.0, 45.0)]


def test_long_lines_are_shortened_at_a_word():
    assert shortened("Breathe in.") == "Breathe in."
    text = "If you like, look for five things you can see. In the dark, shapes count."
    short = shortened(text, 30)
    assert short.endswith("…") and len(short) <= 30 and text.startswith(short[:-1])
    assert short == "If you like, look for five…"


def test_the_sound_strip_shows_the_loudest_moment_of_each_stretch():
    times = [n / 10 for n in range(20)]
    levels = [-90.0] * 20
    levels[3], levels[14] = -20.0, -35.0
    assert envelope(times, levels, 0.5) == ([0.0, 0.5, 1.0, 1.5], [-20.0, -60.0, -35.0, -60.0])


def test_labels_keep_their_distance_and_never_come_before_their_line():
    placed = spread([0.0, 1.0, 1.5, 10.0, 10.1], gap=2.0)
    assert placed == [0.0, 2.0, 4.0, 10.0, 12.0]
