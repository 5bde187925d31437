"""Bootstrap confidence intervals, and paired tests of one model against another.

A resample is drawn as counts of how many times each row (or query) is taken; a chunk
of resamples is one matrix, and every metric is computed for the whole chunk at once
(see ``_metrics``). A paired comparison applies the same resamples to both models, so
that the rows one model finds hard are hard for both, and the interval of the
difference is much narrower than the two intervals side by side.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import stats

from mlpilot.errors import InvalidInputError
from mlpilot.evaluate._metrics import Columns, Metric

#: Resamples computed at once: 64 x 100,000 rows of float32 counts is 25 MB.
_CHUNK = 64


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A metric's value on the whole set, and its bootstrap confidence interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclasses.dataclass(frozen=True)
class Difference:
    """Challenger minus champion on one metric, on the same resampled rows.

    ``p_value`` is the one-sided bootstrap p-value of "the challenger is no better":
    the share of resamples in which it did not improve (in the metric's direction).
    """

    value: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def resample(n: int, size: int, seed: int, number: int) -> np.ndarray:
    """Chunk ``number`` of bootstrap resamples: ``size`` rows of counts of how often each
    of ``n`` rows was drawn. It depends only on ``seed`` and ``number``, so chunks can
    be drawn in any order, on any thread."""
    rng = np.random.default_rng([seed, number])
    # Each resample draws into its own stretch of one long count vector.
    drawn = rng.integers(0, n, size=(size, n), dtype=np.int64)
    drawn += np.arange(size, dtype=np.int64)[:, None] * n
    counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
    return counts.astype(np.float32)


def bootstrap(
    columns: Sequence[Columns],
    metrics: Sequence[Metric],
    n: int,
    *,
    count: int = 1000,
    seed: int = 0,
) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
    """Each metric on each set of ``columns`` (models scored on the same ``n`` rows):
    the value on all rows, and its value in each of ``count`` resamples."""
    if n < 2:
        raise InvalidInputError(f"an evaluation needs at least 2 rows, got {n}")
    if count < 10:
        raise InvalidInputError(f"use at least 10 bootstrap resamples, got {count}")
    points = []
    for c in columns:
        sums = c.sums()
        points.append({m.name: float(m.fn(sums)[0]) for m in metrics})

    def chunk(start: int) -> list[dict[str, np.ndarray]]:
        weights = resample(n, min(_CHUNK, count - start), seed, start // _CHUNK)
        return [{m.name: m.fn(c.sums(weights)) for m in metrics} for c in columns]

    # numpy lets go of the GIL in its loops, so chunks run on every core at once.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        chunks = list(pool.map(chunk, range(0, count, _CHUNK)))
    return points, [
        {m.name: np.concatenate([c[i][m.name] for c in chunks]) for m in metrics}
        for i in range(len(columns))
    ]


def interval(value: float, draws: np.ndarray, confidence: float) -> Estimate:
    """The percentile interval of ``draws`` around ``value``."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return Estimate(value, float(low), float(high))


def difference(
    value: float, draws: np.ndarray, confidence: float, higher_is_better: bool
) -> Difference:
    est = interval(value, draws, confidence)
    worse_or_equal = draws <= 0 if higher_is_better else draws >= 0
    # Laplace's rule keeps a p-value from 1,000 resamples from ever reading exactly 0.
    p = (float(np.count_nonzero(worse_or_equal)) + 1) / (len(draws) + 1)
    return Difference(est.value, est.low, est.high, p)


def composite(
    values: Mapping[str, float | np.ndarray],
    weights: Mapping[str, float],
    signs: Mapping[str, float],
) -> float | np.ndarray:
    """The weighted sum of metrics, each signed so that higher is better."""
    total: float | np.ndarray = 0.0
    for name, weight in weights.items():
        total = total + weight * signs[name] * values[name]
    return total


@dataclasses.dataclass(frozen=True)
class McNemar:
    """McNemar's exact test on the rows exactly one of two classifiers got right."""

    #: Rows only the champion got right, and rows only the challenger got right.
    champion_only: int
    challenger_only: int
    p_value: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def mcnemar(champion_correct: np.ndarray, challenger_correct: np.ndarray) -> McNemar:
    """One-sided exact test that the challenger is right more often than the champion."""
    a = np.asarray(champion_correct, dtype=bool)
    b = np.asarray(challenger_correct, dtype=bool)
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(b & ~a))
    if only_a + only_b == 0:
        return McNemar(only_a, only_b, 1.0)
    p = stats.binomtest(only_b, only_a + only_b, 0.5, alternative="greater").pvalue
    return McNemar(only_a, only_b, float(p) if math.isfinite(p) else 1.0)
