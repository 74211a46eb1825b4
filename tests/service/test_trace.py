"""The events, and the trace: one JSON object per line per event, stamped with
time.monotonic(), in the same shape for every kind as before events were typed."""

from __future__ import annotations

import json
import time

from device.core.events import (
    ButtonGesture,
    FadingOut,
    LightChanged,
    LineSpoken,
    Listeners,
    PartBegan,
    PhaseBegan,
    SessionEnded,
    SessionStarted,
    SoundReport,
    TouchChanged,
)
from device.service.trace import TraceFile


def test_trace_lines_are_json_with_t_and_event(tmp_path):
    path = tmp_path / "trace.jsonl"
    trace = TraceFile(path.open("w"))
    before = time.monotonic()
    Listeners(trace, None)(LightChanged(at=1.0, value=0.25, lightness=0.5))
    trace(PartBegan(at=2.0, name="breathe", seconds=60.0))
    trace.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["light", "part"]
    assert records[0]["value"] == 0.25 and records[1]["name"] == "breathe"
    assert all(before <= r["t"] <= time.monotonic() for r in records)


def test_every_kind_is_written_as_it_always_was(tmp_path):
    """The trace's lines, after the time, byte for byte: the order of the fields too."""
    path = tmp_path / "trace.jsonl"
    trace = TraceFile(path.open("w"))
    for event in (
            LightChanged(at=0, value=0.184, lightness=0.5),
            TouchChanged(at=0, value=0.3, touch=0.25),
            ButtonGesture(at=0, action="remote press"),
            PartBegan(at=0, name="arrive", seconds=25.0),
            FadingOut(at=0, seconds=2.0),
            PhaseBegan(at=0, name="inhale", seconds=4.0),
            LineSpoken(at=0, text="Breathe in.", seconds=0.812),
            SessionStarted(at=0, night=False),
            SessionStarted(at=0, night=True, color="#ff8800"),
            SessionEnded(at=0, state="finished"),
            SoundReport(at=0, underflows=1, dropped=0, failure=None, first_heard=None,
                        late_ms=2.5)):
        trace(event)
    trace.close()
    lines = [line.split(", ", 1)[1] for line in path.read_text().splitlines()]
    assert lines == [
        '"event": "light", "value": 0.184, "lightness": 0.5}',
        '"event": "haptic", "value": 0.3, "touch": 0.25}',
        '"event": "button", "action": "remote press"}',
        '"event": "part", "name": "arrive", "seconds": 25.0}',
        '"event": "part", "name": "stopping", "seconds": 2.0}',
        '"event": "phase", "name": "inhale", "seconds": 4.0}',
        '"event": "clip", "text": "Breathe in.", "seconds": 0.812}',
        '"event": "session", "state": "started", "night": false}',
        '"event": "session", "state": "started", "night": true, "color": "#ff8800"}',
        '"event": "session", "state": "finished"}',
        '"event": "audio", "underflows": 1, "dropped": 0, "failure": null, '
        '"first_heard": null, "late_ms": 2.5}',
    ]
