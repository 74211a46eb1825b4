"""The private session history: one SQLite row per session, kept only on this device."""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from device.core.errors import EbbtideError
from device.core.sensed_session import SessionSensing
from device.history.weeks import sessions_per_week, week_of

FILE_NAME = "history.sqlite3"
SCHEMA_VERSION = 3
RUNNING = "running"
ENDINGS = ("finished", "stopped", "interrupted", "error")

# What a session knew of the person's breathing (schema 3): NULL without a sensor, or when it
# could not tell. Rates in breaths a minute; the share of the breathing part's breaths that
# were in step with the pacer, 0-1.
_SENSING_COLUMNS = {
    "start_bpm": "REAL CHECK (start_bpm > 0)",  # their own rate, before the breathing part
    "end_bpm": "REAL CHECK (end_bpm > 0)",  # their rate at the end of the breathing part
    "in_step_share": "REAL CHECK (in_step_share BETWEEN 0 AND 1)",
}

_SCHEMA = """
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
    demo INTEGER NOT NULL DEFAULT 0,  -- 1: a session of `ebbtide demo`, not of the device
""" + ",\n".join(f"    {name} {kind}" for name, kind in _SENSING_COLUMNS.items()) + """
);
"""

# Each step brings a file from the version before it to its own; the index is that version.
_UPGRADES: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE sessions ADD COLUMN demo INTEGER NOT NULL DEFAULT 0",),
    3: tuple(f"ALTER TABLE sessions ADD COLUMN {name} {kind}"
             for name, kind in _SENSING_COLUMNS.items()),
}
# What a reader selects, by the version of the file it reads: a column a file does not have
# yet reads as what every row of it would hold.
_COLUMNS = "id, started, started_local, ended, pattern, parts, outcome, demo, " + ", ".join(
    _SENSING_COLUMNS)
_COLUMNS_BEFORE = {
    1: "id, started, started_local, ended, pattern, parts, outcome, 0, NULL, NULL, NULL",
    2: "id, started, started_local, ended, pattern, parts, outcome, demo, NULL, NULL, NULL",
}
MAX_BPM = 100.0  # a rate above this is no breathing rate: not kept


def default_directory() -> Path:
    """Where the history lives: systemd's StateDirectory=, else the XDG state directory."""
    state = os.environ.get("STATE_DIRECTORY", "")
    if state:
        return Path(state.split(":", 1)[0])
    xdg = os.environ.get("XDG_STATE_HOME", "")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "ebbtide"


class HistoryUnavailable(EbbtideError):
    """The history cannot be used; the caller logs the one-line message and runs without it."""


class HistoryBusy(HistoryUnavailable):
    """Another process holds the history's lock for now: worth trying again later."""


_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes, by the low byte)
_CANNOT_OPEN_READ_ONLY = (8, 14)  # SQLITE_READONLY (no -shm can be made), SQLITE_CANTOPEN


@dataclass(frozen=True)
class SessionRecord:
    """One session as stored; times are timezone-aware."""

    id: int
    started: datetime
    started_local: datetime
    ended: datetime | None
    pattern: str
    parts: tuple[str, ...]
    outcome: str
    demo: bool = False  # run by `ebbtide demo`, not by the device's button
    # What the breath sensor told of the session; None without one (or when it could not
    # tell): the person's rate before the breathing part and at its end (breaths a minute),
    # and the share of the breathing part's breaths in step with the pacer (0-1).
    start_bpm: float | None = None
    end_bpm: float | None = None
    in_step_share: float | None = None

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended is None else self.ended - self.started

    @property
    def sensed(self) -> bool:
        """Whether the sensor told anything of this session."""
        return not (self.start_bpm is None and self.end_bpm is None
                    and self.in_step_share is None)


def _rate(value: float | None) -> float | None:
    """A breathing rate as kept: None for one that is no rate (not a number, not above 0,
    above MAX_BPM), so a slip in what the session measured never costs its row."""
    if value is None or not math.isfinite(value) or not 0 < value <= MAX_BPM:
        return None
    return float(value)


def _share(value: float | None) -> float | None:
    """A share as kept, 0-1 (a rounding step past either end is pulled back), else None."""
    if value is None or not math.isfinite(value) or not -1e-6 <= value <= 1 + 1e-6:
        return None
    return min(1.0, max(0.0, float(value)))


