"""The service's side of the speech process: `VoiceMaker.fill()` makes sure every line is in
the voice cache, and the service then only reads it.

The speech itself is made in a child process (audio/voice_child.py) with no network
(audio/network_ban.py): this module starts it, hands it the lines as JSON, and reads one
JSON line back per line made. So onnxruntime, Piper and libespeak-ng are never loaded by
the service: a native crash in an engine costs only the lines not yet made, and their memory
is gone when the child ends. A child that dies or hangs is replaced for the lines left.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from audio import cache, network_ban
from device.core.voice import Line, VoiceSettings

log = logging.getLogger("ebbtide.audio.voice")

MAX_CRASHES = 8  # children that may die in one fill before the engine is given up on
_LINE_TIMEOUT_S = 180.0  # one line on a Pi Zero takes seconds; this long means stuck
# `systemctl kill -s USR1 ebbtide` (a press) signals every process of the service, and
# USR1's (and HUP's) default action ends a process. The child is born with them blocked: a
# blocked signal waits, unseen, and the mask is inherited through fork and exec.
_PRESSES = frozenset({signal.SIGUSR1, signal.SIGHUP})
# The child's command. Its first act, while it has one thread (numpy starts more on import),
# is to give up the network for life; main() says so if that could not be done.
_CHILD = """
import contextlib, sys
from audio import network_ban
with contextlib.suppress(network_ban.NetworkStillReachable):
    network_ban.forbid_network()
