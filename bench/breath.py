"""python -m bench.breath [--quick] [--json FILE]: how well, and at what cost, Ebbtide reads
the breath from a motion sensor on the belly (device/sensing/breaths.py).

On the synthetic suite (tests/sensing/synthetic.py: 4-30 breaths a minute on both parts'
datasheet noise, irregular breaths, sighs, the heartbeat, posture steps, drift, movement
bursts), beside the published figures for a belly accelerometer (about 95 % of readings
within 2 breaths a minute with the three axes combined):
  rate error     mean absolute error (breaths a minute) of the still windows with a rate,
                 and the share within 2
  coverage       the share of still windows with a rate (aim: at least 80 %)
  movement       windows touching movement that gave a rate anyway (aim: none)
  onsets         the median distance of each onset found to the true one (aim: 0.5 s)
  no breathing   windows of a random wander in the breathing band that give a rate
  first rate     the share of recordings with a rate after 15 s, 8-30 a minute
  cost           CPU time per second of samples at 50 Hz: read_breaths over a 10 minute
                 recording, and current_rate called once a second on the last 30 s (the
                 live display); as a share of one core of this machine
And the real recording in tests/data (measured, never tuned to): the windows that give a
rate, and where. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from device.sensing.breaths import current_rate, read_breaths
from tests.sensing.synthetic import breathing, score, suite

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "resp-v102s.csv"
AIMS = {"mae_bpm": 1.0, "within_2": 0.95, "coverage": 0.80, "onset_s": 0.5}


def accuracy(seeds: list[int]) -> dict:
    """The suite's figures, over every seed's suite together."""
    runs = [score(suite(seed), read_breaths) for seed in seeds]
    errors = np.concatenate([s.rate_errors for s in runs])
    onsets = np.concatenate([s.onset_errors for s in runs])
    still = sum(s.still_windows for s in runs)
    return {
        "seeds": seeds, "recordings": sum(len(suite(seed)) for seed in seeds[:1]) * len(seeds),
        "still_windows": still,
        "mae_bpm": round(float(np.mean(np.abs(errors))), 3),
        "within_2": round(float(np.mean(np.abs(errors) <= 2)), 4),
        "worst_bpm": round(float(np.max(np.abs(errors))), 2),
        "coverage": round(errors.size / still, 4),
        "moving_windows": sum(s.moving_windows for s in runs),
        "moving_with_rate": sum(s.moving_with_rate for s in runs),
        "moving_flagged": round(float(np.mean([s.moving_flagged for s in runs])), 4),
        "onset_median_s": round(float(np.median(onsets)), 3),
        "onset_p90_s": round(float(np.percentile(onsets, 90)), 3),
        "breaths_found": round(float(np.mean([s.breaths_found for s in runs])), 4),
    }


def first_rate(per_rate: int) -> dict:
    """After 15 s of breathing at 8-30 a minute: how often there is a rate, how far off."""
    rng = np.random.default_rng(15)
    errors, asked = [], 0
    for rate in (8, 10, 12, 15, 20, 25, 30):
        for _ in range(per_rate):
            r = breathing(rng, 20, rate)
            first = r.t_s <= 15.0
            estimate = current_rate(r.t_s[first], r.accel_g[first])
            asked += 1
            if estimate is not None:
                errors.append(abs(estimate - r.true_rate(0, 15)))
    return {"recordings": asked, "with_rate": round(len(errors) / asked, 3),
            "median_error_bpm": round(float(np.median(errors)), 2) if errors else None}


def cost(live_calls: int) -> dict:
    """CPU seconds per second of samples (50 Hz), whole-recording and live."""
    r = breathing(np.random.default_rng(600), 600, 12)
    started = time.process_time()
    read_breaths(r.t_s, r.accel_g)
    whole = (time.process_time() - started) / 600
    ends = np.searchsorted(r.t_s, 30 + np.arange(live_calls))
    calls = []
    for end in ends:
        begin = np.searchsorted(r.t_s, r.t_s[end - 1] - 30)
        started = time.process_time()
        current_rate(r.t_s[begin:end], r.accel_g[begin:end])
        calls.append(time.process_time() - started)
    live = float(np.median(calls))  # one call a second: CPU s per s of samples
    return {"read_breaths_cpu_s_per_s": round(whole, 6),
            "read_breaths_core_pct": round(100 * whole, 4),
            "live_cpu_ms_per_call": round(1000 * live, 3),
            "live_core_pct": round(100 * live, 3), "live_calls": len(calls)}


def wander(recordings: int) -> dict:
    """No breathing at all, but the sensor wandering at random within the breathing band
    (0.05-0.6 Hz, 5 mg RMS: a restless hand, a soft mattress) over the MPU-6050's noise:
    how many windows still give a rate. The hardest case to refuse: breathing is such a
    wander, only regular."""
    rng = np.random.default_rng(7)
    rated = total = 0
    n, rate = 120 * 50, 50.0
    t = np.arange(n) / rate
    f = np.fft.rfftfreq(n, 1 / rate)
    for _ in range(recordings):
        spectrum = np.fft.rfft(rng.normal(0, 1, (n, 3)), axis=0)
        spectrum[(f < 0.05) | (f > 0.6)] = 0
        moves = np.fft.irfft(spectrum, n=n, axis=0)
        accel = np.array([0, 0, 1.0]) + moves * 0.005 / moves.std() + rng.normal(0, 0.002,
                                                                                  (n, 3))
        reading = read_breaths(t, accel)
        rated += sum(w.rate_bpm is not None for w in reading.windows)
        total += len(reading.windows)
    return {"windows": total, "with_rate": rated, "share": round(rated / total, 4)}


def real() -> dict:
    """The real recording, its chest signal as one axis of a sensor (gravity on z)."""
    data = np.loadtxt(REAL, delimiter=",", skiprows=1)
    noise = np.random.default_rng(102).normal(0, 0.002, (data.shape[0], 2))
    accel = np.column_stack([data[:, 1], noise[:, 0], 1 + noise[:, 1]])
    reading = read_breaths(data[:, 0], accel)
    return {"windows": len(reading.windows),
            "rated": [[w.t_s, w.rate_bpm] for w in reading.windows if w.rate_bpm is not None],
            "moving": sum(w.moving for w in reading.windows),
            "rate_bpm": reading.rate_bpm, "breaths": len(reading.breaths)}


def _met(value: float, aim: float, at_least: bool) -> str:
    return "yes" if (value >= aim if at_least else value <= aim) else "NO"


def table(result: dict) -> str:
    a, f, c, r = result["accuracy"], result["first_rate"], result["cost"], result["real"]
    w = result["wander"]
    rated = ", ".join(f"{t:.0f} s: {rate:.1f}" for t, rate in r["rated"]) or "none"
    return "\n".join([
        f"Ebbtide breath reading: {a['recordings']} synthetic recordings of 180 s "
        f"({a['still_windows']} still windows), seeds {a['seeds']}",
        f"rate error, still windows   {a['mae_bpm']:.2f} bpm mean absolute, "
        f"{a['within_2']:.1%} within 2, worst {a['worst_bpm']:.1f}  "
        f"(aims <= {AIMS['mae_bpm']}, >= {AIMS['within_2']:.0%}: "
        f"{_met(a['mae_bpm'], AIMS['mae_bpm'], False)}, "
        f"{_met(a['within_2'], AIMS['within_2'], True)})",
        f"coverage, still windows     {a['coverage']:.1%} with a rate  "
        f"(aim >= {AIMS['coverage']:.0%}: {_met(a['coverage'], AIMS['coverage'], True)})",
        f"movement                    {a['moving_with_rate']} of {a['moving_windows']} windows "
        f"touching movement gave a rate; {a['moving_flagged']:.0%} of those holding 1 s of it "
        f"said moving",
        f"breath onsets               median {a['onset_median_s']:.2f} s from the truth, "
        f"90 % within {a['onset_p90_s']:.2f} s; {a['breaths_found']:.0%} of breaths found  "
        f"(aim <= {AIMS['onset_s']} s: {_met(a['onset_median_s'], AIMS['onset_s'], False)})",
        f"no breathing, a wander      {w['with_rate']} of {w['windows']} windows "
        f"({w['share']:.1%}) gave a rate",
        f"first rate after 15 s       {f['with_rate']:.0%} of {f['recordings']} recordings at "
        f"8-30/min, median error {f['median_error_bpm']} bpm",
        f"cost, 50 Hz samples         read_breaths {c['read_breaths_core_pct']:.3f} % of a core "
        f"({1e6 * c['read_breaths_cpu_s_per_s']:.0f} us per second of samples); live "
        f"current_rate once a second {c['live_cpu_ms_per_call']:.2f} ms a call = "
        f"{c['live_core_pct']:.2f} % of a core",
        f"real recording (PhysioNet v102s, 300 s)  {len(r['rated'])} of {r['windows']} windows "
        f"with a rate ({rated}), {r['moving']} moving; median {r['rate_bpm']}, "
        f"{r['breaths']} breaths",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breath",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one suite instead of four")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    args = parser.parse_args(argv)
    seeds = [22] if args.quick else [22, 1, 2, 3]
    result = {"accuracy": accuracy(seeds), "first_rate": first_rate(5 if args.quick else 20),
              "cost": cost(30 if args.quick else 120), "real": real(),
              "wander": wander(10 if args.quick else 40)}
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
