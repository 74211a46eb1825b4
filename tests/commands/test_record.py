"""`ebbtide record` as a person meets it: the listing, the clear messages, the walk through the
lines (keep, redo, skip, quit, stop and go on later), and a whole recording through the real
audio stack, where PulseAudio's null sink monitor is the microphone and paplay is the voice.
"""

from __future__ import annotations

import io
import os
import queue
import stat
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyloudnorm
import pytest

import device.commands.record as record
from audio.clip import Clip
from audio.loudness import TARGET_LUFS
from audio.stream import AudioUnavailable
from device.commands.record import record_lines
from device.core.config import Config, VoiceConfig
from device.files.script_file import load_script

SCRIPT = load_script()
IDS = [line_id for line_id, _ in SCRIPT.lines]
EBBTIDE = [sys.executable, "-m", "device.cli"]
REPO = Path(__file__).resolve().parents[2]


def speech_like(seconds: float, rate: int = 48000, seed: int = 5) -> np.ndarray:
    """Syllables of a gliding voiced tone with a hiss of fricatives: speech enough to trim,
    level and recognise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(140.0 + 25.0 * np.sin(2 * np.pi * 0.6 * t)) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 15))
    x = voiced * (0.25 + 0.75 * np.abs(np.sin(2 * np.pi * 2.0 * t)))
    x += rng.standard_normal(len(t)) * 0.25 * (np.sin(2 * np.pi * 1.3 * t) > 0.7)
    ramp = round(0.015 * rate)
    x[:ramp] *= np.linspace(0.0, 1.0, ramp)
    x[-ramp:] *= np.linspace(1.0, 0.0, ramp)
    return 0.4 * x / np.abs(x).max()


def private_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an `ebbtide` process that keeps every file inside tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "EBBTIDE_"))}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"), **extra)
    for name in ("HOME", "XDG_RUNTIME_DIR"):
        Path(env[name]).mkdir(mode=0o700, exist_ok=True)
    return env


def config_with_folder(tmp_path: Path) -> Path:
    """A config file whose [voice] recordings is an (empty) folder in tmp_path."""
    folder = tmp_path / "voice"
    folder.mkdir(mode=0o700)
    path = tmp_path / "config" / "ebbtide" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(f'[voice]\nrecordings = "{folder}"\n')
    return folder


def ebbtide_record(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EBBTIDE, "record", *args], capture_output=True, text=True,
                          env=private_env(tmp_path, **extra), timeout=120, cwd=REPO,
                          stdin=subprocess.DEVNULL)


# -- what it says without recording anything --


def test_list_prints_every_line_id_tab_text_with_no_audio_and_no_folder(tmp_path) -> None:
    done = ebbtide_record(tmp_path, "--list", PULSE_SERVER="none")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"{line_id}\t{text}\n" for line_id, text in SCRIPT.lines)


def test_without_a_folder_it_says_which_key_to_add_to_which_file(tmp_path) -> None:
    done = ebbtide_record(tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    config = tmp_path / "config" / "ebbtide" / "config.toml"
    assert 'recordings = "~/ebbtide-recordings"' in line and "under [voice]" in line
    assert str(config) in line and "(a new file)" in line
    assert "the folder is made for you" in line


def test_an_unknown_line_gets_the_nearest_id_suggested(tmp_path) -> None:
    config_with_folder(tmp_path)
    done = ebbtide_record(tmp_path, "--line", "arive.here")
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "no line called 'arive.here'" in line and "Did you mean arrive.here?" in line


def test_a_missing_microphone_is_one_plain_line(tmp_path) -> None:
    config_with_folder(tmp_path)
    done = ebbtide_record(tmp_path, PULSE_SERVER="none")
    if done.returncode == 0:
        pytest.skip("this machine has a microphone besides PulseAudio")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("ebbtide record: no microphone found: plug one in")
    assert "Traceback" not in done.stdout + done.stderr


# -- the walk through the lines, with a stand-in microphone --


class FakeMicrophone:
    """Hands out prepared takes, one per start/stop."""

    takes: ClassVar[list[Clip]] = []
    max_seconds = 60.0

    def __init__(self) -> None:
        self.recording = False
        self.full = False
        self.overflows = 0
        self.started = 0

    def start(self) -> None:
        self.recording = True
        self.started += 1

    def stop(self) -> Clip:
        self.recording = False
        return FakeMicrophone.takes.pop(0)


def take(seconds: float, rate: int = 44100) -> Clip:
    quiet = np.random.default_rng(1).standard_normal(round(0.3 * rate)) * 3e-4
    return Clip(np.concatenate((quiet, speech_like(seconds, rate), quiet)), rate)


SILENT = Clip(np.zeros(44100, dtype=np.float32), 44100)


@pytest.fixture
def walk(tmp_path, monkeypatch, capsys):
    """Run record_lines with stdin answers and prepared takes: (exit code, output, folder)."""
    folder = tmp_path / "voice"
    played: list[Clip] = []
    monkeypatch.setattr(record, "Microphone", FakeMicrophone)
    monkeypatch.setattr(record, "play", lambda clip, device: played.append(clip))

    def run(answers: str, takes: list[Clip], line: str | None = None) -> tuple[int, str]:
        FakeMicrophone.takes = list(takes)
        monkeypatch.setattr(sys, "stdin", io.StringIO(answers))
        config = Config(voice=VoiceConfig(recordings=str(folder)))
        code = record_lines(config, SCRIPT, list_only=False, line=line)
        assert FakeMicrophone.takes == [], "every take was asked for"
        out, err = capsys.readouterr()
        return code, out + err

    run.folder = folder
    run.played = played
    return run


def saved_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def test_a_kept_take_is_saved_and_the_walk_goes_on_to_the_next_line(walk) -> None:
    code, out = walk("\n\nk\n", [take(1.0)])
    assert code == 0
    assert "[1/45] arrive.here" in out and SCRIPT.lines[0][1] in out
    assert "[2/45] arrive.nothing-to-do" in out, "the next line was offered"
    assert saved_seconds(walk.folder / "arrive.here.wav") == pytest.approx(1.06, abs=0.05)
    assert len(walk.played) == 1, "the take was played back before the question"
    assert "1 of 45 lines have a recording" in out


def test_redo_replaces_the_take_before_it_is_saved(walk) -> None:
    code, out = walk("\n\nr\n\n\n\n", [take(2.0), take(1.0)])
    assert code == 0 and "Press Enter to record it again" in out
    assert len(walk.played) == 2
    assert saved_seconds(walk.folder / "arrive.here.wav") == pytest.approx(1.06, abs=0.05)


def test_a_silent_take_is_not_saved_and_can_be_tried_again(walk) -> None:
    code, out = walk("\n\n\n\nk\n", [SILENT, take(1.0)])
    assert code == 0
    assert "That take can't be used: it is silent" in out and "not muted" in out
    assert "Press Enter to try again" in out
    assert len(walk.played) == 1, "a refused take is not played back"
    assert (walk.folder / "arrive.here.wav").exists()


def test_skip_leaves_the_line_for_later(walk) -> None:
    code, out = walk("s\n\n\nk\n", [take(1.0)])
    assert not (walk.folder / "arrive.here.wav").exists()
    assert (walk.folder / "arrive.nothing-to-do.wav").exists()
    code, out = walk("q\n", [])
    assert code == 0
    assert "[1/45] arrive.here" in out, "the skipped line is offered again next time"


def test_skip_after_listening_saves_nothing(walk) -> None:
    code, out = walk("\n\ns\nq\n", [take(1.0)])
    assert code == 0 and "Skipped; nothing was saved for this line." in out
    assert not (walk.folder / "arrive.here.wav").exists()


def test_quit_keeps_what_was_kept_and_the_next_run_goes_on_from_there(walk) -> None:
    code, out = walk("\n\n\n\n\nk\nq\n", [take(1.0), take(1.5)])
    assert code == 0
    assert sorted(p.name for p in walk.folder.iterdir()) == [
        "arrive.here.wav", "arrive.nothing-to-do.wav"]
    assert "Kept 2 new recordings. 2 of 45 lines have a recording" in out
    code, out = walk("q\n", [])
    assert "[3/45] arrive.follow" in out and "[1/45]" not in out


def test_the_end_of_input_ends_cleanly_and_keeps_what_was_kept(walk) -> None:
    code, out = walk("\n\nk\n\n", [take(1.0), take(1.0)])
    assert code == 0
    assert [p.name for p in walk.folder.iterdir()] == ["arrive.here.wav"]
    assert "Run `ebbtide record` again any time to go on where you stopped." in out


def test_ctrl_c_while_recording_keeps_nothing_of_that_take(walk, monkeypatch) -> None:
    answers = iter(["", "", "k", ""])  # keep the first line, then start the second

    def ask(prompt: str) -> str:
        try:
            return next(answers)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr("builtins.input", ask)
    code, out = walk("", [take(1.0), take(1.0)])
    assert code == 130
    assert [p.name for p in walk.folder.iterdir()] == ["arrive.here.wav"]
    assert "1 of 45 lines have a recording" in out and "Traceback" not in out


def test_line_redoes_just_that_line(walk) -> None:
    walk("\n\nk\n", [take(2.0)])
    code, out = walk("\n\nk\n", [take(1.0)], line="arrive.here")
    assert code == 0
    assert "has a recording already" in out and "[2/45]" not in out
    assert saved_seconds(walk.folder / "arrive.here.wav") == pytest.approx(1.06, abs=0.05)


def test_when_every_line_is_recorded_it_says_so_without_a_microphone(walk, monkeypatch) -> None:
    walk.folder.mkdir()
    good = take(1.0).to_wav_bytes()
    for line_id in IDS:
        (walk.folder / f"{line_id}.wav").write_bytes(good)

    def no_microphone() -> None:
        raise AudioUnavailable("no microphone found")

    monkeypatch.setattr(record, "Microphone", no_microphone)
    code, out = walk("", [])
    assert code == 0 and "Every line has a recording already (45 of 45" in out


# -- a whole recording through the real audio stack --


@pytest.fixture(scope="module")
def sink(own_sink):
    return own_sink


@pytest.fixture
def awake(sink, tmp_path):
    """parecord on the sink's monitor, so the null sink runs in small steps (with nobody
    listening it runs in 2-second ones, and a new recording waits for the next)."""
    path = tmp_path / "monitor.raw"
    listener = subprocess.Popen(["parecord", f"--device={sink}.monitor", "--raw",
                                 "--latency-msec=10", str(path)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while (not path.exists() or path.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield sink
    listener.terminate()
    listener.wait(timeout=10)


class Conversation:
    """`ebbtide record` in a pipe: wait for its words, answer its prompts."""

    def __init__(self, tmp_path: Path, sink: str, *args: str) -> None:
        server = subprocess.run(["pactl", "info"], capture_output=True, text=True).stdout
        address = next(line.split(": ", 1)[1] for line in server.splitlines()
                       if line.startswith("Server String"))
        env = private_env(tmp_path, PULSE_SERVER=f"unix:{address}",
                          PULSE_SOURCE=f"{sink}.monitor", PULSE_SINK=sink)
        self.process = subprocess.Popen(
            [*EBBTIDE, "record", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, env=env, cwd=REPO)
        self.said = ""
        self._unread = ""
        self._chars: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while char := self.process.stdout.read(1):
            self._chars.put(char)
        self._chars.put(None)

    def expect(self, words: str, timeout: float = 30.0) -> str:
        """Everything said up to and including `words`."""
        deadline = time.monotonic() + timeout
        while words not in self._unread:
            try:
                char = self._chars.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"never said {words!r}; said:\n{self.said}") from None
            if char is None:
                raise AssertionError(f"ended before saying {words!r}; said:\n{self.said}")
            self._unread += char
            self.said += char
        cut = self._unread.index(words) + len(words)
        heard, self._unread = self._unread[:cut], self._unread[cut:]
        return heard

    def answer(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def end(self) -> tuple[int, str]:
        """Close stdin (the end of input) and wait for the goodbye."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=30)
        while (char := self._chars.get(timeout=10)) is not None:
            self.said += char
        return code, self.said


