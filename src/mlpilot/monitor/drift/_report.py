"""What a drift check found: one result per column and test, and the report holding them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from mlpilot.errors import NotFoundError


@dataclasses.dataclass(frozen=True)
class ColumnResult:
    """One test's verdict on one column.

    Attributes:
        column: the column's name.
        test: the test's name (``ks``, ``psi``, ``chi2``, ...).
        statistic: the test's statistic; None when the column could not be evaluated.
        p_value: the probability of a statistic at least this large without drift;
            None for tests that give none (PSI) and for columns not evaluated.
        threshold: the significance level a p-value must fall below, or for PSI the
            value the statistic must reach, to count as drift.
        drifted: whether the column drifted by this test.
        reason: why the column could not be evaluated; None when it was.
    """

    column: str
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    reason: str | None = None

    @property
    def evaluable(self) -> bool:
        return self.reason is None

    @classmethod
    def not_evaluable(cls, column: str, test: str, threshold: float, reason: str) -> ColumnResult:
        return cls(column, test, None, None, threshold, False, reason)


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """Every test's result on every column of one window.

    Attributes:
        results: one per column and test that applies to it, in the profile's column
            order.
        rows: how many rows the window had.
        reference_rows: how many rows the reference had.
        reason: why the window as a whole could not be evaluated (``"empty window"``);
            None when it was.
    """

    results: tuple[ColumnResult, ...]
    rows: int
    reference_rows: int
    reason: str | None = None

    @property
    def evaluable(self) -> bool:
        return self.reason is None

    @property
    def drifted(self) -> bool:
        """Whether any test found any column drifted."""
        return any(result.drifted for result in self.results)

    @property
    def drifted_columns(self) -> list[str]:
        """The columns at least one test found drifted, in the profile's order."""
        return list(dict.fromkeys(r.column for r in self.results if r.drifted))

    @property
    def not_evaluable(self) -> dict[str, str]:
        """The columns that could not be evaluated, each with the reason."""
        return {r.column: r.reason for r in self.results if r.reason is not None}

    def result(self, column: str, test: str) -> ColumnResult:
        """The result of ``test`` on ``column``.

        Raises:
            NotFoundError: the report holds no such result.
        """
        for result in self.results:
            if result.column == column and result.test == test:
                return result
        raise NotFoundError(f"the report has no {test!r} result for column {column!r}")

    def to_frame(self) -> pd.DataFrame:
        """One row per result: column, test, statistic, p_value, threshold, drifted,
        reason."""
        fields = [field.name for field in dataclasses.fields(ColumnResult)]
        return pd.DataFrame([dataclasses.astuple(r) for r in self.results], columns=fields)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return {
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "evaluable": self.evaluable,
            "reason": self.reason,
            "drifted_columns": self.drifted_columns,
            "results": [dataclasses.asdict(r) for r in self.results],
        }
