"""`ebbtide render`: the files exist and agree: speech where the say events are, silence
between (with the tide off), light that rises on inhales and falls on exhales; and a
session that can be followed by ear, by day and in the quiet hours, whatever the pattern."""

from __future__ import annotations

import csv
import datetime
import itertools
import wave

import numpy as np
import pytest

from audio.chime import CHIME_SECONDS
from device.commands.render import ROWS_PER_SECOND, render_session
from device.core.config_schema import parse
from device.files.script_file import load_script


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    cache = tmp_path_factory.mktemp("cache")
    import os

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    try:
        # The voice's own placement, heard without the tide (tested on its own below).
        plan = render_session(parse({"breathing": {"minutes": 1}, "audio": {"tide": False}}),
                              load_script(), out).plan
    finally:
        if old is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = old
    with wave.open(str(out / "session.wav")) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16) / 32768.0
    with (out / "light.csv").open() as f:
        light = list(csv.DictReader(f))
    with (out / "events.csv").open() as f:
        events = list(csv.DictReader(f))
    return plan, rate, audio, light, events


def test_the_files_have_their_headers_and_lengths(rendered):
    plan, rate, audio, light, events = rendered
    assert list(light[0]) == ["t_s", "part", "lightness", "duty"]
    assert list(events[0]) == ["t_s", "kind", "detail", "duration_s"]
    assert len(light) == round(plan.seconds * ROWS_PER_SECOND) + 1
    assert abs(len(audio) / rate - plan.seconds) < 0.01
    assert {e["kind"] for e in events} == {"part", "phase", "say"}
    assert [e["detail"] for e in events if e["kind"] == "part"] == [p.name for p in plan.parts]


def test_the_light_starts_glowing_and_ends_off(rendered):
    _, _, _, light, _ = rendered
    assert float(light[0]["lightness"]) > 0
    assert float(light[-1]["lightness"]) == 0 and float(light[-1]["duty"]) == 0


def test_speech_energy_sits_where_the_say_events_are(rendered):
    _, rate, audio, _, events = rendered
    says = [(float(e["t_s"]), float(e["duration_s"])) for e in events if e["kind"] == "say"]
    assert len(says) > 20

    def rms(start, stop):
        chunk = audio[int(start * rate):int(stop * rate)]
        return float(np.sqrt(np.mean(chunk ** 2))) if len(chunk) else 0.0

    chimes = [float(e["t_s"]) for e in events if e["kind"] == "part"][1:]
    for start, seconds in says:
        assert rms(start, start + seconds) > 0.02, f"no speech at {start}"
        assert rms(start - 0.3, start - 0.01) < 0.002 or any(
            s < start - 0.01 and start - 0.3 < s + d for s, d in says) or any(
            c <= start - 0.3 < c + CHIME_SECONDS for c in chimes), f"sound before {start}"
    # the long quiet stretches between lines are silent
    ordered = sorted(says)
    gaps = [(s + d, nxt) for (s, d), (nxt, _) in itertools.pairwise(ordered)
            if nxt - (s + d) > 4]
    assert len(gaps) > 10
    for end, nxt in gaps:
        assert rms(end + 0.5, nxt - 0.5) < 0.001


def test_the_light_and_the_phase_events_line_up(rendered):
    _, _, _, light, events = rendered
    lightness = [float(row["lightness"]) for row in light]
    phases = [(float(e["t_s"]), e["detail"], float(e["duration_s"]))
              for e in events if e["kind"] == "phase"]
    for t, name, seconds in phases:
        a = round(t * ROWS_PER_SECOND)
        b = round((t + seconds) * ROWS_PER_SECOND)
        if name == "inhale":
            assert lightness[b] > lightness[a]
        elif name == "exhale":
            assert lightness[b] < lightness[a]
        else:
            assert lightness[b] == pytest.approx(lightness[a], abs=1e-4)


def test_two_keys_switch_the_whole_session_to_german(tmp_path):
    """[voice] script = "de" (and, to choose the voice, [voice] voice): the German words,
    spoken by espeak-ng in German, since the natural voice's model speaks English."""
    config = parse({"breathing": {"minutes": 1}, "voice": {"script": "de", "voice": "de"}})
    german = load_script(config.voice.script)
    plan = render_session(config, german, tmp_path).plan
    with (tmp_path / "events.csv").open() as f:
        said = [e["detail"] for e in csv.DictReader(f) if e["kind"] == "say"]
    assert said[0] == "Ich bin hier bei dir."
    assert set(said) <= set(german.texts()) and not set(said) & set(load_script().texts())
    assert {c.text for c in plan.part_named("feel").cues} == set(german.feel)
    with wave.open(str(tmp_path / "session.wav")) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16) / 32768.0
        rate = w.getframerate()
    first = plan.cues[0]
    spoken = audio[round(first.at * rate):round((first.at + first.seconds) * rate)]
    assert np.sqrt(np.mean(spoken ** 2)) > 0.01, "it was heard"