def speak(conversation: Conversation, sink: str, voice: Path) -> None:
    """Start a take, say the words into the "microphone", stop the take."""
    conversation.expect("Press Enter to")
    conversation.answer("")
    conversation.expect("Recording...")
    time.sleep(0.3)  # real capture: a moment of room before the words, and after them
    subprocess.run(["paplay", f"--device={sink}", str(voice)], check=True, timeout=30)
    time.sleep(0.3)
    conversation.answer("")


@pytest.mark.audio
def test_recording_through_a_real_microphone_keeps_resumes_and_redoes(awake, tmp_path) -> None:
    sink = awake
    folder = config_with_folder(tmp_path)
    voice = tmp_path / "voice-2s.wav"
    voice.write_bytes(Clip(speech_like(2.0), 48000).to_wav_bytes())

    talk = Conversation(tmp_path, sink)
    talk.expect("[1/45] arrive.here")
    speak(talk, sink, voice)
    talk.expect("Playing it back...")
    talk.expect("Keep it?")
    talk.answer("k")
    talk.expect("Kept")
    talk.expect("[2/45] arrive.nothing-to-do")
    code, said = talk.end()
    assert code == 0, said
    assert "1 of 45 lines have a recording" in said and "Traceback" not in said

    path = folder / "arrive.here.wav"
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (48000, 2, 1)
        seconds = wav.getnframes() / wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2") / 32768.0
    measured = pyloudnorm.Meter(48000).integrated_loudness(pcm)
    print(f"recorded 2.00 s of words: saved {seconds:.3f} s at {measured:.2f} LUFS "
          f"(target {TARGET_LUFS})")
    assert 2.0 <= seconds <= 2.0 + 0.15, "the room before and after the words is trimmed"
    assert abs(measured - TARGET_LUFS) <= 1.0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Next time it goes on where it stopped.
    talk = Conversation(tmp_path, sink)
    first = talk.expect("Press Enter to")
    assert "[2/45] arrive.nothing-to-do" in first and "[1/45]" not in first
    talk.answer("q")
    code, said = talk.end()
    assert code == 0 and sorted(os.listdir(folder)) == ["arrive.here.wav"]

    # --line redoes one line, whatever is recorded already.
    shorter = tmp_path / "voice-1s.wav"
    shorter.write_bytes(Clip(speech_like(1.2, seed=9), 48000).to_wav_bytes())
    talk = Conversation(tmp_path, sink, "--line", "arrive.here")
    talk.expect("has a recording already")
    speak(talk, sink, shorter)
    talk.expect("Keep it?")
    talk.answer("")
    talk.expect("Kept")
    code, said = talk.end()
    assert code == 0 and "[2/45]" not in said
    assert 1.2 <= saved_seconds(path) <= 1.2 + 0.15
    assert sorted(os.listdir(folder)) == ["arrive.here.wav"]


