"""The history as households meet it at its edges: a read-only card or file, a history
another program holds locked, and a row a hand edit broke."""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from device.core.config_schema import parse
from device.files.script_file import load_script
from device.history.store import FILE_NAME, History
from device.service.appliance import Appliance
from device.service.clock import SimulatedClock

REPO = Path(__file__).resolve().parents[2]
# A mount namespace of its own: as root directly (a user namespace is refused in a chroot;
# a chroot into a plain folder, whose / is no mount, allows neither), else in a user one.
_UNSHARE = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]


def ebbtide(*args, env=None, **options):
    environment = {**os.environ, **(env or {})}
    environment.pop("EBBTIDE_CONFIG", None)
    return subprocess.run([*EBBTIDE, *args], capture_output=True, text=True, env=environment,
                          timeout=120, cwd=REPO, **options)


def _sessions(folder: Path, starts: list[str]) -> None:
    with History(folder) as history:
        for start in starts:
            row = history.begin("paced-exhale", datetime.datetime.fromisoformat(start))
            history.part_done(row, "arrive")
            history.end(row, "finished",
                        datetime.datetime.fromisoformat(start) + datetime.timedelta(minutes=9))


# -- read-only --------------------------------------------------------------------------

_READ_ON_A_READ_ONLY_CARD = """
set -e
mount -t tmpfs tmpfs "$1"
mkdir -m 700 "$1/ebbtide"
"$2" -c 'import sys; sys.path.insert(0, sys.argv[2]); from tests.history.test_store_access import \
_sessions; from pathlib import Path; _sessions(Path(sys.argv[1]), ["2026-11-20T23:00:00"])' \
  "$1/ebbtide" "$3"
mount -o remount,ro "$1"
cd "$3"
XDG_STATE_HOME="$1" exec "$2" -c 'import sys; from device.cli import main; sys.exit(main())' \
  history
"""


