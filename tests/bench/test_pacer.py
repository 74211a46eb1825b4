"""bench.pacer as a smoke test: `python -m bench.pacer --quick --json` runs and writes every
figure it prints. The figures are not judged here (tests/core and tests/commands assert the
pacer's behaviour)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process


def test_the_pacer_bench_prints_and_writes_its_figures(tmp_path) -> None:
    out = tmp_path / "pacer.json"
    done = subprocess.run([sys.executable, "-m", "bench.pacer", "--quick", "--json", str(out)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"follow", "ignore", "unsensed"}
    for kind in ("follow", "ignore"):
        (run,) = result[kind]["runs"]
        assert 0 <= run["in_step"] <= 1 and run["pacer_start_bpm"] > 0
        assert f"  {kind:<7} pacer starts at " in done.stdout
    assert result["unsensed"] == {"no_sensor": True, "nothing_heard": True}
    assert "no sensor: the plan is today's fixed plan: identical" in done.stdout
