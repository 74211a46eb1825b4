"""bench.breath as a smoke test: `python -m bench.breath --quick --json` runs and writes every
figure it prints. The figures are not judged here (tests/sensing asserts the goals)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process


def test_the_breath_bench_prints_and_writes_its_figures(tmp_path) -> None:
    out = tmp_path / "breath.json"
    done = subprocess.run([sys.executable, "-m", "bench.breath", "--quick", "--json", str(out)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"accuracy", "first_rate", "cost", "real", "wander"}
    accuracy = result["accuracy"]
    assert accuracy["still_windows"] > 200 and accuracy["moving_windows"] > 20
    assert 0 <= accuracy["coverage"] <= 1 and accuracy["mae_bpm"] >= 0
    assert result["cost"]["live_calls"] == 30 and result["cost"]["live_core_pct"] > 0
    assert result["real"]["windows"] == 28
    for shown in ("rate error", "coverage", "movement", "breath onsets", "first rate",
                  "cost, 50 Hz", "real recording", "no breathing"):
        assert shown in done.stdout
