"""The plug-in point for drift tests."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from mlpilot._plugins import Registry
from mlpilot.errors import InvalidInputError
from mlpilot.monitor.drift._frame import ColumnKind
from mlpilot.monitor.drift._profile import ReferenceProfile
from mlpilot.monitor.drift._report import ColumnResult
from mlpilot.monitor.drift._window import Window


class DriftTest(abc.ABC):
    """One way of telling whether a column of current data drifted from the reference.

    A subclass names itself, says which kinds of column it applies to, and compares the
    columns the window can be compared on; :meth:`check` marks the others not
    evaluable. ``threshold`` is the value recorded with each result.

    A package adds a test by subclassing this and declaring it as an entry point in the
    group ``mlpilot.drift_tests`` under its :attr:`name`. Named in ``check_drift`` or a
    monitor, it is made with its defaults; pass an instance to set it up otherwise.
    """

    name: ClassVar[str]
    threshold: float

    @abc.abstractmethod
    def applies_to(self, kind: ColumnKind) -> bool:
        """Whether the test compares columns of ``kind`` (numeric or categorical)."""

    @abc.abstractmethod
    def compare(self, window: Window, columns: Sequence[str]) -> list[ColumnResult]:
        """One result for each of ``columns``, all of which the window can be compared on."""

    def check(self, profile: ReferenceProfile, window: Window | Any) -> list[ColumnResult]:
        """Results for every column of ``profile`` that the test applies to.

        ``window`` is a :class:`Window` read against ``profile``, or the current data
        itself (a pandas DataFrame or a pyarrow Table).
        """
        if not isinstance(window, Window):
            window = Window(profile, window)
        elif window.profile is not profile:
            raise InvalidInputError("the window was read against another reference profile")
        names = [name for name, column in profile.columns.items() if self.applies_to(column.kind)]
        compared = {
            result.column: result
            for result in self.compare(window, [n for n in names if n not in window.problems])
        }
        return [
            ColumnResult.not_evaluable(name, self.name, self.threshold, window.problems[name])
            if name in window.problems
            else compared[name]
            for name in names
        ]


def significance(alpha: float) -> float:
    """``alpha``, checked to be a significance level strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be a number between 0 and 1, got {alpha!r}")
    return float(alpha)


#: How the p-values of one window's columns are corrected for testing many at once:
#: not at all, Bonferroni's (the chance of any false alarm in the window stays under
#: alpha), or Benjamini–Hochberg's (the expected share of false alarms among the
#: columns flagged stays under alpha).
CORRECTIONS = ("none", "bonferroni", "bh")


def correction(value: str) -> str:
    """``value``, checked to be one of :data:`CORRECTIONS`."""
    if value not in CORRECTIONS:
        raise InvalidInputError(
            f"unknown correction {value!r}; use one of {', '.join(CORRECTIONS)}"
        )
    return value


def corrected_threshold(p_values: Any, alpha: float, how: str) -> float:
    """The threshold below which a p-value among ``p_values`` (one per column tested)
    counts as significant at ``alpha``, corrected ``how``."""
    count = len(p_values)
    if how == "none" or count <= 1:
        return alpha
    if how == "bonferroni":
        return alpha / count
    ordered = np.sort(np.asarray(p_values, dtype=np.float64))
    passing = ordered <= alpha * np.arange(1, count + 1) / count
    if not passing.any():
        return alpha / count
    # Benjamini–Hochberg rejects every p-value up to the largest that passes, itself
    # included: the threshold is the next number above it.
    return float(np.nextafter(ordered[passing].max(), np.inf))


def adjusted_p_values(p_values: Any, how: str) -> np.ndarray:
    """``p_values`` (one per column) adjusted ``how``, to compare with a level as is."""
    values = np.asarray(p_values, dtype=np.float64)
    if how == "bonferroni":
        return np.minimum(values * len(values), 1.0)
    if how == "bh" and len(values) > 1:
        from scipy.stats import false_discovery_control

        return np.asarray(false_discovery_control(values, method="bh"))
    return values


def positive(name: str, value: float) -> float:
    """``value``, checked to be a finite number above 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInputError(f"{name} must be a finite number above 0, got {value!r}")
    return float(value)


#: The drift tests ``check_drift`` and monitors know by name.
DRIFT_TESTS: Registry[DriftTest] = Registry(
    "drift_tests",
    "drift test",
    DriftTest,
    {
        "ks": "mlpilot.monitor.drift._ks:KSTest",
        "psi": "mlpilot.monitor.drift._psi:PSITest",
        "chi2": "mlpilot.monitor.drift._chi2:ChiSquareTest",
    },
)
