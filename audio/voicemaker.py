"""The service's side of the speech process: `VoiceMaker.fill()` makes sure every line is in
the voice cache, and the service then only reads it.

The speech itself is made in a child process (audio/voice_child.py) with no network
(audio/network_ban.py): this module starts it, hands it the lines as JSON, and reads one
JSON line back per line made. So onnxruntime, Piper and libespeak-ng are never loaded by
the service: a native crash in an engine costs only the lines not yet made, and their memory
is gone when the child ends. A child that dies or hangs is replaced for the lines left.

A line is not lost to a child that dies on it (killed by the kernel for its memory, or a
native crash): it is made again alone, in smaller pieces, then by espeak-ng, and only then
left silent, with one log line saying which. A natural voice that cannot run at all (its
process dies twice while loading the model, or on MAX_CRASHES lines) leaves every line left
to espeak-ng, with one log line.
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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from audio import cache, network_ban
from device.core.voice import Line, VoiceSettings

log = logging.getLogger("ebbtide.audio.voice")

MAX_CRASHES = 8  # children that may die in one fill before the natural voice is given up on
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
    remade: dict[str, str] = field(default_factory=dict)  # line id -> how, after a death:
    # "in smaller pieces" or "by espeak-ng"
    natural_failure: str = ""  # why espeak-ng spoke every line left: the natural voice died
    peak_mb: float | None = None  # the most a speech process that finished had resident
    failure: str | None = None  # why some lines could not be made
    stopped: bool = False  # cut short by the interrupt: the service is stopping


@dataclass
class _Ending:
    """How one child ended, as the parent saw it."""

    failure: str | None = None  # why it ended early (None: it finished, or was stopped)
    crashed: bool = False  # it died of a signal or hung
    death: str = ""  # e.g. "was killed (signal 9)", "died of signal 11"
    loading: bool = False  # it died while loading the natural voice's model
    making: str | None = None  # the id of the line it was making when it ended
    engine: str = ""  # the engine that was making it
    reported: bool = False  # it reported a line (made, or silent)


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
        crash, killed, or stuck) costs no line: the line it died on is made again alone (see
        _rescue) and another child makes the rest. The report says what could not be made.
        An `interrupt` that says quit ends the fill at once (the child is killed; the report
        is stopped)."""
        started = time.monotonic()
        report = FillReport()
        fill = _Fill(rate, report, progress, len(lines), interrupt)
        missing = list(dict.fromkeys(lines))
        settings = self.settings
        deaths = load_deaths = 0
        while missing:
            end = self._run(missing, fill, settings)
            missing = _left(missing, report)
            if end.failure is None or not missing or report.stopped:
                break
            if not end.crashed:  # a clean refusal says the same again
                report.failure = end.failure
                break
            deaths += 1
            natural = settings.engine != "espeak" and end.engine != "espeak-ng"
            at_start = end.loading or (end.making is None and not end.reported)
            load_deaths += at_start
            if natural and (load_deaths >= 2 or deaths >= MAX_CRASHES):
                report.natural_failure = (
                    f"the natural voice cannot run here: its speech process {end.death} "
                    + ("as it started, twice" if load_deaths >= 2 else f"in {deaths} of its tries"))
                log.warning("%s; espeak-ng speaks every line", report.natural_failure)
                settings = replace(settings, engine="espeak")
                continue
            if deaths >= 2 * MAX_CRASHES:  # espeak-ng dying too: nothing more to try
                report.failure = f"{end.failure} ({deaths} times)"
                break
            if at_start:
                continue  # once more: the next child starts again
            dead = next((ln for ln in missing if ln.id == end.making), missing[0])
            if natural:
                deaths += self._rescue(dead, end, fill)
            else:
                fill.silent(dead, end.failure)
            missing = _left(missing, report)
        if missing and report.failure is None and not report.stopped:
            report.failure = "the voice maker made no audio for them"
        if report.silent:
            report.failure = "; ".join(filter(None, [report.failure, _silent_text(report)]))
        report.seconds = time.monotonic() - started
        return report

    def _rescue(self, line: Line, end: _Ending, fill: _Fill) -> int:
        """The line a child died on, made again: alone and in smaller pieces (a piece's
        memory grows with its length), else by espeak-ng, else silent. One log line says
        which. Returns how many more children died."""
        report = fill.report
        smaller = self._run([line], fill, self.settings, smaller_pieces=True, announce=False)
        again = smaller
        if line.text not in report.lines and line.id not in report.silent \
                and not report.stopped:
            again = self._run([line], fill, replace(self.settings, engine="espeak"),
                              announce=False)
        made = report.lines.get(line.text)
        if made is not None:
            how = "in smaller pieces" if made.source not in ("espeak-ng", "recording") \
                else "by espeak-ng"
            report.remade[line.id] = how
            log.warning("line %s: the natural voice's process %s; %s", line.id, end.death,
                        "made again in smaller pieces" if how == "in smaller pieces" else
                        f"in smaller pieces it {smaller.death or 'failed'}; espeak-ng speaks it")
        elif not report.stopped and line.id not in report.silent:
            fill.silent(line, f"{end.failure}; in smaller pieces it {smaller.death or 'failed'}"
                              f"; espeak-ng: {again.failure or 'no audio'}")
        return int(smaller.crashed) + int(again is not smaller and again.crashed)

    def _run(self, lines: list[Line], fill: _Fill, settings: VoiceSettings,
             smaller_pieces: bool = False, announce: bool = True) -> _Ending:
        """One child making `lines` with `settings` (Piper in its smaller pieces, if asked);
        how it ended. `announce`: its engine is the fill's."""
        request = {"settings": asdict(settings), "cache_dir": str(self.directory),
                   "rate": fill.rate, "smaller_pieces": smaller_pieces,
                   "lines": [[ln.id, ln.text, ln.max_seconds] for ln in lines]}
        with tempfile.TemporaryFile() as errors:
            try:
                # Home, XDG folders and TMPDIR in the cache: what a library keeps stays here.
                env = {**os.environ,
                       **network_ban.private_environment(self.directory / "home")}
                with _presses_held():
                    child = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=errors, env=env)
            except OSError as error:
                return _Ending(f"the voice maker could not start ({error.strerror or error})")
            end = _Ending()
            with child:
                try:
                    assert child.stdin is not None and child.stdout is not None
                    child.stdin.write(json.dumps(request).encode())
                    child.stdin.close()
                    ended = self._read(child, fill, end, announce)
                except BrokenPipeError:
                    ended = "closed"
                if ended != "closed":
                    child.kill()
                code = child.wait()
            if ended == "stopped":
                fill.report.stopped = True
                return _Ending(making=end.making)
            if ended == "stuck":
                end.death = f"stopped answering for {self.line_timeout:g} s"
                end.failure, end.crashed = f"the speech engine {end.death}", True
                return end
            if code == 0:
                return _Ending()
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip().splitlines()
        last = said[-1][:200] if said else ""
        if code > 0:  # the child's own words for what is missing
            return _Ending(f"the voice could not be made: {last or f'exit {code}'}")
        end.death = ("was killed (signal 9)" if -code == signal.SIGKILL
                     else f"died of signal {-code}")
        end.failure = f"the speech engine {end.death}" + (f" ({last})" if last else "")
        end.crashed = True
        return end

    def _read(self, child: subprocess.Popen[bytes], fill: _Fill, end: _Ending,
              announce: bool) -> str:
        """Take the child's reports until it closes its output ("closed"), goes quiet for
        line_timeout ("stuck") or the interrupt says quit ("stopped")."""
        stream, interrupt = child.stdout, fill.interrupt
        assert stream is not None
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
                    _take(message, fill, end, child.pid, announce)


