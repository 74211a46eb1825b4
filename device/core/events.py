"""What happened, told to whoever listens: the trace file, the demo screen, `render`.

An event is a name and a few fields:
  light(value=duty, lightness)  button(action)  part(name)  phase(name)
  clip(text, seconds)  session(state)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import IO

Listener = Callable[..., None]


def ignore(event: str, **fields: object) -> None:
    """A listener that hears nothing."""


class Listeners:
    """Fan one event out to several listeners."""

    def __init__(self, *listeners: Listener) -> None:
        self._listeners = [listener for listener in listeners if listener is not None]

    def __call__(self, event: str, **fields: object) -> None:
        for listener in self._listeners:
            listener(event, **fields)


class TraceFile:
    """One JSON object per line per event, stamped with time.monotonic(), for diagnosis.

    Events come from the runner and from the button's thread; the lock keeps lines whole
    and in time order.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: object) -> None:
        with self._lock:
            record = {"t": round(time.monotonic(), 6), "event": event, **fields}
            self._stream.write(json.dumps(record) + "\n")
            if event != "light":
                self._stream.flush()

    def close(self) -> None:
        self._stream.close()