def cut_off_take(rate: int = 44100) -> Clip:
    """Words stopped mid-syllable: Enter pressed while still speaking."""
    quiet = np.random.default_rng(1).standard_normal(round(0.3 * rate)) * 3e-4
    return Clip(np.concatenate((quiet, speech_like(3.0, rate)[: round(1.37 * rate)])), rate)


def test_a_take_cut_off_mid_speech_is_not_saved_and_can_be_tried_again(walk) -> None:
    code, out = walk("\n\n\n\nk\n", [cut_off_take(), take(1.0)])
    assert code == 0
    assert "That take can't be used: it ends mid-speech" in out
    assert saved_seconds(walk.folder / "arrive.here.wav") == pytest.approx(1.06, abs=0.05)


def test_a_cut_off_recording_in_the_folder_is_offered_again_and_named(walk) -> None:
    """A take copied in from elsewhere, cut off: the walk does not pass it over."""
    walk.folder.mkdir(mode=0o700)
    rate = 44100
    with wave.open(str(walk.folder / "arrive.here.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(cut_off_take(rate).pcm.tobytes())
    code, out = walk("\n\nk\n", [take(1.0)])
    assert code == 0 and "[1/45] arrive.here" in out
    assert out.count("ends mid-speech") == 1
    assert "Its recording will not be spoken: it ends mid-speech" in out
    assert saved_seconds(walk.folder / "arrive.here.wav") == pytest.approx(1.06, abs=0.05)
