"""The trace: one JSON object per line per event, stamped with time.monotonic()."""

from __future__ import annotations

import json
import time

from device.core.events import Listeners, TraceFile


def test_trace_lines_are_json_with_t_and_event(tmp_path):
    path = tmp_path / "trace.jsonl"
    trace = TraceFile(path.open("w"))
    before = time.monotonic()
    Listeners(trace, None)("light", value=0.25)
    trace("part", name="breathe")
    trace.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["light", "part"]
    assert records[0]["value"] == 0.25 and records[1]["name"] == "breathe"
    assert all(before <= r["t"] <= time.monotonic() for r in records)
