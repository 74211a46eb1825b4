"""The session history on real SQLite files: private, crash-proof, and readable by its owner."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from device.history.report import format_recent, format_weekly, write_csv
from device.history.store import FILE_NAME, SCHEMA_VERSION, History, HistoryUnavailable

REPO = Path(__file__).resolve().parents[2]
ALL_PARTS = ("arrive", "breathe", "ground", "body", "aftercare", "close")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def berlin(monkeypatch):
    """Local time an hour ahead of UTC in November, so local and UTC dates can differ."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_finished_stopped_and_failed_sessions_are_kept_with_their_parts(tmp_path):
    with History.open(tmp_path) as history:
        finished = history.begin("paced-exhale", at("2026-11-16T21:00:00+00:00"))
        for part in ALL_PARTS:
            history.part_done(finished, part)
        history.end(finished, "finished", at("2026-11-16T21:09:30+00:00"))
        stopped = history.begin("box", at("2026-11-17T01:00:00+00:00"))
        history.part_done(stopped, "arrive")
        history.end(stopped, "stopped", at("2026-11-17T01:01:05+00:00"))
        failed = history.begin("4-7-8", at("2026-11-17T02:00:00+00:00"))
        history.end(failed, "error", at("2026-11-17T02:00:02+00:00"))
    with History.open(tmp_path) as history:
        newest, middle, oldest = history.recent()
    assert (oldest.id, oldest.pattern, oldest.parts, oldest.outcome) == (
        finished, "paced-exhale", ALL_PARTS, "finished")
    assert oldest.duration.total_seconds() == 570
    assert (middle.parts, middle.outcome, middle.duration.total_seconds()) == (
        ("arrive",), "stopped", 65)
    assert (newest.parts, newest.outcome) == ((), "error")
    assert newest.started == at("2026-11-17T02:00:00+00:00")


def test_a_running_session_is_on_disk_before_it_ends(tmp_path):
    with History.open(tmp_path) as history:
        session = history.begin("paced-exhale")
        history.part_done(session, "arrive")
        other = sqlite3.connect(tmp_path / FILE_NAME)
        row = other.execute("SELECT outcome, parts, ended FROM sessions").fetchone()
        other.close()
    assert row == ("running", "arrive", None)


def test_an_ended_session_cannot_be_ended_again_or_grow_parts(tmp_path):
    with History.open(tmp_path) as history:
        session = history.begin("paced-exhale")
        history.end(session, "stopped")
        history.end(session, "finished")
        history.part_done(session, "breathe")
        with pytest.raises(ValueError, match="outcome"):
            history.end(session, "running")
        [record] = history.recent()
    assert (record.outcome, record.parts) == ("stopped", ())


def test_the_files_are_private_to_the_owner(tmp_path):
    directory = tmp_path / "state" / "ebbtide"
    with History.open(directory) as history:
        history.end(history.begin("paced-exhale"), "finished")
        files = {path.name: mode(path) for path in directory.iterdir()}
        assert files == {FILE_NAME: 0o600, f"{FILE_NAME}-wal": 0o600, f"{FILE_NAME}-shm": 0o600}
    assert mode(directory) == 0o700


def test_a_database_left_readable_by_others_is_made_private_again(tmp_path):
    History.open(tmp_path).close()
    (tmp_path / FILE_NAME).chmod(0o644)
    History.open(tmp_path).close()
    assert mode(tmp_path / FILE_NAME) == 0o600


def test_the_database_uses_write_ahead_logging_and_a_schema_version(tmp_path):
    History.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / FILE_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_recover_marks_a_cut_off_session_interrupted_at_its_last_sign_of_life(tmp_path):
    with History.open(tmp_path) as history:
        done = history.begin("box")
        history.end(done, "finished")
        cut = history.begin("paced-exhale", at("2026-11-20T22:00:00+00:00"))
        history.part_done(cut, "arrive", at("2026-11-20T22:00:40+00:00"))
        history.part_done(cut, "breathe", at("2026-11-20T22:04:00+00:00"))
    with History.open(tmp_path) as history:
        assert history.recover() == 1
        assert history.recover() == 0
        records = {record.id: record for record in history.recent()}
    assert records[done].outcome == "finished"
    assert (records[cut].outcome, records[cut].parts) == ("interrupted", ("arrive", "breathe"))
    assert records[cut].ended == at("2026-11-20T22:04:00+00:00")


