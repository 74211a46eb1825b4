"""The privacy promise, checked as the installer runs Ebbtide: a cold `ebbtide check` with the
natural voice, traced with strace, opens no internet socket in any process, and leaves
nothing in home, the XDG folders or TMPDIR but Ebbtide's own files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

# Where onnxruntime sees one of these (its library holds the names) it sends nothing, so
# on a CI machine a test that only watched the traffic would pass without any ban: the
# traced run has them removed, and it also looks for the ban itself.
CI_MARKERS = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
              "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION",
              "APPVEYOR", "BITBUCKET_BUILD_NUMBER")
FOLDERS = {"HOME": "home", "XDG_CACHE_HOME": "cache", "XDG_CONFIG_HOME": "config",
           "XDG_DATA_HOME": "data", "XDG_STATE_HOME": "state", "TMPDIR": "tmp"}
INTERNET = r"AF_INET6?|AF_PACKET"
RESULT = re.compile(r"\) = (-?\d+)")


def traced_check(tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict[int, list[str]]]:
    """`ebbtide check` with the natural voice, cold (a new cache), every process and thread
    traced; returns its output and each thread's calls (strace -ff: a file per thread)."""
    config = tmp_path / "config.toml"
    config.write_text('[voice]\nengine = "piper"\n')
    env = {k: v for k, v in os.environ.items() if k not in CI_MARKERS}
    for name, folder in FOLDERS.items():
        (tmp_path / folder).mkdir(mode=0o700)
        env[name] = str(tmp_path / folder)
    env["GPIOZERO_PIN_FACTORY"] = "mock"
    (tmp_path / "trace").mkdir()
    done = subprocess.run(
        ["strace", "-f", "-ff", "-qq", "-s", "512", "-o", str(tmp_path / "trace" / "t"),
         "-e", "trace=socket,socketpair,connect,sendto,sendmsg,bind,io_uring_setup,execve,"
               "openat",
         str(Path(sys.executable).with_name("ebbtide")), "check", "--config", str(config)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    threads = {int(path.suffix[1:]): path.read_text(errors="replace").splitlines()
               for path in (tmp_path / "trace").iterdir()}
    return done, threads


@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace (./setup.sh test "
                                                       "installs it)")
def test_a_cold_check_reaches_no_network_and_writes_only_its_own_files(tmp_path) -> None:
    done, threads = traced_check(tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^voice: piper ", done.stdout, re.M), done.stdout
    assert re.search(r"lines ready \(\d+ made now", done.stdout), "the voice was cold"

    calls = [call for lines in threads.values() for call in lines]
    internet = [c for c in calls if re.match(rf"socket(pair)?\(({INTERNET})\b", c)]
    reached = [c for c in calls if re.match(r"(connect|sendto|sendmsg|bind)\(", c)
               and re.search(rf"sa_family=({INTERNET})\b", c)]
    made = [c for c in internet if int(RESULT.search(c)[1]) >= 0]
    assert made == [] and reached == [], made + reached
    assert not [c for c in calls if c.startswith("io_uring_setup(") and " = -1 " not in c]

    # Every voice maker gave up the network before numpy or onnxruntime loaded: its
    # refused socket(AF_INET) is the proof (the main thread's file holds the exec and it).
    makers = [lines for lines in threads.values()
              if any(c.startswith("execve(") and "audio.voice_child" in c for c in lines)]
    assert makers, "the trace shows the voice maker"
    for lines in makers:
        refused = [i for i, c in enumerate(lines)
                   if c.startswith("socket(AF_INET,") and c.endswith(" EACCES (Permission denied)")]
        numpy = next(i for i, c in enumerate(lines) if "/numpy/" in c)
        assert refused and refused[0] < numpy, "the network went before numpy came"
    assert any("/onnxruntime/" in c for lines in makers for c in lines), "Piper spoke"

    # Home, XDG folders and TMPDIR: only the voice cache, and in its home no file at all
    # (onnxruntime would keep a device id and its queued events there). The one other file
    # is the local sound server's: the audio check's PulseAudio client keeps its cookie.
    voice = tmp_path / "cache" / "ebbtide" / "voice"
    found = {path.relative_to(tmp_path) for folder in FOLDERS.values()
             for path in (tmp_path / folder).rglob("*")}
    outside = sorted(str(p) for p in found if not (tmp_path / p).is_relative_to(voice)
                     and not voice.is_relative_to(tmp_path / p))
    assert set(outside) <= {"config/pulse", "config/pulse/cookie"}, outside
    clips = {p.name for p in voice.iterdir() if p.suffix == ".wav"}
    assert len(clips) > 1
    assert {p.name for p in voice.iterdir()} - clips == {"models.json", "home"}
    assert [p for p in (voice / "home").rglob("*") if not p.is_dir()] == []
