"""`ebbtide record`: a walk through the script, recording each line in a loved one's voice.

Each line is one WAV file, `ID.wav` in `[voice] recordings`, named by the line's stable id.
Lines that have a recording are passed over, so a person can stop at any time and go on
later where they stopped. Answers are read a line at a time from stdin (Enter, k, r, s, q),
which also lets a test drive it through a pipe.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from audio.clip import Clip
from audio.microphone import Microphone, play
from audio.recording import RecordingError, load_recording, save_recording, usable
from audio.stream import AudioUnavailable
from device.commands import exit_codes
from device.core.config import Config
from device.core.script import Script
from device.core.text import did_you_mean
from device.files.config_file import find, user_config_path

EXAMPLE_FOLDER = "~/ebbtide-recordings"


class _Quit(Exception):
    """The person asked to stop (q); what was kept stays."""


def record_lines(config: Config, script: Script, list_only: bool, line: str | None) -> int:
    """Run `ebbtide record [--list] [--line ID]`; the exit code."""
    if list_only:
        for line_id, text in script.lines:
            print(f"{line_id}\t{text}")
        return exit_codes.OK
    if not config.voice.recordings:
        _complain(_where_to_set_folder(config))
        return exit_codes.CONFIG
    folder = Path(config.voice.recordings)
    ids = [line_id for line_id, _ in script.lines]
    if line is not None and line not in ids:
        _complain(f"there is no line called {line!r}.{did_you_mean(line, ids)} "
                  "(`ebbtide record --list` shows every line and its id.)")
        return exit_codes.CONFIG
    walk = Walkthrough(script, folder, microphone=None, playback_device=config.audio.output,
                       ask=input, player=play)
    todo = [line] if line is not None else walk.missing()
    if not todo:
        print(f"Every line has a recording already ({len(ids)} of {len(ids)}, in {folder}).")
        print("To record one again: ebbtide record --line ID (ebbtide record --list shows "
              "the ids).")
        return exit_codes.OK
    try:
        walk.microphone = Microphone()
    except AudioUnavailable as error:
        _complain(f"{error}.")
        return exit_codes.FAILED
    return walk.run(todo)


def _complain(message: str) -> None:
    print(f"ebbtide record: {message}", file=sys.stderr)


def _where_to_set_folder(config: Config) -> str:
    """One line that says which key to add to which file."""
    path = config.source or find(None) or user_config_path()
    new = "" if path.exists() else " (a new file)"
    return (f"first choose a folder for the recordings: add  recordings = "
            f"\"{EXAMPLE_FOLDER}\"  under [voice] in {path}{new}, then run this again "
            "(the folder is made for you, readable only by you).")


class Walkthrough:
    """The terminal conversation: one line at a time, record, listen, keep or redo.

    `ask` reads one answer (input() by default); `player` plays a take back. Both can be
    replaced, so the conversation itself can be tested without a sound card.
    """

    def __init__(self, script: Script, folder: Path, microphone: Microphone | None,
                 playback_device: str | int | None = None,
                 ask: Callable[[str], str] = input,
                 player: Callable[[Clip, str | int | None], None] = play) -> None:
        self.script = script
        self.folder = folder
        self.microphone = microphone
        self.playback_device = playback_device
        self.ask = ask
        self.player = player
        self.kept = 0
        self._playback_works = True

    def path(self, line_id: str) -> Path:
        return self.folder / f"{line_id}.wav"

    def missing(self) -> list[str]:
        """The ids of the lines with no recording yet, or one that will not be spoken (cut
        off, silent, unreadable...), in script order."""
        return [line_id for line_id, _ in self.script.lines
                if not self.path(line_id).exists() or self.refusal(line_id)]

    def refusal(self, line_id: str) -> str | None:
        """Why the line's recording will not be spoken (None if it will, or there is none)."""
        if not self.path(line_id).exists():
            return None
        try:
            load_recording(self.path(line_id))
        except RecordingError as error:
            return str(error)
        return None

    def recorded(self) -> int:
        return sum(self.path(line_id).exists() for line_id, _ in self.script.lines)

    def run(self, todo: list[str]) -> int:
        """Walk through `todo` (ids); the exit code. Ctrl-C, q and the end of input stop it
        cleanly, and every take kept so far stays."""
        total = len(self.script.lines)
        print(f"Recording into {self.folder}. {self.recorded()} of {total} lines have a "
              "recording.")
        print("For each line: press Enter, say the words, press Enter again. You will hear it "
              "back, and can keep it or try again. Take your time; q stops, and next time "
              "starts where you stopped.")
        status = exit_codes.OK
        try:
            for line_id in todo:
                self._one(line_id)
        except _Quit:
            pass
        except EOFError:
            print()
        except KeyboardInterrupt:
            print()
            status = exit_codes.INTERRUPTED
        except OSError as error:
            print()
            _complain(f"the recording could not be saved in {self.folder}: "
                      f"{error.strerror or error}.")
            status = exit_codes.FAILED
        except AudioUnavailable as error:
            print()
            _complain(f"{error}.")
            status = exit_codes.FAILED
        finally:
            if self.microphone is not None and self.microphone.recording:
                self.microphone.stop()  # a take cut off by Ctrl-C is not kept
        self._summary()
        return status

    def _summary(self) -> None:
        total = len(self.script.lines)
        done = self.recorded()
        kept = f"Kept {self.kept} new recording{'s' if self.kept != 1 else ''}. "
        print(f"{kept}{done} of {total} lines have a recording, in {self.folder}.")
        if done < total:
            print("Run `ebbtide record` again any time to go on where you stopped.")

    def _one(self, line_id: str) -> None:
        """Record one line until a take is kept, the line is skipped, or the person quits."""
        ids = [i for i, _ in self.script.lines]
        position = ids.index(line_id) + 1
        text = self.script.lines[position - 1][1]
        print()
        print(f"[{position}/{len(ids)}] {line_id}")
        print(f"    \u201c{text}\u201d")
        refusal = self.refusal(line_id)
        if refusal:
            print(f"  Its recording will not be spoken: {refusal}.")
        elif self.path(line_id).exists():
            print("  This line has a recording already; keeping a new take replaces it.")
        prompt = "  Press Enter to start recording (s to skip, q to stop): "
        while True:
            answer = self._answer(prompt, {"", "s", "q"})
            if answer == "s":
                print("  Skipped.")
                return
            take = self._take()
            try:
                cleaned = usable(take)
            except RecordingError as error:
                print(f"  That take can't be used: {error}.")
                prompt = "  Press Enter to try again (s to skip, q to stop): "
                continue
            decision = self._decide(cleaned)
            if decision == "skip":
                print("  Skipped; nothing was saved for this line.")
                return
            if decision == "keep":
                save_recording(self.path(line_id), take)
                self.kept += 1
                print(f"  Kept ({cleaned.seconds:.1f} s).")
                return
            prompt = "  Press Enter to record it again (s to skip, q to stop): "

    def _take(self) -> Clip:
        microphone = self.microphone
        assert microphone is not None
        microphone.start()
        try:
            self.ask("  Recording... press Enter when you have finished. ")
        finally:
            take = microphone.stop()
        if microphone.full:
            print(f"  (The recording stopped by itself after {microphone.max_seconds:.0f} "
                  "seconds.)")
        if microphone.overflows:
            print("  (A moment of the recording was lost; if it sounds choppy, try again.)")
        return take

    def _decide(self, cleaned: Clip) -> str:
        """Play the take back and ask what to do with it: "keep", "redo" or "skip"."""
        self._play(cleaned)
        while True:
            answer = self._answer(
                "  Keep it? Enter keeps it; r to record it again, p to hear it again, "
                "s to skip this line, q to stop: ", {"", "k", "r", "p", "s", "q"})
            if answer == "p":
                self._play(cleaned)
                continue
            return {"": "keep", "k": "keep", "r": "redo", "s": "skip"}[answer]

    def _play(self, clip: Clip) -> None:
        if not self._playback_works:
            return
        print("  Playing it back...")
        try:
            self.player(clip, self.playback_device)
        except AudioUnavailable as error:
            self._playback_works = False
            print(f"  (It can't be played back here: {error}. You can still keep it or "
                  "record it again.)")

    def _answer(self, prompt: str, allowed: set[str]) -> str:
        """The person's answer, lower-cased; q quits. Asks again on anything else."""
        while True:
            answer = self.ask(prompt).strip().lower()
            if answer in ("q", "quit"):
                raise _Quit
            if answer in allowed:
                return answer
            if answer[:1] in allowed and answer[:1] != "":
                return answer[:1]
            print("  (Please answer with one of: " + ", ".join(
                "Enter" if a == "" else a for a in sorted(allowed)) + ".)")


def cmd_record(args: argparse.Namespace) -> int:
    """Record (or --list) the script's lines; the exit code."""
    from device.commands.config_and_script import load
    from device.commands.keyboard import keyboard_open

    config, script = load(args)
    if not args.list and not keyboard_open("record", "Enter starts and ends each take"):
        return exit_codes.USAGE
    return record_lines(config, script, list_only=args.list, line=args.line)