CHILD = """
import sys
from pathlib import Path
from device.history.store import History

history = History.open(Path(sys.argv[1]))
print(history.begin("paced-exhale"), flush=True)
while True:
    session = history.begin("box")
    for part in ("arrive", "breathe", "ground", "body", "aftercare", "close"):
        history.part_done(session, part)
    history.end(session, "finished")
    print(session, flush=True)
"""


def test_kill_9_at_any_moment_leaves_an_intact_history(tmp_path):
    with History.open(tmp_path) as history:
        for _ in range(3):
            history.end(history.begin("paced-exhale"), "finished")
        before = {record.id: record for record in history.recent(limit=10_000)}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    delays = random.Random(9).sample(range(0, 60, 3), 20)  # ms, each one different
    sessions_written = 0
    for delay in delays:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running = int(child.stdout.readline())
        time.sleep(delay / 1000)  # let the child write for a while before it is killed
        child.send_signal(signal.SIGKILL)
        reported, errors = child.communicate()
        assert child.returncode == -signal.SIGKILL, errors
        finished = [int(line) for line in reported.split()]
        sessions_written += len(finished)

        db = sqlite3.connect(tmp_path / FILE_NAME)
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        db.close()
        with History.open(tmp_path) as history:
            assert history.recover() >= 1
            after = {record.id: record for record in history.recent(limit=10_000)}
        assert {key: after[key] for key in before} == before
        assert after[running].outcome == "interrupted"
        assert all(after[session].parts == ALL_PARTS for session in finished)
        assert all(after[session].outcome == "finished" for session in finished)
        assert "running" not in {record.outcome for record in after.values()}
        before = after
    assert sessions_written > 0  # the kills did land while sessions were being written


def test_weekly_counts_local_weeks_from_monday_including_empty_ones(tmp_path):
    with History.open(tmp_path) as history:
        for local in ("2026-10-25T23:59:59",  # the Sunday before the first week: not counted
                      "2026-10-26T00:00:00",  # Monday: the first week
                      "2026-11-15T23:59:59",  # Sunday: still the week of 9 November
                      "2026-11-16T00:00:00",  # Monday: the current week
                      "2026-11-18T12:00:00"):
            history.end(history.begin("paced-exhale", at(local)), "finished")
        weeks = history.weekly(weeks=4, today=date(2026, 11, 18))
    assert weeks == [(date(2026, 10, 26), 1), (date(2026, 11, 2), 0),
                     (date(2026, 11, 9), 1), (date(2026, 11, 16), 2)]


def test_sessions_are_shown_and_counted_in_the_local_time_they_happened(tmp_path, berlin):
    with History.open(tmp_path) as history:
        history.end(history.begin("paced-exhale", at("2026-11-15T23:30:00+00:00")), "finished")
        weeks = history.weekly(weeks=2, today=date(2026, 11, 18))
        table = format_recent(history.recent())
    assert weeks == [(date(2026, 11, 9), 0), (date(2026, 11, 16), 1)]
    assert "2026-11-16 00:30" in table


def test_recent_is_a_plain_table_and_an_empty_history_says_so(tmp_path):
    with History.open(tmp_path) as history:
        assert format_recent(history.recent()) == "No sessions yet."
        session = history.begin("paced-exhale", at("2026-11-16T21:00:00"))
        history.part_done(session, "arrive")
        history.part_done(session, "breathe")
        history.end(session, "stopped", at("2026-11-16T21:04:05"))
        history.begin("box", at("2026-11-16T22:00:00"))
        header, running, stopped = format_recent(history.recent()).splitlines()
    assert header.split() == ["when", "length", "pattern", "parts", "finished", "outcome"]
    assert header.index("parts finished") == stopped.index("arrive,breathe"), "one column"
    assert running.split() == ["2026-11-16", "22:00", "-", "box", "-", "running"]
    assert stopped.split() == ["2026-11-16", "21:00", "4:05", "paced-exhale",
                               "arrive,breathe", "stopped"]
    assert header.index("outcome") == running.index("running") == stopped.index("stopped")


