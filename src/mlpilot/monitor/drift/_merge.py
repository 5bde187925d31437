"""One sort per numeric column gives both the KS statistic and the PSI bin counts.

The window's values and the reference's sorted sample are sorted together. Each value
carries in the lowest bit of its float64 mantissa whether it came from the window
(bit set) or the reference (bit cleared), so one ``ndarray.sort`` (vectorised, and
twice as fast as sorting the window and then binary-searching the reference for each
of its values) merges them and still tells them apart. Walking the merged order, each
reference value adds ``m`` and each window value takes away ``n``; the running sum is
``n·m·(F_ref - F_window)`` at every point, so the largest absolute sum at the end of a
run of equal values is ``n·m`` times the two-sample KS statistic, exactly as integers.

The price of the flag bit: values one unit in the last place apart compare as equal,
and so do ±inf and the largest finite floats. Neither moves a statistic of real data.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mlpilot.monitor.drift._profile import NumericColumn

_FLAG = np.uint64(1)
_UNFLAG = ~_FLAG
_LARGEST = float(np.finfo(np.float64).max)


@dataclasses.dataclass(frozen=True, eq=False)
class NumericComparison:
    """A window's numeric column measured against the reference's.

    Attributes:
        count: the window's values, missing ones left out.
        statistic: the two-sample Kolmogorov–Smirnov statistic, the largest distance
            between the reference's and the window's empirical distribution functions.
        bin_counts: how many of the window's values fall in each of the reference's
            PSI bins.
    """

    count: int
    statistic: float
    bin_counts: np.ndarray


class Merger:
    """Compares numeric columns one after another in buffers it keeps between them
    (fresh multi-megabyte arrays cost more in page faults than the work on them)."""

    def __init__(self) -> None:
        self._merged = np.empty(0, dtype=np.float64)
        self._sums = np.empty(0, dtype=np.int64)

    def compare(self, column: NumericColumn, values: np.ndarray) -> NumericComparison:
        """Compare the window's ``values`` (NaN for missing) with the reference ``column``.

        Both must hold at least one value that is not missing.
        """
        low, high = values.min(), values.max()  # NaN if any value is NaN
        if np.isnan(low) or np.isnan(high):
            values = values[~np.isnan(values)]
            low, high = values.min(), values.max()
        sample = column.sample
        n, m = len(sample), len(values)
        merged, bits, sums = self._buffers(n + m)

        # An infinity with its lowest bit set would be NaN; the largest finite float
        # stands in for it (the sample is sorted, so its ends tell whether it has any).
        if np.isinf(sample[0]) or np.isinf(sample[-1]):
            sample = np.clip(sample, -_LARGEST, _LARGEST)
        if np.isinf(low) or np.isinf(high):
            values = np.clip(values, -_LARGEST, _LARGEST)
        np.bitwise_and(sample.view(np.uint64), _UNFLAG, out=bits[:n])
        np.bitwise_or(values.view(np.uint64), _FLAG, out=bits[n:])
        merged.sort()

        np.bitwise_and(bits, _FLAG, out=sums.view(np.uint64))
        sums *= -(n + m)
        sums += m
        np.cumsum(sums, out=sums)
        np.bitwise_and(bits, _UNFLAG, out=bits)

        tied = merged[1:] == merged[:-1]
        # Inside a run of equal values the running sum is not a point of either
        # distribution function; only its end is.
        ends = np.append(sums[:-1][~tied], sums[-1]) if tied.any() else sums
        statistic = max(int(ends.max()), -int(ends.min())) / (n * m)

        at_most = np.searchsorted(merged, column.edges, side="right")
        before = sums[np.maximum(at_most - 1, 0)]
        window_at_most = np.where(at_most > 0, (m * at_most - before) // (n + m), 0)
        bin_counts = np.diff(np.concatenate(([0], window_at_most, [m])))
        return NumericComparison(m, statistic, bin_counts)

    def _buffers(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(self._merged) < size:
            self._merged = np.empty(size, dtype=np.float64)
            self._sums = np.empty(size, dtype=np.int64)
        merged = self._merged[:size]
        return merged, merged.view(np.uint64), self._sums[:size]
