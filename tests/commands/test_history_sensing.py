"""`ebbtide history` as a person runs it, on a history whose newest sessions had a breath
sensor: the table, the CSV and the picture show what it told, and nothing where it told
nothing."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from device.core.sensed_session import SessionSensing
from device.history.store import History

pytestmark = pytest.mark.process

EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]


def ebbtide(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "XDG_STATE_HOME": str(state)}
    environment.pop("EBBTIDE_CONFIG", None)
    return subprocess.run([*EBBTIDE, *args], capture_output=True, text=True, env=environment,
                          timeout=120, check=False)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A history of three nights: before the sensor, with it, and with it but stopped in the
    breathing part."""
    folder = tmp_path / "state"
    night = datetime(2026, 11, 16, 22, 30).astimezone()
    with History(folder / "ebbtide") as history:
        for day, sensing, outcome in (
                (0, None, "finished"),
                (1, SessionSensing(start_bpm=15.8, end_bpm=6.6, in_step_share=0.84),
                 "finished"),
                (2, SessionSensing(start_bpm=17.2, end_bpm=None, in_step_share=None),
                 "stopped")):
            started = night + timedelta(days=day)
            row = history.begin("paced-exhale", started)
            history.part_done(row, "arrive", started + timedelta(seconds=30))
            history.end(row, outcome, started + timedelta(minutes=4), sensing=sensing)
    return folder


def test_the_table_says_what_the_sensor_told_in_a_last_column(state):
    shown = ebbtide("history", state=state)
    assert shown.returncode == 0, shown.stderr
    header, stopped, sensed, plain = shown.stdout.splitlines()[:4]
    assert header.split() == ["when", "length", "pattern", "parts", "finished", "outcome",
                              "breathing"]
    assert sensed.split()[-5:] == ["finished", "16→7/min,", "84%", "in", "step"]
    assert stopped.split()[-4:] == ["stopped", "17/min", "at", "first"]
    assert plain.split()[-2:] == ["finished", "-"]


def test_the_csv_gives_the_figures_last_and_blank_before_the_sensor(state):
    exported = ebbtide("history", "--csv", state=state)
    assert exported.returncode == 0, exported.stderr
    header, stopped, sensed, plain = csv.reader(io.StringIO(exported.stdout))
    assert header[-4:] == ["demo", "start_breaths_per_min", "end_breaths_per_min",
                           "in_step_percent"]
    assert sensed[-3:] == ["15.8", "6.6", "84"]
    assert stopped[-3:] == ["17.2", "", ""]
    assert plain[-3:] == ["", "", ""]


def test_the_picture_is_taller_by_the_rates_panel(state, tmp_path):
    pytest.importorskip("matplotlib")
    from device.pictures.history import HEIGHT_PX, RATES_HEIGHT_PX, WIDTH_PX

    done = ebbtide("history", "--plot", str(tmp_path / "nights.png"), state=state)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"drew {tmp_path / 'nights.png'}: 3 sessions\n"
    data = (tmp_path / "nights.png").read_bytes()
    size = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert size == (WIDTH_PX, HEIGHT_PX + RATES_HEIGHT_PX)