def test_weekly_bars_are_scaled_to_the_busiest_week():
    weeks = [(date(2026, 11, 2), 0), (date(2026, 11, 9), 1), (date(2026, 11, 16), 4)]
    assert format_weekly(weeks, bar_width=8).splitlines() == [
        "2026-11-02  ░░░░░░░░  0",
        "2026-11-09  ██░░░░░░  1",
        "2026-11-16  ████████  4",
    ]
    assert format_weekly([(date(2026, 11, 16), 0)]) == "No sessions in this week."
    assert format_weekly([]) == "No sessions yet."


def test_csv_export_reads_back_field_for_field(tmp_path):
    with History.open(tmp_path) as history:
        session = history.begin("paced-exhale", at("2026-11-16T21:00:00+00:00"))
        history.part_done(session, "arrive")
        history.part_done(session, "breathe")
        history.end(session, "finished", at("2026-11-16T21:05:00+00:00"))
        history.begin("box", at("2026-11-16T22:00:00+00:00"))
        records = history.recent()
    stream = io.StringIO()
    write_csv(records, stream)
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows[0] == ["id", "started_utc", "started_local", "ended_utc", "seconds",
                       "pattern", "parts", "outcome", "demo", "start_breaths_per_min",
                       "end_breaths_per_min", "in_step_percent"]
    assert rows[1][0] == str(records[0].id)
    assert rows[1][3:] == ["", "", "box", "", "running", "0", "", "", ""]
    assert rows[2][1] == "2026-11-16T21:00:00+00:00"
    assert rows[2][3:] == ["2026-11-16T21:05:00+00:00", "300", "paced-exhale",
                           "arrive,breathe", "finished", "0", "", "", ""]
    assert datetime.fromisoformat(rows[2][2]) == records[1].started


