"""python -m bench.pacer [--quick] [--json FILE]: the adaptive pacer (device/core/pacer.py)
with simulated people on the breath sensor, each rendered as `ebbtide render --breather`
renders them (the real runner on a simulated clock, the breath reader of device/sensing):

  follow   starts at 16 a minute and joins the light over a few breaths, a little late
  ignore   breathes at its own 16 a minute whatever the light does

For each: the pacer's first rate against the person's own (their true rate over the 30 s
before the breathing, and the rate the session read), the pacer's rate at the end of the
breathing part, the share of its breaths in step, and how long the pacer took to reach
the target (from the start of the breathing). And with no sensor: whether the plan is
today's fixed plan, identical. The default 4 minutes of breathing (which goes on while a
follower's pacer still slows: 16 to 6 at 1 a minute a minute takes 10), voice and tide off
(they change only where the breathing begins). Figures only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from device.commands.render import render_session
from device.core.config_schema import parse
from device.core.pacer import UNSENSED, Sensing, adaptive_pace
from device.core.plan import build_plan, estimate_spoken
from device.files.script_file import load_script
from device.service.breath_listening import laid_breaths


def config():
    return parse({"voice": {"enabled": False}, "audio": {"tide": False},
                  "session": {"parts": ["arrive", "breathe", "close"]}})


def one(kind: str, seed: int) -> dict:
    """One simulated person's session, rendered."""
    cfg, script = config(), load_script()
    with tempfile.TemporaryDirectory(prefix="ebbtide-bench-") as out:
        began = time.process_time()
        rendered = render_session(cfg, script, Path(out), breather=kind, seed=seed)
        cpu = time.process_time() - began
    breaths = laid_breaths(rendered.plan)
    breathing = rendered.plan.part_named("breathe")
    sensing = rendered.sensing
    assert sensing is not None
    target = cfg.breathing.target_rate
    reached = next((b.at - breathing.start for b in breaths if b.rate <= target + 1e-9), None)
    return {"seed": seed, "person_bpm": 16.0, "read_bpm": sensing.start_bpm,
            "pacer_start_bpm": round(breaths[0].rate, 2),
            "pacer_end_bpm": round(breaths[-1].rate, 2),
            "pacer_lowest_bpm": round(min(b.rate for b in breaths), 2),
            "their_end_bpm": sensing.end_bpm, "in_step": sensing.in_step_share,
            "reached_target_s": None if reached is None else round(reached, 1),
            "breathing_s": round(breathing.seconds, 1), "render_cpu_s": round(cpu, 2),
            "own_pace_said": script.own_pace in [c.text for c in rendered.plan.cues]}


def unsensed_identical() -> dict:
    """No sensor, and a sensor that heard nothing: today's plan, identical."""
    cfg, script, spoken = parse({}), load_script(), estimate_spoken(140)
    fixed = build_plan(cfg, script, spoken)
    return {"no_sensor": build_plan(cfg, script, spoken, UNSENSED) == fixed,
            "nothing_heard": build_plan(cfg, script, spoken,
                                        Sensing((), adaptive_pace, True)) == fixed}


def summary(runs: list[dict]) -> dict:
    def median(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return round(statistics.median(values), 3) if values else None

    return {key: median(key) for key in ("read_bpm", "pacer_start_bpm", "pacer_end_bpm",
                                         "pacer_lowest_bpm", "their_end_bpm", "in_step",
                                         "reached_target_s", "breathing_s",
                                         "render_cpu_s")} | {
        "reached": sum(r["reached_target_s"] is not None for r in runs), "runs": len(runs),
        "own_pace_said": sum(r["own_pace_said"] for r in runs),
        "in_step_range": [min(r["in_step"] for r in runs), max(r["in_step"] for r in runs)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pacer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one person of each kind")
    parser.add_argument("--json", metavar="FILE", help="write the figures here too")
    args = parser.parse_args(argv)
    seeds = [23] if args.quick else [23, *range(1, 10)]
    result: dict = {}
    print(f"the adaptive pacer, the default 4 min of breathing, {len(seeds)} simulated "
          f"{'person' if len(seeds) == 1 else 'people'} of each kind (own rate 16/min)")
    for kind in ("follow", "ignore"):
        runs = [one(kind, seed) for seed in seeds]
        s = summary(runs)
        result[kind] = {"runs": runs, "median": s}
        reached = ("never" if s["reached_target_s"] is None
                   else f"{s['reached_target_s'] / 60:.1f} min")
        print(f"  {kind:<7} pacer starts at {s['pacer_start_bpm']}/min (read their own "
              f"{s['read_bpm']}/min; they breathe 16), ends at {s['pacer_end_bpm']}/min "
              f"(lowest {s['pacer_lowest_bpm']}), in step {s['in_step']:.0%} "
              f"({s['in_step_range'][0]:.0%}-{s['in_step_range'][1]:.0%}), target reached "
              f"after {reached} ({s['reached']} of {s['runs']}); breathing "
              f"{s['breathing_s'] / 60:.1f} min; their rate at the end "
              f"{s['their_end_bpm']}/min; told of their own pace in {s['own_pace_said']}; "
              f"render {s['render_cpu_s']} s CPU")
    same = unsensed_identical()
    result["unsensed"] = same
    shown = {key: "identical" if same[key] else "DIFFERENT" for key in same}
    print(f"  no sensor: the plan is today's fixed plan: {shown['no_sensor']}; a sensor that "
          f"heard nothing: {shown['nothing_heard']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