def test_with_a_motor_the_render_writes_the_touch_of_every_breath(tmp_path):
    from device.core.haptic import TAP_GAP_S, TAP_S

    config = parse({"breathing": {"minutes": 1, "pattern": "box"}, "haptic": {"pin": 12},
                    "session": {"parts": ["arrive", "breathe", "close"]}})
    plan = render_session(config, load_script(), tmp_path).plan
    with (tmp_path / "haptic.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["t_s", "part", "strength", "duty"]
    assert len(rows) == round(plan.seconds * ROWS_PER_SECOND) + 1
    touch = {round(float(r["t_s"]), 2): float(r["duty"]) for r in rows}
    breathe = plan.part_named("breathe")
    taps_end = breathe.start + 2 * TAP_S + TAP_GAP_S
    for segment in breathe.segments:
        inside = [d for t, d in touch.items()
                  if max(segment.start, taps_end) + 0.05 < t < segment.stop - 0.05]
        if not inside:
            continue
        if segment.phase in ("inhale", "exhale"):
            assert max(inside) > 0.3, f"touch in the {segment.phase} at {segment.start}"
        else:
            assert max(inside) == 0.0, f"none in the hold at {segment.start}"
    assert float(rows[-1]["duty"]) == 0.0 and float(rows[-1]["strength"]) == 0.0


def test_the_level_meter_passes_the_mix_on_and_measures_each_block():
    from device.commands.render import LevelMeter

    class Sink:
        def __init__(self):
            self.blocks = []

        def write(self, samples):
            self.blocks.append(samples)

    sink = Sink()
    meter = LevelMeter(sink, rate=1000, block_seconds=0.1)
    tone = 0.5 * np.sin(2 * np.pi * 50 * np.arange(250) / 1000)  # 0.25 s, 5 whole cycles
    meter.write(tone[:30])  # blocks do not follow the writes
    meter.write(tone[30:])
    meter.write(np.zeros(100))
    meter.close()
    assert np.array_equal(np.concatenate(sink.blocks), np.concatenate([tone, np.zeros(100)]))
    levels = meter.levels_db
    assert len(levels) == 4 and meter.block_seconds == 0.1
    assert levels[0] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)  # -9.03
    assert levels[1] == pytest.approx(levels[0], abs=0.01)
    assert levels[2] == pytest.approx(levels[0] - 10 * np.log10(2), abs=0.05)  # half silent
    assert levels[3] == -120.0  # silence


def _read_levels(path):
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("pattern", ["paced-exhale", "4-7-8", "box"])
def test_the_tide_can_be_followed_with_eyes_shut_by_day_and_at_night(tmp_path, pattern):
    """Through the breathing part the tide is heard (above -50 dBFS) in at least 95 % of
    50 ms frames, and its smoothed level rises on at least 90 % of inhale frames and falls
    on 90 % of exhale frames; in the quiet hours it is quieter, and still there."""
    config = parse({"breathing": {"pattern": pattern}})
    day = render_session(config, load_script(), tmp_path / "day")
    night = render_session(config, load_script(), tmp_path / "night", datetime.time(23, 30))
    for rendered in (day, night):
        assert rendered.by_ear is not None
        assert rendered.by_ear.present >= 0.95 and rendered.by_ear.direction >= 0.90
    by_day, at_night = (_read_levels(tmp_path / name / "levels.csv") for name in ("day", "night"))
    assert list(by_day[0]) == ["t_s", "mix_dbfs", "tide_dbfs"] and len(by_day) == len(at_night)
    breathing = day.plan.part_named("breathe")
    rows = [k for k, row in enumerate(by_day)
            if breathing.start + 1 <= float(row["t_s"]) < breathing.stop - 1]
    quieter = [float(by_day[k]["tide_dbfs"]) - float(at_night[k]["tide_dbfs"]) for k in rows]
    assert np.median(quieter) == pytest.approx(-20 * np.log10(0.6), abs=0.2)
    # the mix holds the tide, and the voice above it
    assert all(float(by_day[k]["mix_dbfs"]) >= float(by_day[k]["tide_dbfs"]) - 1.5
               for k in rows)


def test_with_the_tide_off_there_is_no_tide_and_no_figure(tmp_path):
    rendered = render_session(parse({"breathing": {"minutes": 1}, "audio": {"tide": False}}),
                              load_script(), tmp_path)
    assert rendered.by_ear is None
    assert {row["tide_dbfs"] for row in _read_levels(tmp_path / "levels.csv")} == {"-120.00"}