def test_a_directory_that_cannot_be_created_makes_history_unavailable(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(HistoryUnavailable) as raised:
        History.open(tmp_path / "file" / "sub")
    message = str(raised.value)
    assert str(tmp_path / "file" / "sub" / FILE_NAME) in message and "\n" not in message


def test_a_corrupt_file_makes_history_unavailable_and_is_left_as_it_was(tmp_path):
    garbage = b"this is not a database, just some bytes" * 200
    (tmp_path / FILE_NAME).write_bytes(garbage)
    with pytest.raises(HistoryUnavailable) as raised:
        History.open(tmp_path)
    assert str(tmp_path / FILE_NAME) in str(raised.value)
    assert (tmp_path / FILE_NAME).read_bytes() == garbage


def test_a_history_from_a_newer_version_is_not_touched(tmp_path):
    History.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(HistoryUnavailable, match="newer"):
        History.open(tmp_path)


def test_a_closed_history_raises_history_unavailable_not_sqlite_errors(tmp_path):
    history = History.open(tmp_path)
    history.close()
    with pytest.raises(HistoryUnavailable, match=FILE_NAME):
        history.begin("paced-exhale")


def test_a_damaged_page_inside_a_valid_file_is_found_when_opening(tmp_path):
    with History.open(tmp_path) as history:
        for _ in range(200):
            history.end(history.begin("paced-exhale"), "finished")
    with open(tmp_path / FILE_NAME, "r+b") as damaged:
        damaged.seek(4096 + 8)  # inside the second page, past its header
        damaged.write(b"\xff" * 4000)
    with pytest.raises(HistoryUnavailable) as raised:
        History.open(tmp_path)
    assert str(tmp_path / FILE_NAME) in str(raised.value) and "\n" not in str(raised.value)


# The schema of version 1, exactly as Ebbtide before the demo column created it.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,        -- UTC, ISO 8601
    started_local TEXT NOT NULL,  -- local wall time with its offset, as shown to the user
    ended TEXT,                   -- UTC; for an interrupted session, when it was last seen
    last_seen TEXT NOT NULL,      -- UTC of the start or the last finished part
    pattern TEXT NOT NULL,
    parts TEXT NOT NULL DEFAULT '',  -- finished parts, comma separated, in order
    outcome TEXT NOT NULL CHECK (outcome IN
        ('running', 'finished', 'stopped', 'interrupted', 'error'))
);
"""


def make_version_1_file(directory: Path) -> None:
    """A history as the previous Ebbtide left it: WAL, version 1, a finished and a running
    session."""
    db = sqlite3.connect(directory / FILE_NAME, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(f"BEGIN IMMEDIATE; {V1_SCHEMA} PRAGMA user_version=1; COMMIT;")
    db.execute("INSERT INTO sessions (started, started_local, ended, last_seen, pattern, parts,"
               " outcome) VALUES ('2026-11-16T21:00:00+00:00', '2026-11-16T22:00:00+01:00',"
               " '2026-11-16T21:09:30+00:00', '2026-11-16T21:09:30+00:00', 'box',"
               " 'arrive,breathe', 'finished')")
    db.execute("INSERT INTO sessions (started, started_local, last_seen, pattern, outcome)"
               " VALUES ('2026-11-17T01:00:00+00:00', '2026-11-17T02:00:00+01:00',"
               " '2026-11-17T01:00:00+00:00', 'paced-exhale', 'running')")
    db.close()
    (directory / FILE_NAME).chmod(0o600)


def test_a_version_1_history_is_upgraded_in_place_keeping_every_session(tmp_path):
    make_version_1_file(tmp_path)
    with History.open(tmp_path) as history:
        assert history.recover() == 1
        running, finished = history.recent()
        later = history.begin("box", at("2026-11-18T21:00:00+00:00"))
        history.end(later, "finished", at("2026-11-18T21:05:00+00:00"))
    assert (finished.id, finished.pattern, finished.parts, finished.outcome, finished.demo) == (
        1, "box", ("arrive", "breathe"), "finished", False)
    assert finished.started_local == at("2026-11-16T22:00:00+01:00")
    assert finished.duration.total_seconds() == 570
    assert (running.id, running.outcome, running.demo) == (2, "interrupted", False)
    db = sqlite3.connect(tmp_path / FILE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert db.execute("SELECT id, demo, start_bpm, end_bpm, in_step_share FROM sessions"
                      " ORDER BY id").fetchall() == [
        (1, 0, None, None, None), (2, 0, None, None, None), (later, 0, None, None, None)]
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    assert mode(tmp_path / FILE_NAME) == 0o600


def test_an_upgrade_that_fails_makes_history_unavailable_and_leaves_the_file(tmp_path):
    make_version_1_file(tmp_path)
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute("ALTER TABLE sessions ADD COLUMN demo TEXT")  # an odd file the step cannot fix
    db.commit()
    db.close()
    with pytest.raises(HistoryUnavailable, match="duplicate column") as raised:
        History.open(tmp_path)
    assert str(tmp_path / FILE_NAME) in str(raised.value) and "\n" not in str(raised.value)
    db = sqlite3.connect(tmp_path / FILE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2
    db.close()


def test_a_demo_session_is_marked_in_the_table_and_the_csv(tmp_path):
    directory = tmp_path / "state" / "ebbtide"
    with History.open(directory) as history:
        device = history.begin("paced-exhale", at("2026-11-16T21:00:00"))
        history.end(device, "finished", at("2026-11-16T21:05:00"))
        demo = history.begin("box", at("2026-11-16T22:00:00"), demo=True)
        history.part_done(demo, "arrive")
        history.end(demo, "finished", at("2026-11-16T22:03:00"))
        records = history.recent()
    assert [(r.id, r.demo) for r in records] == [(demo, True), (device, False)]
    header, demo_row, device_row = format_recent(records).splitlines()
    assert demo_row.split()[-2:] == ["finished", "(demo)"]
    assert device_row.split()[-1] == "finished" and "demo" not in device_row
    assert header.index("outcome") == demo_row.index("finished (demo)")
    stream = io.StringIO()
    write_csv(records, stream)
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows[0][7:9] == ["outcome", "demo"] and len(rows[0]) == 12
    assert [row[8] for row in rows[1:]] == ["1", "0"]
    assert [row[7] for row in rows[1:]] == ["finished", "finished"]
    assert mode(directory / FILE_NAME) == 0o600
