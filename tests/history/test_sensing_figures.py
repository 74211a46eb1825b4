"""What the breath sensor told of each session, kept in the history and read back: the
person's rate before the breathing part and at its end, and the share of breaths in step;
nothing (NULL, blank, "-") without a sensor, and older history files upgraded in place."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from device.core.sensed_session import PacedBreath, SessionSensing
from device.history.report import breathing_text, format_recent, skipped_note, write_csv
from device.history.store import FILE_NAME, SCHEMA_VERSION, History, SessionRecord
from tests.history.test_store import make_version_1_file

FOLLOWED = SessionSensing(start_bpm=16.2, end_bpm=6.8, in_step_share=0.84, breaths=(
    PacedBreath(paced_at=30.0, rate_bpm=16.0, sensed_at=30.4, in_step=True),
    PacedBreath(paced_at=33.8, rate_bpm=15.5, sensed_at=None, in_step=False),
), trace=((30.0, -0.9), (31.0, 0.8)))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def figures(record: SessionRecord) -> tuple[float | None, float | None, float | None]:
    return record.start_bpm, record.end_bpm, record.in_step_share


def stored(directory: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(directory / FILE_NAME)
    try:
        return db.execute("SELECT id, outcome, parts, start_bpm, end_bpm, in_step_share"
                          " FROM sessions ORDER BY id").fetchall()
    finally:
        db.close()


def test_a_sensed_session_keeps_its_rates_and_share_and_one_without_a_sensor_keeps_none(
        tmp_path):
    with History.open(tmp_path) as history:
        sensed = history.begin("paced-exhale", at("2026-11-16T22:00:00+00:00"))
        history.part_done(sensed, "arrive")
        history.end(sensed, "finished", at("2026-11-16T22:09:00+00:00"), sensing=FOLLOWED)
        plain = history.begin("paced-exhale", at("2026-11-17T22:00:00+00:00"))
        history.end(plain, "stopped", at("2026-11-17T22:03:00+00:00"))
    with History.reading(tmp_path) as history:
        newest, oldest = history.recent()
    assert figures(oldest) == (16.2, 6.8, 0.84) and oldest.sensed
    assert figures(newest) == (None, None, None) and not newest.sensed
    assert stored(tmp_path)[1][3:] == (None, None, None)  # NULL, not zeros


def test_the_appliance_s_whole_row_saves_keep_the_figures_given_with_the_last_one(tmp_path):
    """The appliance writes the whole row at each part and at the end (History.save): the
    figures come with the ending save; a crash before it leaves the row as it always was."""
    started = at("2026-11-16T22:00:00+00:00")
    with History.open(tmp_path) as history:
        row = history.save(None, "paced-exhale", started, [], started)
        row = history.save(row, "paced-exhale", started, ["arrive"],
                           at("2026-11-16T22:01:00+00:00"))
        history.save(row, "paced-exhale", started, ["arrive", "breathe"],
                     at("2026-11-16T22:06:00+00:00"), "finished",
                     at("2026-11-16T22:06:00+00:00"), sensing=FOLLOWED)
        # an ended row is left alone, figures and all
        history.save(row, "paced-exhale", started, [], started, "stopped", started,
                     sensing=SessionSensing(10.0, 10.0, 0.1))
        cut_off = history.save(None, "paced-exhale", started, [], started)
        history.save(cut_off, "paced-exhale", started, ["arrive"],
                     at("2026-11-16T22:01:00+00:00"))
    with History.open(tmp_path) as history:  # the next start after a power cut
        assert history.recover() == 1
    assert stored(tmp_path) == [(row, "finished", "arrive,breathe", 16.2, 6.8, 0.84),
                                (cut_off, "interrupted", "arrive", None, None, None)]


def test_a_session_written_late_in_one_save_lands_with_its_figures(tmp_path):
    """A busy history: the appliance writes the whole session once it is free."""
    started = at("2026-11-16T22:00:00+00:00")
    with History.open(tmp_path) as history:
        history.save(None, "paced-exhale", started, ["arrive", "breathe"],
                     at("2026-11-16T22:06:00+00:00"), "stopped",
                     at("2026-11-16T22:06:00+00:00"),
                     sensing=SessionSensing(start_bpm=14.0, end_bpm=None, in_step_share=None))
        (record,) = history.recent()
    assert figures(record) == (14.0, None, None)


@pytest.mark.parametrize(("sensing", "kept"), [
    (SessionSensing(float("nan"), -3.0, 1.5), (None, None, None)),
    (SessionSensing(0.0, float("inf"), float("nan")), (None, None, None)),
    (SessionSensing(250.0, 6.0, 1.0 + 1e-12), (None, 6.0, 1.0)),
    (SessionSensing(12.0, 6.0, -1e-12), (12.0, 6.0, 0.0)),
])
def test_a_figure_that_is_no_figure_is_kept_as_none_and_the_session_still_is(
        tmp_path, sensing, kept):
    with History.open(tmp_path) as history:
        session = history.begin("paced-exhale", at("2026-11-16T22:00:00+00:00"))
        history.end(session, "finished", at("2026-11-16T22:09:00+00:00"), sensing=sensing)
        (record,) = history.recent()
    assert (record.outcome, figures(record)) == ("finished", kept)


# The schema of version 2, exactly as Ebbtide before the sensing figures created it.
V2_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,        -- UTC, ISO 8601
    started_local TEXT NOT NULL,  -- local wall time with its offset, as shown to the user
    ended TEXT,                   -- UTC; for an interrupted session, when it was last seen
    last_seen TEXT NOT NULL,      -- UTC of the start or the last finished part
    pattern TEXT NOT NULL,
    parts TEXT NOT NULL DEFAULT '',  -- finished parts, comma separated, in order
    outcome TEXT NOT NULL CHECK (outcome IN
        ('running', 'finished', 'stopped', 'interrupted', 'error')),
    demo INTEGER NOT NULL DEFAULT 0  -- 1: a session of `ebbtide demo`, not of the device
);
"""


