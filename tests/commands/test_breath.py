"""`ebbtide breath analyze` as a person meets it: a plain summary, the exact JSON, and one
line naming the file and what is wrong with it, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.sensing.synthetic import breathing

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]
EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]


def ebbtide(*args: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("EBBTIDE_CONFIG", None)
    environment.pop("JOURNAL_STREAM", None)
    return subprocess.run([*EBBTIDE, *args], capture_output=True, text=True, env=environment,
                          timeout=60, cwd=REPO)


def _write(path: Path, t: np.ndarray, a: np.ndarray) -> Path:
    rows = "".join(f"{ti:.4f},{x:.5f},{y:.5f},{z:.5f}\n" for ti, (x, y, z) in zip(t, a,
                                                                                strict=True))
    path.write_text("t_s,ax,ay,az\n" + rows)
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """Two minutes at 12 a minute on the MPU-6050's noise, with a burst of movement."""
    r = breathing(np.random.default_rng(12), 120, 12, bursts=((70.0, 4.0),))
    return _write(tmp_path_factory.mktemp("breath") / "night.csv", r.t_s, r.accel_g)


def test_the_summary_says_the_rate_the_breaths_and_the_usable_share(recording) -> None:
    done = ebbtide("breath", "analyze", str(recording))
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0] == f"{recording}: 120 s of samples, about 50 a second."
    assert lines[1].startswith("Breathing rate: 1") and "a minute (the median of" in lines[1]
    rate = float(lines[1].split()[2])
    assert 11 <= rate <= 13
    assert lines[2].startswith("Breaths found: ")
    assert 15 <= int(lines[2].split()[2].rstrip(".")) <= 25
    assert lines[3].startswith("Usable signal: ") and "with movement" in lines[3]


def test_json_has_exactly_the_windows_the_breaths_and_the_median(recording, tmp_path) -> None:
    out = tmp_path / "night.json"
    done = ebbtide("breath", "analyze", str(recording), "--json", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert list(result) == ["windows", "breaths", "rate_bpm"]
    assert len(result["windows"]) == 10
    for window in result["windows"]:
        assert list(window) == ["t_s", "rate_bpm", "quality", "moving"]
        assert isinstance(window["t_s"], float) and isinstance(window["moving"], bool)
        assert window["rate_bpm"] is None or isinstance(window["rate_bpm"], float)
        assert 0 <= window["quality"] <= 1
    assert [round(w["t_s"]) for w in result["windows"]] == list(range(15, 115, 10))
    assert any(w["moving"] and w["rate_bpm"] is None for w in result["windows"])
    for breath in result["breaths"]:
        assert list(breath) == ["inhale_s", "exhale_s"]
        assert breath["inhale_s"] < breath["exhale_s"]
    rates = [w["rate_bpm"] for w in result["windows"] if w["rate_bpm"] is not None]
    assert result["rate_bpm"] == pytest.approx(float(np.median(rates)), abs=0.01)
    summary = done.stdout.splitlines()
    assert f"Breaths found: {len(result['breaths'])}." in summary


def test_no_readable_breathing_says_so(tmp_path) -> None:
    t = np.arange(0, 40, 0.02)
    a = np.array([0.0, 0.0, 1.0]) + np.random.default_rng(0).normal(0, 0.002, (t.size, 3))
    out = tmp_path / "idle.json"
    done = ebbtide("breath", "analyze", str(_write(tmp_path / "idle.csv", t, a)), "--json",
                   str(out))
    assert done.returncode == 0
    assert "Breathing rate: none could be read" in done.stdout
    assert json.loads(out.read_text())["rate_bpm"] is None


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    t = np.arange(0, 20, 0.02)
    still = np.tile([0.0, 0.0, 1.0], (t.size, 1))
    good = "".join(f"{ti:.2f},0,0,1\n" for ti in t)
    cases = {
        "missing": (folder / "nowhere.csv", "no such file"),
        "folder": (folder, "it is a folder, not a file"),
        "binary": (folder / "binary.csv", "is not a CSV text file"),
        "columns": (folder / "columns.csv", "its first line should be t_s,ax,ay,az, but it is "
                                            "'time,x,y,z'"),
        "short row": (folder / "short.csv", "line 3 is not four numbers"),
        "nan": (folder / "nan.csv", "line 3 holds a number that is not finite"),
        "backwards": (folder / "back.csv", "line 4: the time goes back, from 0.02 s to 0.01 s"),
        "too short": (folder / "short-time.csv", "holds only 5.0 s of samples; at least 15 s"),
        "slow": (folder / "slow.csv", "holds 2.0 samples a second; at least 10"),
        "empty": (folder / "empty.csv", "(the file is empty)"),
        "fifo": (folder / "pipe.csv", "it is a named pipe (FIFO), not a file"),
        "huge": (folder / "huge.csv", "more than the 64 MB allowed"),
    }
    cases["binary"][0].write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    cases["columns"][0].write_text("time,x,y,z\n" + good)
    cases["short row"][0].write_text("t_s,ax,ay,az\n0,0,0,1\n0.02,0,1\n")
    cases["nan"][0].write_text("t_s,ax,ay,az\n0,0,0,1\n0.02,nan,0,1\n")
    cases["backwards"][0].write_text("t_s,ax,ay,az\n0,0,0,1\n0.02,0,0,1\n0.01,0,0,1\n")
    _write(cases["too short"][0], t[:251], still[:251])
    _write(cases["slow"][0], np.arange(0, 30, 0.5), np.tile([0.0, 0, 1], (60, 1)))
    cases["empty"][0].write_text("")
    os.mkfifo(cases["fifo"][0])
    with open(cases["huge"][0], "wb") as huge:
        huge.truncate(65 * 2**20)  # sparse: no disk used
    return cases


def test_each_bad_file_is_one_line_naming_it_and_what_is_wrong(tmp_path) -> None:
    for name, (path, what) in _bad_files(tmp_path).items():
        done = ebbtide("breath", "analyze", str(path))
        assert done.returncode == 1, name
        assert done.stdout == "", name
        assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"ebbtide: {path}: "), \
            (name, done.stderr)
        assert what in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr


def test_a_json_that_cannot_be_written_says_so(recording, tmp_path) -> None:
    done = ebbtide("breath", "analyze", str(recording), "--json",
                   str(tmp_path / "no-folder" / "out.json"))
    assert done.returncode == 1
    assert done.stderr.startswith("ebbtide: cannot write ") and "the folder does not exist" in \
        done.stderr


def test_breath_alone_lists_its_commands() -> None:
    done = ebbtide("breath", "--help")
    assert done.returncode == 0 and "analyze" in done.stdout
