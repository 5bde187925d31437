"""Two-sample Kolmogorov–Smirnov test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlpilot.monitor.drift._base import DriftTest, corrected_threshold, significance
from mlpilot.monitor.drift._base import correction as check_correction
from mlpilot.monitor.drift._frame import ColumnKind
from mlpilot.monitor.drift._kolmogorov import ks_p_values
from mlpilot.monitor.drift._report import ColumnResult
from mlpilot.monitor.drift._window import Window


class KSTest(DriftTest):
    """Two-sample Kolmogorov–Smirnov test, for numeric columns.

    The statistic is the largest distance between the reference's and the window's
    empirical distribution functions; the two-sided p-value is the one
    ``scipy.stats.ks_2samp(reference, window, method="asymp")`` gives. A reference
    column profiled from more values than its sample keeps is compared through the
    sample (within ``1 / sample_size`` of the whole column's distribution) and counted
    at its full size in the p-value. A column drifted when its p-value is below the
    threshold.

    Args:
        alpha: the significance level.
        correction: how the threshold is corrected for the number of columns compared
            at once: ``none``, ``bonferroni`` or ``bh`` (Benjamini–Hochberg); see
            :data:`~mlpilot.monitor.drift.CORRECTIONS`.
        bonferroni: the same as ``correction="bonferroni"``.
    """

    name = "ks"

    def __init__(
        self, alpha: float = 0.05, *, correction: str = "none", bonferroni: bool = False
    ) -> None:
        self.threshold = significance(alpha)
        self.correction = "bonferroni" if bonferroni else check_correction(correction)

    def applies_to(self, kind: ColumnKind) -> bool:
        return kind == "numeric"

    def compare(self, window: Window, columns: Sequence[str]) -> list[ColumnResult]:
        if not columns:
            return []
        comparisons = [window.comparison(name) for name in columns]
        statistics = np.array([c.statistic for c in comparisons])
        reference = np.array([window.profile.columns[name].count for name in columns], float)
        current = np.array([c.count for c in comparisons], dtype=np.float64)
        p_values = ks_p_values(statistics, reference, current)
        threshold = corrected_threshold(p_values, self.threshold, self.correction)
        return [
            ColumnResult(name, self.name, float(d), float(p), threshold, bool(p < threshold))
            for name, d, p in zip(columns, statistics, p_values, strict=True)
        ]