def make_version_2_file(directory: Path) -> None:
    """A history as Ebbtide before the breath sensor's figures left it: WAL, version 2, a
    finished session of the demo and a running one of the device."""
    db = sqlite3.connect(directory / FILE_NAME, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(f"BEGIN IMMEDIATE; {V2_SCHEMA} PRAGMA user_version=2; COMMIT;")
    db.execute("INSERT INTO sessions (started, started_local, ended, last_seen, pattern, parts,"
               " outcome, demo) VALUES ('2026-11-16T21:00:00+00:00',"
               " '2026-11-16T22:00:00+01:00', '2026-11-16T21:09:30+00:00',"
               " '2026-11-16T21:09:30+00:00', 'box', 'arrive,breathe', 'finished', 1)")
    db.execute("INSERT INTO sessions (started, started_local, last_seen, pattern, parts,"
               " outcome) VALUES ('2026-11-17T01:00:00+00:00', '2026-11-17T02:00:00+01:00',"
               " '2026-11-17T01:00:00+00:00', 'paced-exhale', 'arrive', 'running')")
    db.close()
    (directory / FILE_NAME).chmod(0o600)


def test_a_version_2_history_is_read_as_it_is_without_being_changed(tmp_path):
    make_version_2_file(tmp_path)
    before = (tmp_path / FILE_NAME).read_bytes()
    with History.reading(tmp_path) as history:
        running, finished = history.recent()
    assert (finished.pattern, finished.parts, finished.demo) == ("box", ("arrive", "breathe"),
                                                                 True)
    assert figures(finished) == figures(running) == (None, None, None)
    assert (tmp_path / FILE_NAME).read_bytes() == before


def test_a_version_1_history_is_read_as_it_is_with_no_figures(tmp_path):
    make_version_1_file(tmp_path)
    with History.reading(tmp_path) as history:
        running, finished = history.recent()
    assert (finished.pattern, finished.outcome, finished.demo) == ("box", "finished", False)
    assert figures(finished) == figures(running) == (None, None, None)


def test_a_version_2_history_is_upgraded_in_place_keeping_every_session(tmp_path):
    make_version_2_file(tmp_path)
    with History.open(tmp_path) as history:
        assert history.recover() == 1
        running, finished = history.recent()
        later = history.begin("paced-exhale", at("2026-11-18T21:00:00+00:00"))
        history.end(later, "finished", at("2026-11-18T21:09:00+00:00"), sensing=FOLLOWED)
    assert (finished.id, finished.pattern, finished.parts, finished.outcome, finished.demo) == (
        1, "box", ("arrive", "breathe"), "finished", True)
    assert finished.duration.total_seconds() == 570
    assert (running.id, running.parts, running.outcome) == (2, ("arrive",), "interrupted")
    assert stored(tmp_path) == [(1, "finished", "arrive,breathe", None, None, None),
                                (2, "interrupted", "arrive", None, None, None),
                                (later, "finished", "", 16.2, 6.8, 0.84)]
    db = sqlite3.connect(tmp_path / FILE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    upgraded = db.execute("PRAGMA table_info(sessions)").fetchall()
    db.close()
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600
    # the same columns, in the same order, as a history made new
    History.open(tmp_path / "new").close()
    db = sqlite3.connect(tmp_path / "new" / FILE_NAME)
    assert db.execute("PRAGMA table_info(sessions)").fetchall() == upgraded
    db.close()


def test_the_upgraded_file_still_refuses_a_share_above_one(tmp_path):
    """The figures' bounds hold in the file itself, for a file upgraded as for a new one."""
    make_version_2_file(tmp_path)
    History.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / FILE_NAME)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE sessions SET in_step_share = 1.5 WHERE id = 1")
    db.close()


def test_a_hand_edited_figure_leaves_its_row_out_with_one_note(tmp_path):
    with History.open(tmp_path) as history:
        kept = history.begin("paced-exhale", at("2026-11-16T22:00:00+00:00"))
        history.end(kept, "finished", sensing=FOLLOWED)
        edited = history.begin("paced-exhale", at("2026-11-17T22:00:00+00:00"))
        history.end(edited, "finished", sensing=FOLLOWED)
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute("UPDATE sessions SET start_bpm = 'fast' WHERE id = ?", (edited,))
    db.commit()
    db.close()
    with History.reading(tmp_path) as history:
        records = history.all_sessions()
        skipped = history.skipped
    assert [r.id for r in records] == [kept]
    assert skipped_note(skipped) == (
        f"one session could not be read and is left out (session {edited}: its start rate "
        "'fast' is not a number); the others are shown")


def test_the_figures_read_as_a_few_plain_words():
    assert breathing_text(16.2, 6.8, 0.84) == "16→7/min, 84% in step"
    assert breathing_text(16.2, 6.8, None) == "16→7/min"
    assert breathing_text(14.0, None, 0.5) == "14/min at first, 50% in step"
    assert breathing_text(None, 6.0, None) == "6/min at the end"
    assert breathing_text(None, None, 0.0) == "0% in step"
    assert breathing_text(None, None, None) == ""


def _sessions(folder: Path, sensings: list[SessionSensing | None]) -> list[SessionRecord]:
    with History.open(folder) as history:
        for day, sensing in enumerate(sensings, start=16):
            session = history.begin("paced-exhale", at(f"2026-11-{day}T22:00:00+00:00"))
            history.part_done(session, "arrive")
            history.end(session, "finished", at(f"2026-11-{day}T22:04:05+00:00"),
                        sensing=sensing)
        return history.recent()


def test_the_table_adds_a_breathing_column_only_when_a_session_was_sensed(tmp_path):
    records = _sessions(tmp_path / "sensor", [None, FOLLOWED,
                                              SessionSensing(15.0, None, None)])
    header, partial, sensed, plain = format_recent(records).splitlines()
    assert header.split()[-2:] == ["outcome", "breathing"]
    assert sensed.endswith("finished  16→7/min, 84% in step")
    assert partial.endswith("15/min at first")
    assert plain.split()[-2:] == ["finished", "-"]
    column = header.index("breathing")
    assert sensed.index("16→7") == partial.index("15/min") == plain.index("-", column) == column
    assert header.index("outcome") == sensed.index("finished")
    # without a sensor, the table as it always was
    without = format_recent(_sessions(tmp_path / "none", [None, None])).splitlines()
    assert without[0].split() == ["when", "length", "pattern", "parts", "finished", "outcome"]
    assert all(line.endswith("finished") for line in without[1:])


def test_the_csv_has_the_figures_last_and_blank_without_a_sensor(tmp_path):
    records = _sessions(tmp_path, [None, FOLLOWED])
    stream = io.StringIO()
    write_csv(records, stream)
    header, sensed, plain = csv.reader(io.StringIO(stream.getvalue()))
    assert header[:9] == ["id", "started_utc", "started_local", "ended_utc", "seconds",
                          "pattern", "parts", "outcome", "demo"]
    assert header[9:] == ["start_breaths_per_min", "end_breaths_per_min", "in_step_percent"]
    assert sensed[7:] == ["finished", "0", "16.2", "6.8", "84"]
    assert plain[7:] == ["finished", "0", "", "", ""]
