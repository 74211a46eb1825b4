"""Safe writes: what Ebbtide writes appears whole, never through a symbolic link, and a full
disk leaves the file that was there as it was."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A mount namespace of its own: as root directly (a user namespace is refused in a chroot;
# a chroot into a plain folder, whose / is no mount, allows neither), else in a user one.
_UNSHARE = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]


def ebbtide(*args, env=None):
    environment = {**os.environ, **(env or {})}
    environment.pop("EBBTIDE_CONFIG", None)
    return subprocess.run([*EBBTIDE, *args], capture_output=True, text=True, env=environment,
                          timeout=120, cwd=REPO)


def _sessions(state: Path, count: int) -> None:
    from device.history.store import History

    with History(state / "ebbtide") as history:
        for n in range(count):
            row = history.begin("paced-exhale", datetime(2026, 10, 1 + n, 23, tzinfo=UTC))
            history.end(row, "finished")


def _victim(tmp_path: Path) -> Path:
    """Another person's file, which a link planted in a shared folder points to."""
    victim = tmp_path / "victim" / "notes.txt"
    victim.parent.mkdir()
    victim.write_text("my own notes\n")
    victim.chmod(0o644)
    return victim


def test_history_plot_refuses_a_symlink_at_the_target_and_leaves_its_target_alone(tmp_path):
    _sessions(tmp_path / "state", 2)
    victim = _victim(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "nights.png").symlink_to(victim)
    done = ebbtide("history", "--plot", str(shared / "nights.png"),
                   env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.returncode == 1
    assert done.stderr == (f"ebbtide: cannot write {shared / 'nights.png'}: it is a symbolic "
                           "link, and Ebbtide never writes through one: remove the link or "
                           "choose another name\n")
    assert victim.read_text() == "my own notes\n"
    assert victim.stat().st_mode & 0o777 == 0o644, "the mode of a file not ours is unchanged"
    assert (shared / "nights.png").is_symlink()
    assert sorted(p.name for p in shared.iterdir()) == ["nights.png"], "no temporary file left"


def test_render_refuses_a_symlink_planted_among_its_files(tmp_path):
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "events.csv").symlink_to(victim)
    config = tmp_path / "short.toml"
    config.write_text("[breathing]\nminutes = 1\n")
    done = ebbtide("render", "--config", str(config), "--out", str(out))
    assert done.returncode == 1
    assert done.stderr == (f"ebbtide: cannot write {out / 'events.csv'}: it is a symbolic "
                           "link, and Ebbtide never writes through one: remove the link or "
                           "choose another name\n")
    assert victim.read_text() == "my own notes\n" and victim.stat().st_mode & 0o777 == 0o644
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary file left"


def test_a_trace_file_is_never_written_through_a_symlink(tmp_path):
    victim = _victim(tmp_path)
    (tmp_path / "trace.jsonl").symlink_to(victim)
    done = ebbtide("demo", "--trace", str(tmp_path / "trace.jsonl"))
    assert done.returncode == 1
    assert done.stderr == (f"ebbtide: cannot write the trace file {tmp_path / 'trace.jsonl'}: "
                           "it is a symbolic link, and Ebbtide never writes through one: "
                           "remove the link or choose another name\n")
    assert victim.read_text() == "my own notes\n"


def test_a_picture_replaces_the_old_one_and_keeps_no_wider_mode_than_asked(tmp_path):
    from device.history.store import History
    from device.pictures.history import write_history_picture

    _sessions(tmp_path / "state", 1)
    with History(tmp_path / "state" / "ebbtide") as history:
        records = history.all_sessions()
    target = tmp_path / "nights.png"
    target.write_bytes(b"an older picture")
    target.chmod(0o664)
    hard_link = tmp_path / "other-name.png"  # another name of the old file: it is not touched
    os.link(target, hard_link)
    write_history_picture(records, target, date(2026, 10, 5))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_mode & 0o777 == 0o600, "a new private file"
    assert hard_link.read_bytes() == b"an older picture"
    assert hard_link.stat().st_mode & 0o777 == 0o664, "the old file's mode is not changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nights.png", "other-name.png",
                                                          "state"]


