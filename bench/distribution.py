"""A figure as a distribution: how many samples, the median, the 99th percentile, the max."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Distribution:
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        return cls(tuple(float(v) for v in values))

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def p99(self) -> float | None:
        """The 99th percentile (nearest rank): the max for fewer than 100 samples."""
        if not self.values:
            return None
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]

    @property
    def max(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def min(self) -> float | None:
        return min(self.values) if self.values else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"n": len(self.values), "median": _round(self.median), "p99": _round(self.p99),
                "max": _round(self.max), "min": _round(self.min)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
