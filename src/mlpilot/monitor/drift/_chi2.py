"""Pearson's chi-square test of homogeneity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlpilot.monitor.drift._base import DriftTest, corrected_threshold, significance
from mlpilot.monitor.drift._base import correction as check_correction
from mlpilot.monitor.drift._frame import ColumnKind
from mlpilot.monitor.drift._profile import CategoricalColumn
from mlpilot.monitor.drift._report import ColumnResult
from mlpilot.monitor.drift._window import Window


class ChiSquareTest(DriftTest):
    """Pearson's chi-square test that reference and window share one distribution of
    categories, for categorical columns.

    The table has two rows, the reference's counts and the window's, and one column for
    each category either has (a category only the window has is one too). The
    statistic and p-value are ``scipy.stats.chi2_contingency``'s without Yates'
    continuity correction. A column with a single category in both has statistic 0 and
    p-value 1. A column drifted when its p-value is below the threshold.

    Args:
        alpha: the significance level.
        correction: how the threshold is corrected for the number of columns compared
            at once: ``none``, ``bonferroni`` or ``bh`` (Benjamini–Hochberg); see
            :data:`~mlpilot.monitor.drift.CORRECTIONS`.
        bonferroni: the same as ``correction="bonferroni"``.
    """

    name = "chi2"

    def __init__(
        self, alpha: float = 0.05, *, correction: str = "none", bonferroni: bool = False
    ) -> None:
        self.threshold = significance(alpha)
        self.correction = "bonferroni" if bonferroni else check_correction(correction)

    def applies_to(self, kind: ColumnKind) -> bool:
        return kind == "categorical"

    def compare(self, window: Window, columns: Sequence[str]) -> list[ColumnResult]:
        if not columns:
            return []
        from scipy.stats import chi2

        statistics, freedoms = [], []
        for name in columns:
            column = window.profile.columns[name]
            assert isinstance(column, CategoricalColumn)
            statistic, freedom = chi_square(_table(column, window.counts(name)))
            statistics.append(statistic)
            freedoms.append(freedom)
        # chi2.sf with 0 degrees of freedom is NaN; one category cannot have drifted.
        p_values = np.where(np.array(freedoms) > 0, chi2.sf(statistics, np.maximum(freedoms, 1)), 1)
        threshold = corrected_threshold(p_values, self.threshold, self.correction)
        return [
            ColumnResult(name, self.name, s, float(p), threshold, bool(p < threshold))
            for name, s, p in zip(columns, statistics, p_values, strict=True)
        ]


def _table(column: CategoricalColumn, counts: dict[str, int]) -> np.ndarray:
    """Reference counts over window counts, one column per category."""
    known = dict(zip(column.categories, column.counts.tolist(), strict=True))
    categories = [*column.categories, *sorted(counts.keys() - known.keys())]
    return np.array(
        [[known.get(c, 0) for c in categories], [counts.get(c, 0) for c in categories]],
        dtype=np.float64,
    )


def chi_square(table: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic of a contingency table with no empty row or column, and its
    degrees of freedom."""
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, (table.shape[0] - 1) * (table.shape[1] - 1)