def test_a_full_disk_mid_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    from device.files.atomic_file import WriteFailed, write_atomically

    target = tmp_path / "light.csv"
    target.write_text("t_s,part\n0.00,arrive\n")

    def writer(file) -> None:
        file.write(b"t_s,part\n" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteFailed) as failed:
        write_atomically(target, writer)
    assert str(failed.value) == (f"cannot write {target}: the disk is full: free some space "
                                 "and try again (the file that was there is kept)")
    assert target.read_text() == "t_s,part\n0.00,arrive\n"
    assert [p.name for p in tmp_path.iterdir()] == ["light.csv"]


def test_text_files_are_written_whole_with_the_shared_mode(tmp_path):
    from device.files.atomic_file import atomic_file

    target = tmp_path / "events.csv"
    with atomic_file(target, text=True) as file:
        file.write("t_s,kind\r\n0.000,part\r\n")
    assert target.read_bytes() == b"t_s,kind\r\n0.000,part\r\n", "no newline translation"
    assert target.stat().st_mode & 0o777 == 0o644 & ~_umask()


def test_a_folder_or_a_pipe_at_the_target_is_refused_in_a_plain_line(tmp_path):
    from device.files.atomic_file import WriteFailed, write_atomically

    (tmp_path / "a.png").mkdir()
    os.mkfifo(tmp_path / "b.png")
    with pytest.raises(WriteFailed, match=r"a\.png: it is a folder: give a file name$"):
        write_atomically(tmp_path / "a.png", lambda file: file.write(b"x"))
    with pytest.raises(WriteFailed, match=r"b\.png: it is not a regular file"):
        write_atomically(tmp_path / "b.png", lambda file: file.write(b"x"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_ON_A_TINY_DISK = """
import json, os, sys
from datetime import UTC, date, datetime
from pathlib import Path
from device.history.store import SessionRecord
from device.pictures.history import write_history_picture
from device.pictures.picture import PictureError

disk = Path(sys.argv[1])
target = disk / "nights.png"
target.write_bytes(b"last week's picture")
filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
try:  # the card is full but for 4 kB
    while True:
        os.write(filler, b"x" * 4096)
except OSError:
    pass
os.ftruncate(filler, os.fstat(filler).st_size - 4096)
os.close(filler)
start = datetime(2026, 10, 1, 23, tzinfo=UTC)
records = [SessionRecord(n + 1, start, start.astimezone(), start, "paced-exhale", ("arrive",),
                         "finished") for n in range(40)]
try:
    write_history_picture(records, target, date(2026, 10, 5))
    said = ""
except PictureError as error:
    said = str(error)
print(json.dumps({"said": said, "kept": target.read_bytes()[:40].decode(errors="replace"),
                  "left": sorted(p.name for p in disk.iterdir())}))
"""


def test_a_picture_on_a_really_full_disk_keeps_the_old_one(tmp_path):
    """A real ENOSPC from the kernel: a 256 kB tmpfs in a mount namespace of its own."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare here to make a tiny disk")
    disk = tmp_path / "disk"
    disk.mkdir()
    size = 256 * 1024
    script = tmp_path / "tiny_disk.py"
    script.write_text(_ON_A_TINY_DISK)
    run = subprocess.run(
        [*_UNSHARE, "sh", "-c", f'mount -t tmpfs -o size={size} tmpfs "$1" && '
         'exec "$2" "$3" "$1"', "sh", str(disk), sys.executable, str(script)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    if run.returncode != 0 and ("mount" in run.stderr or "propagation" in run.stderr):
        pytest.skip(f"cannot mount a tiny disk here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen == {
        "said": f"cannot write {disk / 'nights.png'}: the disk is full: free some space and "
                "try again (the file that was there is kept)",
        "kept": "last week's picture", "left": ["filler", "nights.png"]}


def test_the_card_is_never_written_through_a_symlink(tmp_path):
    victim = _victim(tmp_path)
    (tmp_path / "card.pdf").symlink_to(victim)
    done = ebbtide("card", "--country", "uk", "--out", str(tmp_path / "card.pdf"))
    assert done.returncode == 1
    assert done.stderr == (f"ebbtide: cannot write {tmp_path / 'card.pdf'}: it is a symbolic "
                           "link, and Ebbtide never writes through one: remove the link or "
                           "choose another name\n")
    assert victim.read_text() == "my own notes\n" and victim.stat().st_mode & 0o777 == 0o644
