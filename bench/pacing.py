"""python -m bench.pacing [--pattern NAME ...] [--no-wer] [--json FILE]: can a session be
followed with eyes shut?

For every built-in breathing pattern, a whole session is rendered (the real runner, mixer
and tide, on a simulated clock, with this machine's voice cache) by day and in the quiet
hours, and the tide alone is measured over the breathing part, in 50 ms frames:
  present    the share of frames in which it is above -50 dBFS (aim: at least 95 %)
  direction  the share of inhale and exhale frames in which its smoothed level rises on
             an inhale and falls on an exhale (aim: at least 90 %)
Beside them, the word error rate of an offline recogniser on the default session's lines,
alone and over the tide (bench.intelligibility --tide; aim: within 5 points).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

from device.commands.render import render_session
from device.core.config_schema import parse
from device.core.patterns import BUILT_IN
from device.files.script_file import load_script

NIGHT = datetime.time(23, 30)  # in the default quiet hours (21:00 to 07:00)
PRESENT_AIM, DIRECTION_AIM, WER_AIM = 0.95, 0.90, 0.05


def by_ear(patterns: list[str]) -> list[dict]:
    """Both figures for each pattern, by day and at night."""
    rows = []
    script = load_script()
    with tempfile.TemporaryDirectory(prefix="ebbtide-bench-pacing-") as scratch:
        for pattern in patterns:
            config = parse({"breathing": {"pattern": pattern}})
            for when, at in (("day", None), ("night", NIGHT)):
                started = time.monotonic()
                rendered = render_session(config, script, Path(scratch) / f"{pattern}-{when}",
                                          at)
                ear = rendered.by_ear
                assert ear is not None  # the tide is on by default
                rows.append({"pattern": pattern, "when": when, "present": round(ear.present, 4),
                             "direction": round(ear.direction, 4), "frames": ear.frames,
                             "render_s": round(time.monotonic() - started, 2)})
    return rows


def table(rows: list[dict], wer: dict | None) -> str:
    out = ["Ebbtide by ear: the tide alone through the breathing part (50 ms frames)",
           f"{'pattern':<14} {'when':<6} {'present':>8} {'direction':>10} {'frames':>7}  met"]
    for r in rows:
        met = r["present"] >= PRESENT_AIM and r["direction"] >= DIRECTION_AIM
        out.append(f"{r['pattern']:<14} {r['when']:<6} {r['present']:>8.1%} "
                   f"{r['direction']:>10.1%} {r['frames']:>7}  {'yes' if met else 'NO'}")
    out.append(f"aims: present >= {PRESENT_AIM:.0%}, direction >= {DIRECTION_AIM:.0%}")
    if wer is not None:
        change = wer["tide_wer_change"]
        out.append(f"words heard wrong (pocketsphinx), the default session: alone "
                   f"{wer['wer']:.1%}, over the tide {wer['with_tide']['wer']:.1%} "
                   f"({change:+.1%}; aim within {WER_AIM:.0%}: "
                   f"{'yes' if abs(change) <= WER_AIM else 'NO'})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pacing",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pattern", action="extend", nargs="+", metavar="NAME",
                        choices=sorted(BUILT_IN), help="only these patterns")
    parser.add_argument("--no-wer", action="store_true",
                        help="leave out the word error rate (it takes a minute or two)")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    args = parser.parse_args(argv)
    rows = by_ear(args.pattern or list(BUILT_IN))
    wer = None
    if not args.no_wer:
        from bench.intelligibility import Recogniser, measure

        wer = measure(None, None, Recogniser(), tide=True)
        for figures in (wer, wer["with_tide"]):
            figures.pop("per_line")
    print(table(rows, wer))
    if args.json:
        Path(args.json).write_text(json.dumps({"by_ear": rows, "wer": wer}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
