"""The trace file (`--trace`): one JSON object per line per event, for diagnosis."""

from __future__ import annotations

import json
import threading
import time
from typing import IO

from device.core.events import Event, LightChanged


class TraceFile:
    """A listener writing each event as {"t": ..., "event": kind, **fields}, stamped with
    time.monotonic() as it is written.

    Events come from the runner and from the button's thread; the lock keeps lines whole
    and in time order (which is why `t` is the writing time, not the event's own `at`).
    Every line but the light's is flushed at once, so a crash keeps it.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            record = {"t": round(time.monotonic(), 6), "event": event.kind, **event.record()}
            self._stream.write(json.dumps(record) + "\n")
            if not isinstance(event, LightChanged):
                self._stream.flush()

    def close(self) -> None:
        self._stream.close()
