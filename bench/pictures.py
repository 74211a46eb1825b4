"""How long the pictures take: `ebbtide render`'s session picture and `ebbtide history
--plot` of a year of nights, drawn and saved as PNG (matplotlib already loaded, as for every
picture after the first in a process), and loading matplotlib in a fresh process, which
each command pays once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from device.commands.render import render_session
from device.core.config import DEFAULT_PARTS, Config
from device.core.script import Script
from device.history.store import History
from device.pictures.history import Cycle, write_history_picture
from device.pictures.session import write_session_picture

_LOAD = ("import time; t = time.perf_counter(); from device.pictures import picture; "
         "picture.figure(100, 100); from matplotlib.backends import backend_agg; "
         "print(time.perf_counter() - t)")


@dataclass(frozen=True)
class PictureTiming:
    session_s: list[float]
    history_s: list[float]
    load_s: list[float]
    history_sessions: int


def _year_of_nights(folder: Path, today: date) -> list:
    """A session every night for a year, each run to the end: a heavy year's history."""
    with History(folder) as history:
        for back in range(365, 0, -1):
            started = datetime.combine(today - timedelta(days=back), datetime.min.time(),
                                       UTC) + timedelta(hours=23)
            session = history.begin("paced-exhale", started)
            for part in DEFAULT_PARTS:
                history.part_done(session, part, started)
            history.end(session, "finished", started + timedelta(minutes=9))
        return history.all_sessions()


def _timed(draw, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        draw()
        seconds.append(time.perf_counter() - began)
    return seconds


def measure_pictures(config: Config, script: Script, voice_home: Path, scratch: Path,
                     runs: int) -> PictureTiming:
    """`runs` of each picture, after one untimed draw; the session is rendered with the
    voice already made in `voice_home` (an XDG_CACHE_HOME)."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(voice_home)
    try:
        timeline = render_session(config, script, scratch / "render").timeline
    finally:
        if saved is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = saved
    today = date.today()
    records = _year_of_nights(scratch / "history", today)
    cycle = Cycle(today - timedelta(days=10))
    session_png, history_png = scratch / "session.png", scratch / "history.png"
    write_session_picture(timeline, session_png)  # the first draw loads fonts and caches
    session_s = _timed(lambda: write_session_picture(timeline, session_png), runs)
    history_s = _timed(lambda: write_history_picture(records, history_png, today, cycle), runs)
    load_s = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent.parent)
        load_s.append(float(done.stdout))
    return PictureTiming(session_s, history_s, load_s, len(records))
