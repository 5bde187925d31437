"""Population stability index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlpilot.monitor.drift._base import DriftTest, positive
from mlpilot.monitor.drift._frame import ColumnKind
from mlpilot.monitor.drift._profile import NumericColumn
from mlpilot.monitor.drift._report import ColumnResult
from mlpilot.monitor.drift._window import Window


class PSITest(DriftTest):
    """Population stability index, for numeric and categorical columns.

    ``PSI = Σ (actual - expected) · ln(actual / expected)`` over the reference's bins:
    its quantile bins for a numeric column (see :class:`NumericColumn`), its categories
    for a categorical one, plus a bin for each category the window has and the
    reference has not. Shares below ``epsilon`` count as ``epsilon``, so that an empty
    bin gives a large but finite index. A column drifted when the index reaches
    ``threshold``: by the usual reading, under 0.1 is stable, 0.1 to 0.2 a moderate
    shift and 0.2 or more a significant one.

    Args:
        threshold: the index from which a column counts as drifted.
        epsilon: the smallest share a bin is given.
    """

    name = "psi"

    def __init__(self, threshold: float = 0.2, *, epsilon: float = 1e-4) -> None:
        self.threshold = positive("threshold", threshold)
        self.epsilon = positive("epsilon", epsilon)

    def applies_to(self, kind: ColumnKind) -> bool:
        return True

    def compare(self, window: Window, columns: Sequence[str]) -> list[ColumnResult]:
        results = []
        for name in columns:
            expected, actual = self._shares(window, name)
            index = psi(expected, actual, self.epsilon)
            results.append(
                ColumnResult(name, self.name, index, None, self.threshold, index >= self.threshold)
            )
        return results

    def _shares(self, window: Window, name: str) -> tuple[np.ndarray, np.ndarray]:
        column = window.profile.columns[name]
        if isinstance(column, NumericColumn):
            comparison = window.comparison(name)
            return column.proportions, comparison.bin_counts / comparison.count
        counts = window.counts(name)
        known = dict(zip(column.categories, column.proportions, strict=True))
        categories = [*column.categories, *sorted(counts.keys() - known.keys())]
        total = sum(counts.values())
        expected = np.array([known.get(c, 0.0) for c in categories])
        actual = np.array([counts.get(c, 0) / total for c in categories])
        return expected, actual


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = 1e-4) -> float:
    """The population stability index of shares ``actual`` against ``expected``."""
    expected = np.maximum(expected, epsilon)
    actual = np.maximum(actual, epsilon)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
