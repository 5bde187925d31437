"""The current data, read once and lined up with the reference profile for every test."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.errors import InvalidInputError
from mlpilot.monitor.drift._frame import as_frame, column_kind, numbers, value_counts
from mlpilot.monitor.drift._merge import Merger, NumericComparison
from mlpilot.monitor.drift._profile import ColumnProfile, NumericColumn, ReferenceProfile

#: The most threads that compare numeric columns at once.
_MAX_THREADS = 8


class Window:
    """A window of current data ready to be compared with ``profile``.

    Reading it finds the columns that cannot be compared; :attr:`problems` says why for
    each, and tests mark those columns not evaluable instead of failing.

    Args:
        profile: the reference profile the window is compared with.
        data: the current rows, a pandas DataFrame or a pyarrow Table.

    Raises:
        InvalidInputError: ``data`` is not a table.
    """

    def __init__(self, profile: ReferenceProfile, data: Any) -> None:
        if not isinstance(profile, ReferenceProfile):
            raise InvalidInputError(
                f"expected a ReferenceProfile, got {type(profile).__name__}; "
                "build one with ReferenceProfile.from_frame(reference_data)"
            )
        frame = as_frame(data, "window")
        self.profile = profile
        #: How many rows the window has.
        self.rows = len(frame)
        #: Columns that cannot be compared, each with the reason.
        self.problems: dict[str, str] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._comparisons: dict[str, NumericComparison] = {}
        if self.rows == 0:
            self.problems = dict.fromkeys(profile.columns, "empty window")
            return
        labels: dict[str, list[Any]] = {}
        for label in frame.columns:
            labels.setdefault(str(label), []).append(label)
        for name, column in profile.columns.items():
            found = labels.get(name, [])
            if len(found) != 1:
                self.problems[name] = (
                    "missing from the window" if not found else "in the window more than once"
                )
            elif column.count == 0:
                self.problems[name] = "the reference has no values in this column"
            else:
                problem = self._read(column, frame[found[0]])
                if problem is not None:
                    self.problems[name] = problem

    def values(self, name: str) -> np.ndarray:
        """The window's numbers in numeric column ``name``, missing ones left out."""
        values = self._numbers[name]
        present: np.ndarray = values[~np.isnan(values)]
        return present

    def counts(self, name: str) -> dict[str, int]:
        """How often each value occurs in categorical column ``name``, keyed by its text."""
        return self._counts[name]

    def comparison(self, name: str) -> NumericComparison:
        """Numeric column ``name`` measured against the reference (KS statistic, PSI bin
        counts); computed for every numeric column on the first call."""
        if not self._comparisons:
            self._compare_all()
        return self._comparisons[name]

    def _compare_all(self) -> None:
        jobs = list(self._numbers)
        # numpy lets go of the GIL while it sorts, so threads share the columns out;
        # below a quarter million values each, starting them costs more than it saves.
        values = sum(len(self._numbers[name]) for name in jobs)
        workers = min(len(jobs), os.cpu_count() or 1, _MAX_THREADS, values // 250_000 + 1)
        if workers <= 1:
            self._comparisons.update(self._compare(jobs))
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="mlpilot-drift") as pool:
            for part in pool.map(self._compare, [jobs[i::workers] for i in range(workers)]):
                self._comparisons.update(part)

    def _compare(self, names: list[str]) -> dict[str, NumericComparison]:
        merger = Merger()
        compared = {}
        for name in names:
            column = self.profile.columns[name]
            assert isinstance(column, NumericColumn)
            compared[name] = merger.compare(column, self._numbers[name])
        return compared

    def _read(self, column: ColumnProfile, series: pd.Series) -> str | None:
        """Keep the column's values, or say why they cannot be compared."""
        kind = column_kind(series.dtype)
        if column.kind == "numeric":
            if kind != "numeric" and not pd.api.types.is_object_dtype(series.dtype):
                return f"expected numbers, got values of dtype {series.dtype}"
            try:
                values = numbers(series)
            except (ValueError, TypeError):
                return f"expected numbers, got values such as {_not_a_number(series)!r}"
            if np.isnan(values).all():
                return "all values are missing"
            self._numbers[column.name] = values
            return None
        if kind != "categorical":
            return f"expected categories, got values of dtype {series.dtype}"
        counts = value_counts(series)
        if not counts:
            return "all values are missing"
        self._counts[column.name] = counts
        return None


def _not_a_number(series: pd.Series) -> Any:
    """The first value in an object column that is not a number (for the message)."""
    for value in series:
        try:
            pd.to_numeric(value)
        except (ValueError, TypeError):
            return value
    return None
