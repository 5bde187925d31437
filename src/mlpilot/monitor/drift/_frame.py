"""Reading tables for drift tests: which columns are numbers, which are categories, and
their values without the missing ones."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from mlpilot.errors import InvalidInputError

#: How a column is compared: ``numeric`` by its distribution of numbers, ``categorical``
#: by the frequencies of its values.
ColumnKind = Literal["numeric", "categorical"]


def as_frame(data: Any, what: str) -> pd.DataFrame:
    """``data`` as a pandas DataFrame; a pyarrow Table is converted."""
    if isinstance(data, pd.DataFrame):
        return data
    if type(data).__module__.startswith("pyarrow") and hasattr(data, "to_pandas"):
        frame = data.to_pandas()
        assert isinstance(frame, pd.DataFrame)
        return frame
    raise InvalidInputError(
        f"the {what} must be a pandas DataFrame or a pyarrow Table, got {type(data).__name__}"
    )


def column_kind(dtype: Any) -> ColumnKind | None:
    """The kind of a column of ``dtype``, or None for one drift tests cannot compare
    (dates, durations, complex numbers, intervals)."""
    if pd.api.types.is_bool_dtype(dtype):
        # Two values are better compared as categories than as the numbers 0 and 1.
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    if (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    ):
        return "categorical"
    return None


def numbers(series: pd.Series) -> np.ndarray:
    """The column as float64 with missing values as NaN (a view where pandas allows).

    Raises ValueError or TypeError when the column holds values that are not numbers.
    """
    if pd.api.types.is_object_dtype(series.dtype):
        # Python numbers in an object column (as None-holding columns often are) count as
        # numbers; a string among them does not.
        series = pd.to_numeric(series, errors="raise")
    if isinstance(series.dtype, np.dtype):
        # NaN already marks a missing float; asking for na_value would copy the column.
        return series.to_numpy(dtype=np.float64)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def value_counts(series: pd.Series) -> dict[str, int]:
    """How often each value occurs, keyed by its text, missing values left out."""
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    keys = counts.index.map(str)
    if keys.has_duplicates:
        # Values whose text is the same (1 and "1") are one category once stored.
        counts = counts.groupby(keys, sort=False).sum()
        keys = counts.index
    return dict(zip(keys, counts.tolist(), strict=True))
