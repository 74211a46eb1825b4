"""Can the breathing be followed by ear alone? Two figures from a rendered session.

A listener who only hears the pacing sound, eyes shut, needs it (1) there, and (2) telling
in from out: its level rising means breathe in, falling means breathe out. Both are counted
over the 50 ms frames of one part (the breathing): the share of frames in which the sound
is above PRESENT_DBFS, and the share of inhale and exhale frames in which its smoothed
level moves the right way. Pure: levels and phases in, figures out.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

FRAME_S = 0.05  # the listener's frames
PRESENT_DBFS = -50.0  # a frame is heard when the sound is above this
SMOOTH_FRAMES = 5  # the level is smoothed over this many frames (a quarter second)


@dataclass(frozen=True)
class ByEar:
    """How well one stretch of a session can be followed with eyes shut."""

    present: float  # share of frames with the pacing sound above PRESENT_DBFS
    direction: float  # share of inhale and exhale frames whose level moves the right way
    frames: int  # frames in the stretch


def by_ear(levels_db: Sequence[float], phases: Sequence[tuple[float, str]],
           start: float, stop: float, frame_s: float = FRAME_S) -> ByEar:
    """The two figures for the frames from `start` to `stop` seconds.

    levels_db: the pacing sound's RMS level of each frame (frame k covers k*frame_s to
    (k+1)*frame_s). phases: (start time, name) of each breath phase, in time order.
    """
    first, last = round(start / frame_s), min(round(stop / frame_s), len(levels_db))
    if last <= first:
        return ByEar(0.0, 0.0, 0)
    smooth = _smoothed(levels_db)
    present = sum(levels_db[k] > PRESENT_DBFS for k in range(first, last))
    starts = [t for t, _ in phases]
    right = judged = 0
    for k in range(first, last):
        middle = (k + 0.5) * frame_s
        i = bisect.bisect_right(starts, middle) - 1
        phase = phases[i][1] if i >= 0 else ""
        if phase not in ("inhale", "exhale") or not 0 < k < len(smooth) - 1:
            continue
        rising = smooth[k + 1] > smooth[k - 1]
        judged += 1
        right += rising == (phase == "inhale")
    return ByEar(present / (last - first), right / judged if judged else 0.0, last - first)


def _smoothed(levels_db: Sequence[float]) -> list[float]:
    """A centred moving average: the listener's ear does not follow a 50 ms flutter."""
    half = SMOOTH_FRAMES // 2
    out = []
    for k in range(len(levels_db)):
        window = levels_db[max(0, k - half):k + half + 1]
        out.append(sum(window) / len(window))
    return out
