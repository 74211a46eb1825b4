"""`python -m docs.pictures`, the one command that redraws the README's pictures: it makes
all of them, the README shows exactly those, and the committed ones are what it draws."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from docs.pictures import EXAMPLE_SENSED_WEEKS, EXAMPLE_TODAY, example_history

pytest.importorskip("matplotlib")

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_one_command_draws_every_picture_the_readme_shows(tmp_path):
    done = subprocess.run([sys.executable, "-m", "docs.pictures", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    drawn = sorted(p.name for p in tmp_path.iterdir())
    assert drawn == ["card.png", "history.png", "sensor_wiring.svg", "session.png",
                     "wiring.svg"]
    assert done.stdout.splitlines() == [f"drew {tmp_path / name}" for name in
                                        ("session.png", "history.png", "wiring.svg",
                                         "card.png", "sensor_wiring.svg")]
    shown = set(re.findall(r"\]\((docs/[\w.]+\.(?:png|svg))\)", (ROOT / "README.md").read_text()))
    assert shown == {f"docs/{name}" for name in drawn}
    for name in drawn:
        committed = ROOT / "docs" / name
        assert committed.exists(), f"{committed} is not committed: run python -m docs.pictures"
        if name.endswith(".png"):
            assert _png_size(committed) == _png_size(tmp_path / name), name
    # The wiring is text: the committed drawings are exactly what the code draws now.
    for name in ("wiring.svg", "sensor_wiring.svg"):
        assert (ROOT / "docs" / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_the_example_history_is_the_same_every_time_and_has_every_kind(tmp_path):
    first = example_history(tmp_path / "a")
    again = example_history(tmp_path / "b")
    assert [(r.started, r.parts, r.outcome, r.demo, r.start_bpm, r.end_bpm, r.in_step_share)
            for r in first] == [(r.started, r.parts, r.outcome, r.demo, r.start_bpm, r.end_bpm,
                                 r.in_step_share) for r in again]
    assert len(first) > 30
    assert {r.outcome for r in first} >= {"finished", "stopped", "interrupted"}
    assert sum(r.demo for r in first) == 1
    assert all(r.started_local.date() <= EXAMPLE_TODAY for r in first)
    # the breath sensor's figures in its last weeks only, so the rates panel is drawn
    sensed = [r for r in first if r.sensed]
    assert len(sensed) >= 8 and any(r.end_bpm for r in sensed)
    came = EXAMPLE_TODAY - timedelta(weeks=EXAMPLE_SENSED_WEEKS)
    assert all(r.started_local.date() >= came for r in sensed)
