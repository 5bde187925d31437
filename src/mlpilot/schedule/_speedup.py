"""How much faster a job runs on more cores.

A speed-up curve maps a whole number of cores to the job's rate relative to one core.
With nothing known, Amdahl's law with a declared parallel share stands in; once a step
has run at several sizes, the measured points take over.
"""

from __future__ import annotations

import abc
import bisect
import dataclasses
from collections.abc import Mapping

from mlpilot.errors import InvalidInputError


class SpeedupCurve(abc.ABC):
    """``speedup(cores)``: the rate on ``cores`` cores, 1.0 on one core, never decreasing."""

    @abc.abstractmethod
    def speedup(self, cores: int) -> float:
        """The rate on ``cores`` cores relative to one core (0.0 for no cores)."""


@dataclasses.dataclass(frozen=True)
class Amdahl(SpeedupCurve):
    """Amdahl's law: a share ``parallel`` of the work spreads over cores, the rest does not."""

    parallel: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.parallel <= 1.0:
            raise InvalidInputError(
                f"the parallel share of a job is between 0 and 1, got {self.parallel!r}"
            )

    def speedup(self, cores: int) -> float:
        if cores < 1:
            return 0.0
        return 1.0 / ((1.0 - self.parallel) + self.parallel / cores)


@dataclasses.dataclass(frozen=True)
class Measured(SpeedupCurve):
    """Speed-ups measured at some core counts, interpolated linearly between them.

    Past the largest measured count the curve stays flat: more cores are assumed to
    give nothing until a run shows otherwise.
    """

    points: Mapping[int, float]

    def __post_init__(self) -> None:
        if not self.points or any(c < 1 or s <= 0 for c, s in self.points.items()):
            raise InvalidInputError(
                "measured speed-ups need at least one (cores >= 1, speed-up > 0) point"
            )
        known = {1: 1.0, **self.points}
        # A curve never falls: extra cores a job cannot use are left idle, not harmful.
        monotone, best = {}, 0.0
        for cores in sorted(known):
            best = max(best, known[cores])
            monotone[cores] = best
        object.__setattr__(self, "points", monotone)

    def speedup(self, cores: int) -> float:
        if cores < 1:
            return 0.0
        counts = list(self.points)
        index = bisect.bisect_right(counts, cores)
        if index == len(counts):
            return self.points[counts[-1]]
        low, high = counts[index - 1], counts[index]
        share = (cores - low) / (high - low)
        return self.points[low] + share * (self.points[high] - self.points[low])
