"""A real respiration recording (tests/data/resp-v102s.csv, PhysioNet; see its README): its
stretches that cannot be read give no rate rather than a wrong one, and its clear start reads
about what a person counts there. Measured on, never tuned to."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from device.sensing.breaths import read_breaths

DATA = Path(__file__).resolve().parents[1] / "data" / "resp-v102s.csv"
ARTEFACTS = ((130.0, 150.0), (248.0, 300.0))  # the amplifier wraps (the data's README)


@pytest.fixture(scope="module")
def reading():
    """The chest signal (arbitrary units, about 0.02 RMS) as one axis of a sensor in g,
    the other two still but for the MPU-6050's noise, gravity on z."""
    data = np.loadtxt(DATA, delimiter=",", skiprows=1)
    rng = np.random.default_rng(102)
    t, chest = data[:, 0], data[:, 1]
    noise = rng.normal(0, 0.002, (t.size, 2))
    accel = np.column_stack([chest, noise[:, 0], 1 + noise[:, 1]])
    return read_breaths(t, accel)


def test_the_artefact_stretches_give_no_rate(reading) -> None:
    touching = [w for w in reading.windows
                if any(w.t_s - 15 < stop and w.t_s + 15 > start for start, stop in ARTEFACTS)]
    assert len(touching) >= 8
    assert all(w.rate_bpm is None for w in touching)


def test_the_clear_start_reads_about_ten_to_thirteen_a_minute(reading) -> None:
    """By hand, trough to trough, 0-40 s holds breaths of 4 to 6 s: 10 to 13 a minute."""
    start = [w for w in reading.windows if w.t_s + 15 <= 60]
    rated = [w.rate_bpm for w in start if w.rate_bpm is not None]
    assert rated, "at least one reading in the clear minute"
    assert all(9 <= rate <= 14 for rate in rated)
    inhales = [b.inhale_s for b in reading.breaths if b.inhale_s < 60]
    assert len(inhales) >= 3
    assert all(3.5 <= later - earlier <= 7.5 for earlier, later in itertools.pairwise(inhales))


def test_no_rate_anywhere_is_far_from_the_start(reading) -> None:
    """Where the recording gives a rate at all, it is one a person could be breathing at
    there (it never reads an artefact's jumps as fast breathing)."""
    assert all(8 <= w.rate_bpm <= 16 for w in reading.windows if w.rate_bpm is not None)
