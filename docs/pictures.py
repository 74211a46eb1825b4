"""The README's pictures, made from the code so they never drift from it:

    .venv/bin/python -m docs.pictures        (needs the dev and plots extras)

writes into docs/ (or --out DIR):
  session.png  `ebbtide render` of the default session, with this checkout's voice
  history.png  `ebbtide history --plot` of an example history (made-up nights, generated
               from a fixed seed into a temporary file) with a 28-day cycle; its last
               EXAMPLE_SENSED_WEEKS weeks with a breath sensor's made-up figures
  wiring.svg   the button and the LED on the Pi's header (docs/wiring.py)
  sensor_wiring.svg  the breath sensor on the header's I2C pins (docs/wiring.py)
  card.png     `ebbtide card --country us` with the defaults
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

from device.commands.render import render_session
from device.core.config import DEFAULT_PARTS, Config
from device.core.sensed_session import SessionSensing
from device.files.script_file import load_script
from device.history.store import History, SessionRecord
from device.pictures.card import write_card
from device.pictures.history import Cycle, write_history_picture
from device.pictures.picture import PictureError
from device.pictures.session import write_session_picture
from device.words.card import countries, make_card
from docs.wiring import draw_sensor_wiring, draw_wiring

# The example history: sixteen weeks up to this day, a cycle that began on EXAMPLE_CYCLE.
EXAMPLE_TODAY = date(2026, 11, 29)
EXAMPLE_CYCLE = date(2026, 11, 9)
EXAMPLE_WEEKS = 16
EXAMPLE_SEED = 13
EXAMPLE_SENSED_WEEKS = 6  # a breath sensor for the last six weeks


def example_sensing(rng: random.Random, reached: int, weeks_in: float) -> SessionSensing:
    """Made-up figures for a session with the sensor, `weeks_in` weeks after it came: the
    person starts at 12-19 a minute and slows to about 6 by the end of the breathing part,
    a little more easily as the weeks go on; a session stopped in the breathing part has
    only its start."""
    start = rng.uniform(12.0, 19.0)
    if reached < 2:  # the breathing part was not finished
        return SessionSensing(start_bpm=start, end_bpm=None, in_step_share=None)
    end = max(5.5, rng.gauss(7.5 - 0.25 * weeks_in, 0.6))
    share = min(1.0, max(0.3, rng.gauss(0.65 + 0.04 * weeks_in, 0.08)))
    return SessionSensing(start_bpm=start, end_bpm=end, in_step_share=share)


def example_history(folder: Path) -> list[SessionRecord]:
    """Made-up nights in a real history file in `folder`: a session on about one night in
    three (two in three in the days before a cycle starts), between 22:00 and 04:00; most
    run to the end, some are stopped or cut off; the first is the demo's. The last
    EXAMPLE_SENSED_WEEKS weeks' finished or stopped sessions have a breath sensor's figures
    (drawn from a seed of their own, so the nights are the same with or without them)."""
    rng = random.Random(EXAMPLE_SEED)
    sensor_rng = random.Random(EXAMPLE_SEED + 1)
    first = EXAMPLE_TODAY - timedelta(weeks=EXAMPLE_WEEKS)
    sensor_came = EXAMPLE_TODAY - timedelta(weeks=EXAMPLE_SENSED_WEEKS)
    with History(folder) as history:
        for offset in range((EXAMPLE_TODAY - first).days):
            night = first + timedelta(days=offset)
            cycle_day = (night - EXAMPLE_CYCLE).days % 28 + 1
            if rng.random() > (0.7 if cycle_day >= 24 else 0.3):
                continue
            minutes = rng.choice(range(22 * 60, 28 * 60, 7))
            started = datetime.combine(night, time()).astimezone() + timedelta(minutes=minutes)
            reached = len(DEFAULT_PARTS) if rng.random() < 0.7 else rng.randrange(1, 5)
            first_one = not history.recent(1)
            session = history.begin("paced-exhale", started, demo=first_one)
            at = started
            for part in DEFAULT_PARTS[:reached]:
                at += timedelta(seconds=80)
                history.part_done(session, part, at)
            outcome = ("finished" if reached == len(DEFAULT_PARTS)
                       else rng.choice(("stopped", "stopped", "interrupted")))
            # An interrupted session's figures were lost with it: the session never ended.
            sensing = (example_sensing(sensor_rng, reached, (night - sensor_came).days / 7)
                       if night >= sensor_came and outcome != "interrupted" else None)
            history.end(session, outcome, at + timedelta(seconds=20), sensing=sensing)
        return history.all_sessions()


def make_pictures(out: Path) -> list[Path]:
    """Write the pictures into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    made = [out / "session.png", out / "history.png", out / "wiring.svg", out / "card.png",
            out / "sensor_wiring.svg"]
    with tempfile.TemporaryDirectory(prefix="ebbtide-pictures-") as scratch:
        rendered = render_session(Config(), load_script(), Path(scratch) / "render")
        write_session_picture(rendered.timeline, made[0])
        write_card(make_card(Config(), countries()["us"], "en", rendered.plan.seconds / 60),
                   made[3])
        records = example_history(Path(scratch) / "history")
        write_history_picture(records, made[1], EXAMPLE_TODAY, Cycle(EXAMPLE_CYCLE))
    draw_wiring(made[2])
    draw_sensor_wiring(made[4])
    return made


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.pictures",
                                     description="Redraw the README's pictures.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, metavar="DIR",
                        help="where to write them (default: docs/)")
    args = parser.parse_args(argv)
    try:
        for path in make_pictures(args.out):
            print(f"drew {path}")
    except PictureError as error:
        print(f"docs.pictures: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
