"""A wake-up flag that a signal, or any thread, can raise without taking a lock.

threading.Event.set() takes a lock. Called from a signal handler (which runs in the main
thread, between two of its bytecodes), it can wait forever for the lock the main thread
already holds inside Event.wait(): a burst of `systemctl kill -s USR1` hung the service
that way. Here raising the flag is one byte written to a non-blocking pipe, and the one
thread that waits polls the pipe and drains it.

Caught signals write their number into the same pipe, from C (signal.set_wakeup_fd). The
Python-level handler is `dict.__setitem__`, a C function: it records the signal without
entering a Python frame, so a flood of signals cannot nest handlers (a Python function
checks for pending signals as it starts), and a pipe that is full still loses no kind of
signal.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import select
import signal
import weakref
from collections.abc import Iterable, Iterator
from types import FrameType

_NOTHING = 0  # the byte set() writes; no signal has the number 0


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class WakePipe:
    """Like threading.Event for one waiting thread, and safe to set from a signal handler."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._caught: dict[int, FrameType | None] = {}
        # One poller for every wait: the runner waits 50 times a second in a session.
        self._poller = select.poll()
        self._poller.register(self._read, select.POLLIN)
        self._closed = weakref.finalize(self, _close, self._read, self._write)

    def fileno(self) -> int:
        """Readable while the flag is raised: to wait on it beside other files."""
        return self._read

    def set(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: the flag is raised already
            os.write(self._write, bytes([_NOTHING]))

    def is_set(self) -> bool:
        """Whether the flag is raised (from any thread: the shared poller is the waiter's)."""
        poller = select.poll()
        poller.register(self._read, select.POLLIN)
        return bool(poller.poll(0))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is raised or `timeout` seconds pass; True if raised."""
        return bool(self._poller.poll(None if timeout is None else max(0.0, timeout) * 1000))

    # `builtins.set`: inside this class, a bare `set` in an annotation is the method above.
    def clear(self) -> builtins.set[int]:
        """Lower the flag; return the signals caught since the last clear."""
        caught: builtins.set[int] = set()
        while True:
            try:
                chunk = os.read(self._read, 4096)
            except BlockingIOError:
                break
            caught.update(chunk)
            if not chunk:
                break
        caught.discard(_NOTHING)
        for number in list(self._caught):  # handlers run in this (the main) thread only
            caught.add(number)
            del self._caught[number]
        return caught

    @contextlib.contextmanager
    def catching(self, signals: Iterable[signal.Signals]) -> Iterator[WakePipe]:
        """Catch `signals` into this pipe (from the main thread), and put back what was
        there before on the way out."""
        previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        previous = {number: signal.signal(number, self._caught.__setitem__)
                    for number in signals}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, signal.SIG_DFL if handler is None else handler)
            signal.set_wakeup_fd(previous_fd)

    def close(self) -> None:
        self._closed()

    def __enter__(self) -> WakePipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
