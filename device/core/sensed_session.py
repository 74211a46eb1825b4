"""What a session knew of the person's breathing: the contract between the adaptive pacer
(which produces it, device/service/) and the history and pictures (which keep and draw it).

Pure data, in plan time (seconds from the session's start). Without a sensor a session has
none (None where it would be kept), never zeros.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PacedBreath:
    """One breath of the breathing part: the pacer's, and the person's inhale matched to it."""

    paced_at: float  # when the pacer's inhale began
    rate_bpm: float  # the pacer's rate for this breath
    sensed_at: float | None  # the person's inhale matched to it, if one was sensed near it
    # Their inhale began in a window a quarter of the pacer's period wide around the pacer's
    # (device/core/pacer.py in_step).
    in_step: bool


@dataclass(frozen=True)
class SessionSensing:
    """The figures a session keeps, and what its picture draws."""

    start_bpm: float | None  # the person's own rate, measured before the breathing part
    end_bpm: float | None  # their rate at the end of the breathing part
    in_step_share: float | None  # share of the breathing part's breaths in step, 0-1
    breaths: tuple[PacedBreath, ...] = ()
    # The sensed breathing signal, a few points a second, (plan time, -1..1), for pictures.
    trace: tuple[tuple[float, float], ...] = ()