def test_history_reads_a_card_that_went_read_only(tmp_path):
    """An SD card the kernel remounted read-only after errors: nothing can be written, not
    even SQLite's -shm file; the sessions are still shown."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare here to make a read-only card")
    card = tmp_path / "card"
    card.mkdir()
    done = subprocess.run([*_UNSHARE, "sh", "-c", _READ_ON_A_READ_ONLY_CARD, "sh",
                           str(card), sys.executable, str(REPO)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and ("mount" in done.stderr or "propagation" in done.stderr):
        pytest.skip(f"cannot mount a card here: {done.stderr.strip()}")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1].split()[:2] == ["2026-11-20", "23:00"]


def _as_nobody(action) -> str:
    """What `action()` returns (or the one-line error it raises), run in a child that has
    dropped root (root ignores file modes); run here when not root."""
    def attempt() -> str:
        try:
            return action()
        except Exception as error:  # the message is what the test looks at
            return f"{type(error).__name__}: {error}"

    if os.geteuid() != 0:
        return attempt()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, attempt().encode())
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 3:
        pytest.skip("running as root, and could not drop to uid 65534")
    return said


def test_history_reads_a_file_its_reader_may_not_write(tmp_path):
    """A history file made read-only (0400) in a folder its reader cannot write either (no
    -shm file can be made): read as it is; nothing created, changed or chmodded."""
    from device.history.report import format_recent

    base = Path(tempfile.mkdtemp(prefix="ebbtide-ro-"))  # not tmp_path: 0700 to others
    folder = base / "ebbtide"
    try:
        base.chmod(0o755)
        folder.mkdir()
        _sessions(folder, ["2026-11-20T23:00:00", "2026-11-21T22:30:00"])
        before = sorted(p.name for p in folder.iterdir())
        if os.geteuid() == 0:
            for path in (folder, folder / FILE_NAME):
                os.chown(path, 65534, 65534)
        (folder / FILE_NAME).chmod(0o400)
        folder.chmod(0o500)

        def read() -> str:
            with History.reading(folder) as history:
                return format_recent(history.recent())

        table = _as_nobody(read)
        assert [line.split()[:2] for line in table.splitlines()[1:]] == [
            ["2026-11-21", "22:30"], ["2026-11-20", "23:00"]], table
        assert sorted(p.name for p in folder.iterdir()) == before
        assert (folder / FILE_NAME).stat().st_mode & 0o777 == 0o400
    finally:
        folder.chmod(0o700)
        shutil.rmtree(base, ignore_errors=True)


def test_reading_an_absent_history_creates_nothing(tmp_path):
    done = ebbtide("history", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert (done.returncode, done.stdout) == (0, "No sessions yet.\n")
    assert not (tmp_path / "state").exists()


# -- a row that cannot be read -----------------------------------------------------------

def _with_a_broken_row(state: Path) -> None:
    folder = state / "ebbtide"
    _sessions(folder, ["2026-11-20T23:00:00", "2026-11-21T22:30:00"])
    db = sqlite3.connect(folder / FILE_NAME)
    db.execute("UPDATE sessions SET started_local = '2026-13-45T25:00:00+01:00' WHERE id = 1")
    db.commit()
    db.close()


NOTE = ("ebbtide: one session could not be read and is left out (session 1: its start time "
        "'2026-13-45T25:00:00+01:00' is not a date and time); the others are shown\n")


def test_a_row_with_a_bad_date_is_left_out_of_the_table_with_one_note(tmp_path):
    _with_a_broken_row(tmp_path / "state")
    done = ebbtide("history", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert (done.returncode, done.stderr) == (0, NOTE)
    lines = done.stdout.splitlines()
    assert lines[1].split()[:2] == ["2026-11-21", "22:30"]
    assert not lines[2].startswith("2026"), "only the readable session"


def test_a_row_with_a_bad_date_is_left_out_of_the_csv_with_one_note(tmp_path):
    _with_a_broken_row(tmp_path / "state")
    done = ebbtide("history", "--csv", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert (done.returncode, done.stderr) == (0, NOTE)
    assert [line.split(",")[0] for line in done.stdout.splitlines()] == ["id", "2"]


def test_a_row_with_a_bad_date_is_left_out_of_the_picture_with_one_note(tmp_path):
    _with_a_broken_row(tmp_path / "state")
    done = ebbtide("history", "--plot", str(tmp_path / "nights.png"),
                   env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert (done.returncode, done.stderr) == (0, NOTE)
    assert done.stdout == f"drew {tmp_path / 'nights.png'}: 1 session\n"


# -- a history another program holds locked ----------------------------------------------

class _Pin(MockPWMPin):
    pass


def test_a_history_locked_at_start_is_tried_again_and_the_session_recorded(tmp_path, caplog):
    """Another program (a backup, an sqlite3 shell) holds the history's write lock when the
    service starts and through a whole session; once it lets go, the session is there, whole.
    Today's service gave the history up for its whole life."""
    folder = tmp_path / "state"
    History(folder).close()
    locker = sqlite3.connect(folder / FILE_NAME, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")

    def open_history() -> History:
        history = History(folder, timeout=0.05)
        try:
            history.recover()
        except BaseException:
            history.close()
            raise
        return history

    clock = SimulatedClock()
    factory = MockFactory(pin_class=_Pin)
    events: list = []
    wall = datetime.datetime(2026, 11, 20, 23, 0, tzinfo=datetime.UTC)
    caplog.set_level(logging.INFO, "ebbtide")
    device = Appliance(parse({"breathing": {"minutes": 1}, "voice": {"enabled": False}}),
                       load_script(), clock=clock, pin_factory=factory,
                       listener=lambda e: events.append((e.kind, e.record())),
                       wall_clock=lambda: wall + datetime.timedelta(seconds=clock.now()),
                       open_history=open_history)
    try:
        button = factory.pin(17)
        clock.at(1.0, button.drive_low)
        clock.at(1.1, button.drive_high)
        length = device.plan.seconds
        clock.at(length + 60.0, locker.rollback)  # the other program lets go after the session
        clock.at(length + 200.0, device.controller.quit)
        device.serve()
    finally:
        device.close()
        factory.close()
        locker.close()
    assert [f["state"] for e, f in events if e == "session"] == ["started", "finished"]
    with History.reading(folder) as history:
        [row] = history.recent()
    assert row.outcome == "finished"
    assert row.parts == tuple(p.name for p in device.plan.parts)
    assert row.started == wall + datetime.timedelta(seconds=1.0)
    assert abs(row.duration.total_seconds() - length) <= 1.0
    said = [r.getMessage() for r in caplog.records]
    busy = [line for line in said if "locked by another program" in line]
    assert len(busy) == 1 and "records the sessions once it is free" in busy[0]
    assert "the history is free again: every session is recorded" in said