def _sensing_values(sensing: SessionSensing | None) -> tuple[float | None, ...]:
    """The figures kept of a session's sensing, in _SENSING_COLUMNS' order."""
    if sensing is None:
        return (None, None, None)
    return (_rate(sensing.start_bpm), _rate(sensing.end_bpm), _share(sensing.in_step_share))


def _utc(moment: datetime | None) -> str:
    """Naive datetimes are local wall time, as datetime.astimezone() assumes."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


class History:
    """The sessions database in one directory; every change is committed at once.

    `History(directory)` is the service's and the demo's, which write; `History.reading`
    is the reading commands', which never create, change or lock anything. `skipped` says
    which rows could not be read (a date that is not one) and were left out."""

    def __init__(self, directory: Path, timeout: float = 5.0) -> None:
        """`timeout`: how long a statement waits for another process's lock before
        HistoryBusy."""
        self.path = Path(directory) / FILE_NAME
        self.skipped: list[str] = []
        self._columns = _COLUMNS
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Created 0600 before SQLite sees it: the history is private to this device's user.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, isolation_level=None,  # autocommit
                                       timeout=timeout)
        except (OSError, sqlite3.Error) as error:
            raise self._unavailable(error) from None
        try:
            self._prepare()
        except (OSError, sqlite3.Error) as error:
            self._db.close()
            raise self._unavailable(error) from None

    def _unavailable(self, error: Exception) -> HistoryUnavailable:
        """One plain line naming the file, for the caller's log."""
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        reason = " ".join(reason.split())
        if (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF in _BUSY_CODES:
            return HistoryBusy(f"history busy: {self.path} is locked by another program "
                               f"({reason})")
        return HistoryUnavailable(f"history unavailable: {self.path}: {reason}")

    @classmethod
    def open(cls, directory: Path) -> Self:
        return cls(directory)

    @classmethod
    def reading(cls, directory: Path) -> Self:
        """The history opened read-only, for `ebbtide history`: a file the reader may not
        write (read-only, another user's folder, a card gone read-only) is still read, and
        a missing one reads as no sessions and is not created."""
        self = cls.__new__(cls)
        self.path = Path(directory) / FILE_NAME
        self.skipped = []
        self._columns = _COLUMNS
        try:
            self.path.stat()
        except FileNotFoundError:
            self._db = sqlite3.connect(":memory:", isolation_level=None)
            self._db.execute(_SCHEMA)
            return self
        except OSError as error:  # e.g. a file where the folder should be
            raise self._unavailable(error) from None
        address = self.path.resolve().as_uri()
        try:
            try:
                self._db = self._connect_read_only(f"{address}?mode=ro")
            except sqlite3.OperationalError as error:
                # WAL needs its -shm file; where none can be made (a read-only folder or
                # card), SQLite reads the file as it is, which nothing can be changing then.
                if (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF \
                        not in _CANNOT_OPEN_READ_ONLY:
                    raise
                self._db = self._connect_read_only(f"{address}?mode=ro&immutable=1")
        except (OSError, sqlite3.Error) as error:
            raise self._unavailable(error) from None
        return self

    def _connect_read_only(self, uri: str) -> sqlite3.Connection:
        """A read-only connection that has read the schema (so a file it cannot use fails
        here), with an empty table in place of a file that has none yet."""
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the file is damaged")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {version} is newer than this Ebbtide")
            if version == 0:  # made but never written: as a missing file
                db.close()
                db = sqlite3.connect(":memory:", isolation_level=None)
                db.execute(_SCHEMA)
            elif version < SCHEMA_VERSION:  # an older file, read as it is
                self._columns = _COLUMNS_BEFORE[version]
        except BaseException:
            db.close()
            raise
        return db

    def _prepare(self) -> None:
        """WAL, durable commits, an intact file and the current schema, or an exception."""
        if self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise sqlite3.OperationalError("cannot use write-ahead logging")
        # WAL keeps the file consistent after a kill -9 at any moment. FULL also fsyncs the
        # WAL on every commit, so a power cut (a Pi is often just unplugged) cannot lose a
        # session's row either; with a few commits per session the cost does not matter.
        self._db.execute("PRAGMA synchronous=FULL")
        if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("the file is damaged")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema {version} is newer than this Ebbtide")
        if version < SCHEMA_VERSION:
            self._upgrade()
        # SQLite gives -wal and -shm the database's mode already; they hold the same private
        # data, so this only makes sure.
        for suffix in ("-wal", "-shm"):
            sidecar = self.path.with_name(self.path.name + suffix)
            if sidecar.exists():
                os.chmod(sidecar, 0o600)

    def _upgrade(self) -> None:
        """Create the schema, or bring an older file up to it keeping every row, in one
        transaction: a crash or an error leaves the file as it was."""
        self._db.execute("BEGIN IMMEDIATE")
        # Read again under the write lock: another process may have just done the same.
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self._db.execute(_SCHEMA)
        else:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _UPGRADES[step]:
                    self._db.execute(statement)
        if version < SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db.execute("COMMIT")  # on an error, close() rolls the transaction back

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """Every statement goes through here, so no raw sqlite3 error reaches the caller."""
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as error:
            raise self._unavailable(error) from None

    def begin(self, pattern: str, started: datetime | None = None, demo: bool = False) -> int:
        """Record a `running` session at once, so a crash still leaves a trace; `demo` marks
        a session of `ebbtide demo`, kept apart from the device's own when read back."""
        moment = started or datetime.now(UTC)
        local = moment.astimezone().isoformat(timespec="seconds")
        cursor = self._run(
            "INSERT INTO sessions (started, started_local, last_seen, pattern, outcome, demo)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_utc(moment), local, _utc(moment), pattern, RUNNING, int(demo)))
        return int(cursor.lastrowid or 0)

    def save(self, row: int | None, pattern: str, started: datetime, parts: Sequence[str],
             last_seen: datetime, outcome: str = RUNNING, ended: datetime | None = None,
             demo: bool = False, sensing: SessionSensing | None = None) -> int:
        """Write a session's whole row as it stands, and return its id: a new row when `row`
        is None, else the running row brought up to date (an ended one is left alone). So a
        session written late, once a busy history is free, lands as if written as it went.
        `sensing`: what the breath sensor told of it so far (None: nothing, or no sensor);
        its start and end rate and share in step are kept, a figure that is not one as
        NULL."""
        if any("," in part for part in parts):
            raise ValueError(f"a part name cannot contain a comma: {parts!r}")
        if outcome not in (RUNNING, *ENDINGS):
            raise ValueError(f"outcome must be one of {RUNNING}, {', '.join(ENDINGS)}, "
                             f"not {outcome!r}")
        values = (",".join(parts), _utc(last_seen), outcome,
                  None if ended is None else _utc(ended), *_sensing_values(sensing))
        if row is None:
            cursor = self._run(
                "INSERT INTO sessions (parts, last_seen, outcome, ended, start_bpm, end_bpm,"
                " in_step_share, started, started_local, pattern, demo)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, _utc(started), started.astimezone().isoformat(timespec="seconds"),
                 pattern, int(demo)))
            return int(cursor.lastrowid or 0)
        self._run("UPDATE sessions SET parts = ?, last_seen = ?, outcome = ?, ended = ?,"
                  " start_bpm = ?, end_bpm = ?, in_step_share = ?"
                  " WHERE id = ? AND outcome = ?", (*values, row, RUNNING))
        return row

    def part_done(self, session_id: int, part_name: str, at: datetime | None = None) -> None:
        """Append a finished part to a running session; ended sessions are left alone."""
        if "," in part_name:
            raise ValueError(f"a part name cannot contain a comma: {part_name!r}")
        self._run("UPDATE sessions SET parts = parts || (CASE parts WHEN '' THEN '' ELSE ',' END)"
                  " || ?, last_seen = ? WHERE id = ? AND outcome = ?",
                  (part_name, _utc(at), session_id, RUNNING))

    def end(self, session_id: int, outcome: str, ended: datetime | None = None,
            sensing: SessionSensing | None = None) -> None:
        """Close a running session, with what the breath sensor told of it (None: nothing,
        or no sensor); a second end of the same session changes nothing."""
        if outcome not in ENDINGS:
            raise ValueError(f"outcome must be one of {', '.join(ENDINGS)}, not {outcome!r}")
        moment = _utc(ended)
        self._run("UPDATE sessions SET outcome = ?, ended = ?, last_seen = ?, start_bpm = ?,"
                  " end_bpm = ?, in_step_share = ? WHERE id = ? AND outcome = ?",
                  (outcome, moment, moment, *_sensing_values(sensing), session_id, RUNNING))

    def recover(self) -> int:
        """At start-up only: sessions still `running` were cut off by a crash or power loss."""
        cursor = self._run("UPDATE sessions SET outcome = 'interrupted', ended = last_seen"
                           " WHERE outcome = ?", (RUNNING,))
        return cursor.rowcount

    def recent(self, limit: int = 20) -> list[SessionRecord]:
        """Newest first by insertion, not by clock: a Pi without a clock battery can jump.
        A row that cannot be read is left out and noted in `skipped`."""
        rows = self._run(f"SELECT {self._columns} FROM sessions ORDER BY id DESC LIMIT ?",
                         (limit,)).fetchall()
        records = []
        for row in rows:
            try:
                records.append(_record(row))
            except ValueError as error:
                self._skip(row[0], str(error))
        return records

    def _skip(self, row: object, reason: str) -> None:
        note = f"session {row}: {reason}"
        if note not in self.skipped:
            self.skipped.append(note)

    def all_sessions(self) -> list[SessionRecord]:
        """Every session, newest first."""
        return self.recent(-1)  # SQLite reads a negative LIMIT as none

    def weekly(self, weeks: int = 8, today: date | None = None) -> list[tuple[date, int]]:
        """Sessions per local week (Monday first), oldest first, empty weeks included."""
        today = today or date.today()
        first = week_of(today) - timedelta(weeks=weeks - 1)
        rows = self._run("SELECT id, started_local FROM sessions"
                         " WHERE substr(started_local, 1, 10) >= ?",
                         (first.isoformat(),)).fetchall()
        days = []
        for row, text in rows:
            try:
                days.append(_moment(text, "start time").date())
            except ValueError as error:
                self._skip(row, str(error))
        return sessions_per_week(days, today, weeks)

    def recent_nights(self, now: datetime | None = None, days: int = 7) -> int:
        """How many of the device's own sessions (not the demo's) began in the last `days`
        days (nights, for a bedside device)."""
        since = _utc((now or datetime.now(UTC)) - timedelta(days=days))
        row = self._run("SELECT count(*) FROM sessions WHERE demo = 0 AND started >= ?",
                        (since,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _moment(text: object, what: str) -> datetime:
    """A stored time with its offset, or ValueError saying what is wrong with it."""
    try:
        if not isinstance(text, str):  # a number, a blob, a NULL: as fromisoformat would
            raise TypeError(text)
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        shown = text if isinstance(text, str) and len(text) <= 40 else type(text).__name__
        raise ValueError(f"its {what} {shown!r} is not a date and time") from None
    if moment.tzinfo is None:
        raise ValueError(f"its {what} {text!r} has no time zone")
    return moment


def _figure(value: object, what: str) -> float | None:
    """A stored figure (NULL: none), or ValueError saying what is wrong with it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        shown = value if isinstance(value, str) and len(value) <= 40 else type(value).__name__
        raise ValueError(f"its {what} {shown!r} is not a number")
    return float(value)


def _record(row: tuple[Any, ...]) -> SessionRecord:
    """A stored row as a SessionRecord; ValueError when a time or figure in it cannot be
    read (the file was edited by hand, or damaged in a way SQLite's checks do not see)."""
    id_, started, started_local, ended, pattern, parts, outcome, demo, *sensed = row
    start_bpm, end_bpm, in_step_share = sensed
    return SessionRecord(
        id=id_, started=_moment(started, "start time (UTC)"),
        started_local=_moment(started_local, "start time"),
        ended=_moment(ended, "end time") if ended else None, pattern=str(pattern),
        parts=tuple(str(parts).split(",")) if parts else (), outcome=str(outcome),
        demo=bool(demo), start_bpm=_figure(start_bpm, "start rate"),
        end_bpm=_figure(end_bpm, "end rate"),
        in_step_share=_figure(in_step_share, "share in step"))
