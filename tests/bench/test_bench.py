"""The benchmark suite as a smoke test: `python -m bench --quick --json` completes and writes
every figure for ours and the baselines. Its figures are not judged here: they are
measurements for the README, not pass/fail gates on a shared, noisy machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.audio, pytest.mark.process]

KEYS = {
    "press_to_light_ms": True, "press_to_audio_ms": True, "phase_error_ms": True,
    "drift_ms_per_10min": True, "cue_vs_light_ms": False, "max_lightness_step": True,
    "cpu_idle_pct": False, "cpu_session_pct": True, "rss_mb": True, "ready_s": False,
    "voice_render_s": True, "haptic_phase_error_ms": False, "picture_s": False,
    "voice_peak_mb": True,
    "capped_cpu": False,
}  # figure -> whether it has a baseline run side by side


def test_the_quick_bench_runs_and_writes_every_figure(tmp_path, null_sink) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result["figures"]) == set(KEYS)
    for key, has_baseline in KEYS.items():
        figure = result["figures"][key]
        assert figure["ours"] or figure.get("why_not"), key  # capped_cpu needs a cgroup
        assert (figure["baseline"] is not None) == has_baseline, key
        assert key in done.stdout, "the table shows it"
    assert result["mode"] == "quick" and result["machine"]["cores"] >= 1
    # Memory: `ebbtide run` with Piper and with espeak-ng, and whether an engine was mapped.
    rss = result["figures"]["rss_mb"]
    assert rss["engine_loaded"] is False, f"a speech engine was mapped: {rss['engine_files']}"
    assert set(rss["engine_files"]) == {"piper", "espeak"}
    # The voice: cold renders per engine and per line, the warm fill, and how many lines.
    render = result["figures"]["voice_render_s"]
    for side in ("ours", "baseline"):
        assert render[side]["per_line"]["n"] >= render["lines"], side
    assert render["warm"]["n"] >= 1
    assert render["subset"] == (render["lines"] < render["script_lines"])
    assert "voice: cold render" in done.stdout
    peak = result["figures"]["voice_peak_mb"]  # the whole script made cold, in its process
    assert 100 < peak["ours"]["median"] < 1000 and peak["service_mb"] > 10
    assert "voice_peak_mb: the speech process" in done.stdout
    capped = result["figures"]["capped_cpu"]  # beside an uncapped session, or why not
    assert capped.get("why_not") or capped["capped"]["seconds"] == capped["uncapped"]["seconds"]
    assert "capped" in done.stdout
    pictures = result["figures"]["picture_s"]
    assert pictures["history"]["n"] == pictures["load"]["n"] == pictures["ours"]["n"] >= 3
    assert "pictures: session" in done.stdout
