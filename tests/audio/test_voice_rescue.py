"""No line is lost to a speech process that dies: killed on a line (as the kernel kills it
when memory runs out), the line is made again in smaller pieces, else by espeak-ng, with
one log line; a natural voice that dies as it starts leaves every line to espeak-ng.

The speech process is killed with a real signal at a known point: when the voice maker
hears from it that it has begun a line (or begun loading the model), it logs so, and a log
handler here sends the signal at that moment.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

import pytest

from audio import cache
from audio.voicemaker import VoiceMaker
from device.core.voice import Line, VoiceSettings

RATE = 48000
JAW = Line("body.steps.jaw", "Your jaw. You can let your teeth part a little, and your "
                             "tongue rest.")
LINES = [Line("arrive.here", "I'm here. You're not alone."), JAW,
         Line("breathe.hold.hold", "Hold.")]
MAKES = "speech process %d makes line %s with %s"
LOADS = "speech process %d loads the natural voice"


class Killer(logging.Handler):
    """Sends `how` to the speech process when the voice maker logs that it began
    something `when(message args)` picks."""

    def __init__(self, when: Callable[[str, tuple], bool], how: int) -> None:
        super().__init__(logging.DEBUG)
        self.when, self.how, self.killed = when, how, 0

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.args, tuple) and self.when(str(record.msg), record.args):
            os.kill(int(record.args[0]), self.how)
            self.killed += 1


@pytest.fixture
def killer(caplog):
    logger = logging.getLogger("ebbtide.audio.voice")
    made: list[Killer] = []

    def start(when: Callable[[str, tuple], bool], how: int = signal.SIGKILL) -> Killer:
        caplog.set_level(logging.DEBUG, logger="ebbtide.audio.voice")
        made.append(Killer(when, how))
        logger.addHandler(made[-1])
        return made[-1]

    yield start
    for handler in made:
        logger.removeHandler(handler)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("ebbtide") and r.levelno >= logging.WARNING]


def piper_making(line_id: str, times: int | None = None) -> Callable[[str, tuple], bool]:
    """True when Piper begins `line_id` (the first `times` times it does, if given)."""
    seen = [0]

    def when(message: str, args: tuple) -> bool:
        if message != MAKES or args[1:] != (line_id, "piper"):
            return False
        seen[0] += 1
        return times is None or seen[0] <= times

    return when


def test_a_line_whose_speech_process_is_killed_is_made_again_in_smaller_pieces(
        tmp_path, killer, caplog) -> None:
    kills = killer(piper_making(JAW.id, times=1))
    report = VoiceMaker(VoiceSettings(), tmp_path / "voice").fill(LINES, RATE)
    assert kills.killed == 1
    assert {text: e.source for text, e in report.lines.items()} == {
        line.text: "piper" for line in LINES}
    assert report.failure is None and report.silent == {}
    assert report.remade == {JAW.id: "in smaller pieces"}
    assert warnings(caplog) == [f"line {JAW.id}: the natural voice's process was killed "
                                "(signal 9); made again in smaller pieces"]
    jaw = cache.read(report.lines[JAW.text].path)
    assert jaw.seconds > 3.0  # the whole line, not a piece of it


def test_a_line_killed_again_in_smaller_pieces_is_spoken_by_espeak(tmp_path, killer,
                                                                    caplog) -> None:
    kills = killer(piper_making(JAW.id))
    report = VoiceMaker(VoiceSettings(), tmp_path / "voice").fill(LINES, RATE)
    assert kills.killed == 2
    sources = {text: e.source for text, e in report.lines.items()}
    assert sources == {LINES[0].text: "piper", JAW.text: "espeak-ng", LINES[2].text: "piper"}
    assert report.engine.startswith("piper") and report.failure is None
    assert report.remade == {JAW.id: "by espeak-ng"}
    assert warnings(caplog) == [f"line {JAW.id}: the natural voice's process was killed "
                                "(signal 9); in smaller pieces it was killed (signal 9); "
                                "espeak-ng speaks it"]


def test_a_natural_voice_that_dies_as_it_starts_leaves_every_line_to_espeak(
        tmp_path, killer, caplog) -> None:
    """As onnxruntime did under emulation on ARM: a native crash as the model loads, every
    time. After two, espeak-ng speaks every line, and one log line says why."""
    kills = killer(lambda message, args: message == LOADS, how=signal.SIGSEGV)
    report = VoiceMaker(VoiceSettings(), tmp_path / "voice").fill(LINES, RATE)
    assert kills.killed == 2
    assert {e.source for e in report.lines.values()} == {"espeak-ng"}
    assert len(report.lines) == len(LINES) and report.failure is None
    assert report.engine.startswith("espeak-ng")
    assert warnings(caplog) == ["the natural voice cannot run here: its speech process died "
                                "of signal 11 as it started, twice; espeak-ng speaks every line"]
    assert report.natural_failure in warnings(caplog)[0]