@dataclass
class _Fill:
    """What one fill's children report into, and whom they tell."""

    rate: int
    report: FillReport
    progress: Callable[[int, int], None] | None
    total: int
    interrupt: Interrupt | None

    def told(self) -> None:
        if self.progress:
            self.progress(len(self.report.lines) + len(self.report.silent), self.total)

    def silent(self, line: Line, why: str | None) -> None:
        self.report.silent[line.id] = why or "no audio"
        self.told()


def _take(message: dict[str, Any], fill: _Fill, end: _Ending, pid: int,
          announce: bool) -> None:
    report = fill.report
    kind = message.pop("event")
    if kind == "engine":
        if announce:
            report.engine, report.model = message["engine"], message["model"]
    elif kind == "loading":  # the natural voice's model, loaded before its first line
        end.loading = True
        log.debug("speech process %d loads the natural voice", pid)
    elif kind == "making":
        end.loading, end.making, end.engine = False, message["id"], message["engine"]
        log.debug("speech process %d makes line %s with %s", pid, end.making, end.engine)
    elif kind == "line":
        end.making, end.reported = None, True
        report.lines[message["text"]] = CachedLine(Path(message["path"]),
                                                   message["seconds"], message["source"])
        report.rendered += message["made"] and message["source"] != "recording"
        report.recorded += message["source"] == "recording"
        if fill.progress:
            fill.progress(len(report.lines), fill.total)
    elif kind == "memory":
        report.peak_mb = max(report.peak_mb or 0.0, float(message["peak_mb"]))
    elif kind == "model_failure":
        report.model_failure = message["message"]
    elif kind == "silent":
        end.making, end.reported = None, True
        report.silent[message["id"]] = message["reason"]
        fill.told()
    elif kind == "problem" and message["message"] not in report.problems:
        report.problems.append(message["message"])
    elif kind == "log":
        log.log(message["level"], "%s", message["message"])


def _left(lines: list[Line], report: FillReport) -> list[Line]:
    """The lines neither made nor known to be silent."""
    return [line for line in lines
            if line.text not in report.lines and line.id not in report.silent]


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