from audio.voice_child import main
sys.exit(main())
"""


@dataclass(frozen=True)
class CachedLine:
    path: Path
    seconds: float
    source: str  # the engine's name, or "recording"


@dataclass
class FillReport:
    """What a fill did: which voice speaks, what is ready, and what went wrong."""

    engine: str = ""  # e.g. "piper 1.8.0" or "espeak-ng 1.51"
    model: str = ""  # the Piper model file, if Piper speaks
    lines: dict[str, CachedLine] = field(default_factory=dict)  # by text
    rendered: int = 0  # lines synthesised this time (not from the cache)
    recorded: int = 0  # lines spoken from recordings
    seconds: float = 0.0  # how long the fill took
    problems: list[str] = field(default_factory=list)  # recordings refused, and why
    silent: dict[str, str] = field(default_factory=dict)  # line id -> why it has no audio
    model_failure: str = ""  # why the Piper model would not load (espeak-ng spoke instead)
    failure: str | None = None  # why some lines could not be made
    stopped: bool = False  # cut short by the interrupt: the service is stopping


class Interrupt(Protocol):
    """What can end a fill early: a file that becomes readable when there is news, and
    whether the news is to stop (the service's controller, woken by SIGTERM)."""

    def fileno(self) -> int: ...

    @property
    def quitting(self) -> bool: ...


class VoiceMaker:
    """The service's side: runs the child that fills the cache, and reads its reports."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path,
                 command: Sequence[str] | None = None,
                 line_timeout: float = _LINE_TIMEOUT_S) -> None:
        """`command` runs the child (default: main() of audio/voice_child.py, with this
        Python, cut off from the network)."""
        self.settings = settings
        self.command = list(command or [sys.executable, "-I", "-c", _CHILD])
        self.line_timeout = line_timeout
        self.directory = self._usable(Path(cache_dir))

    def _usable(self, directory: Path) -> Path:
        """The cache folder, or (one warning) a private temporary one removed at exit."""
        try:
            cache.make_private_dirs(directory)
            if os.access(directory, os.W_OK | os.X_OK):
                return directory
            problem = "not writable"
        except OSError as error:
            problem = error.strerror or str(error)
        temporary = Path(tempfile.mkdtemp(prefix="ebbtide-voice-"))
        atexit.register(shutil.rmtree, temporary, ignore_errors=True)
        log.warning("voice cache %s is not usable (%s); lines are made again at each start",
                    directory, problem)
        return temporary

    def fill(self, lines: Sequence[Line], rate: int,
             progress: Callable[[int, int], None] | None = None,
             interrupt: Interrupt | None = None) -> FillReport:
        """Make sure every line is in the cache at `rate` Hz. A child that dies (a native
        crash, or stuck) costs only the line it died on: another is started for the rest,
        up to MAX_CRASHES times. The report says what could not be made. An `interrupt`
        that says quit ends the fill at once (the child is killed; the report is stopped)."""
        started = time.monotonic()
        report = FillReport()
        missing = list(dict.fromkeys(lines))
        crashes = 0
        while missing:
            failure, crashed = self._run(missing, rate, report, progress, len(lines),
                                         interrupt)
            missing = [line for line in missing
                       if line.text not in report.lines and line.id not in report.silent]
            if failure is None or not missing or report.stopped:
                break
            crashes += crashed
            report.failure = failure + (f" ({crashes} times)" if crashes > 1 else "")
            if not crashed or crashes >= MAX_CRASHES:
                break  # a clean refusal says the same again; an engine this broken is left
            missing = self._after_death(missing)
        if missing and report.failure is None and not report.stopped:
            report.failure = "the voice maker made no audio for them"
        if report.silent:
            report.failure = "; ".join(filter(None, [report.failure, _silent_text(report)]))
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _after_death(missing: list[Line]) -> list[Line]:
        """What is left to make after a child died on the first of `missing`: today that
        line stays silent and the others are made. (The place to remake it in smaller
        pieces, when the engine was killed for its size.)"""
        return missing[1:]

    def _run(self, lines: list[Line], rate: int, report: FillReport,
             progress: Callable[[int, int], None] | None,
             total: int, interrupt: Interrupt | None) -> tuple[str | None, bool]:
        """One child; returns why it ended early (or None), and whether it crashed or hung."""
        request = {"settings": asdict(self.settings), "cache_dir": str(self.directory),
                   "rate": rate, "lines": [[ln.id, ln.text, ln.max_seconds] for ln in lines]}
        with tempfile.TemporaryFile() as errors:
            try:
                # Home, XDG folders and TMPDIR in the cache: what a library keeps stays here.
                env = {**os.environ,
                       **network_ban.private_environment(self.directory / "home")}
                with _presses_held():
                    child = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=errors, env=env)
            except OSError as error:
                return f"the voice maker could not start ({error.strerror or error})", False
            with child:
                try:
                    assert child.stdin is not None and child.stdout is not None
                    child.stdin.write(json.dumps(request).encode())
                    child.stdin.close()
                    ended = self._read(child.stdout, report, progress, total, interrupt)
                except BrokenPipeError:
                    ended = "closed"
                if ended != "closed":
                    child.kill()
                code = child.wait()
            if ended == "stopped":
                report.stopped = True
                return None, False
            if ended == "stuck":
                return f"the speech engine stopped answering for {self.line_timeout:g} s", True
            if code == 0:
                return None, False
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip().splitlines()
        last = said[-1][:200] if said else ""
        if code > 0:  # the child's own words for what is missing
            return f"the voice could not be made: {last or f'exit {code}'}", False
        return f"the speech engine died of signal {-code}" + (f" ({last})" if last else ""), True

    def _read(self, stream: Any, report: FillReport,
              progress: Callable[[int, int], None] | None, total: int,
              interrupt: Interrupt | None) -> str:
        """Take the child's reports until it closes its output ("closed"), goes quiet for
        line_timeout ("stuck") or the interrupt says quit ("stopped")."""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            if interrupt is not None:
                selector.register(interrupt.fileno(), selectors.EVENT_READ)
            pending = b""
            while True:
                ready = selector.select(self.line_timeout)
                if not ready:
                    return "stuck"
                if interrupt is not None and interrupt.quitting:
                    return "stopped"
                if all(key.fileobj is not stream for key, _ in ready):
                    continue  # news that is not a quit (a press): it waits in the controller
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    return "closed"
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    try:
                        message = json.loads(raw)
                    except ValueError:  # not a report: a stray print from a library
                        log.debug("voice maker said %r", raw[:200])
                        continue
                    self._take(message, report, progress, total)

    @staticmethod
    def _take(message: dict[str, Any], report: FillReport,
              progress: Callable[[int, int], None] | None, total: int) -> None:
        kind = message.pop("event")
        if kind == "engine":
            report.engine, report.model = message["engine"], message["model"]
        elif kind == "line":
            report.lines[message["text"]] = CachedLine(Path(message["path"]),
                                                       message["seconds"], message["source"])
            report.rendered += message["made"] and message["source"] != "recording"
            report.recorded += message["source"] == "recording"
            if progress:
                progress(len(report.lines), total)
        elif kind == "model_failure":
            report.model_failure = message["message"]
        elif kind == "silent":
            report.silent[message["id"]] = message["reason"]
            if progress:
                progress(len(report.lines) + len(report.silent), total)
        elif kind == "problem" and message["message"] not in report.problems:
            report.problems.append(message["message"])
        elif kind == "log":
            log.log(message["level"], "%s", message["message"])


def _silent_text(report: FillReport) -> str:
    """One line naming each line that has no audio, and why."""
    shown = [f"{line_id} ({why})" for line_id, why in list(report.silent.items())[:5]]
    more = len(report.silent) - len(shown)
    return (f"no audio for {len(report.silent)} line{'s' if len(report.silent) > 1 else ''}: "
            + ", ".join(shown) + (f" and {more} more" if more else ""))


@contextlib.contextmanager
def _presses_held() -> Iterator[None]:
    """Hold presses back in this thread while the child is started (so it inherits the
    block); any that came meanwhile are delivered here when the block is lifted."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _PRESSES)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
