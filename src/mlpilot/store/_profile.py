"""Per-column profiles of a table: what each column holds, in a few numbers.

Every statistic is an Arrow compute kernel or a numpy call over whole columns, and the
columns are profiled on a thread pool (the kernels release the GIL).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Names for families of Arrow types, for schemas that should not care about widths or
#: layouts (``integer`` for int8..uint64). The first family that matches is a column's.
TYPE_FAMILIES: dict[str, Callable[[pa.DataType], bool]] = {
    "integer": pa.types.is_integer,
    "float": pa.types.is_floating,
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
    "string": lambda t: (
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    ),
    "bool": pa.types.is_boolean,
    "timestamp": pa.types.is_timestamp,
    "date": pa.types.is_date,
    "binary": lambda t: (
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    ),
}

#: Quantiles every numeric column records.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: How many of the most frequent values a categorical column records.
TOP_K = 20
#: Equal-width bins of the histogram of a numeric column.
HISTOGRAM_BINS = 20


@dataclasses.dataclass(frozen=True)
class ColumnProfile:
    """What one column of a dataset version holds.

    Numbers are ``None`` where they do not apply (no mean of text) or where the column
    has no value to compute them from. ``top`` lists the most frequent values with their
    counts for text, categorical and boolean columns; ``distinct`` counts distinct
    non-null values.
    """

    name: str
    type: str
    #: ``number``, ``text``, ``bool``, ``temporal`` or ``other`` (binary, nested).
    kind: str
    #: The first of :data:`TYPE_FAMILIES` the type (or a dictionary's values) belongs to.
    family: str | None
    count: int
    nulls: int
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = dataclasses.field(default_factory=dict)
    histogram: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    top: list[tuple[Any, int]] = dataclasses.field(default_factory=list)

    @property
    def null_share(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnProfile:
        data = dict(data)
        data["top"] = [tuple(item) for item in data.get("top", [])]
        return cls(**data)


def profile_table(table: pa.Table) -> dict[str, ColumnProfile]:
    """Profile every column of ``table``."""
    workers = min(len(table.columns), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        profiles = pool.map(profile_column, table.column_names, table.columns)
        return {profile.name: profile for profile in profiles}


def profile_column(name: str, column: pa.ChunkedArray) -> ColumnProfile:
    kind = column.type
    nulls = column.null_count
    base: dict[str, Any] = {
        "name": name,
        "type": str(kind),
        "count": len(column) - nulls,
        "nulls": nulls,
    }
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    base["kind"] = _kind(kind)
    base["family"] = next((name for name, test in TYPE_FAMILIES.items() if test(kind)), None)
    if len(column) == nulls or pa.types.is_null(kind):
        return ColumnProfile(**base, distinct=0)
    if base["kind"] == "bool":
        return ColumnProfile(**base, **_categorical(column), mean=_number(pc.mean(column)))
    if base["kind"] == "number":
        return ColumnProfile(**base, **_numeric(column))
    if base["kind"] == "temporal":
        # Sorting the integers underneath gives bounds and distinct values for every
        # temporal type, durations and times included.
        physical = pa.int64() if kind.bit_width == 64 else pa.int32()
        ordered = np.sort(column.drop_null().cast(physical).to_numpy())
        low, high = (pa.scalar(ordered[i].item(), physical).cast(kind) for i in (0, -1))
        return ColumnProfile(**base, distinct=_distinct(ordered), min=_text(low), max=_text(high))
    if base["kind"] == "text":
        bounds = pc.min_max(column)
        return ColumnProfile(
            **base, **_categorical(column), min=bounds["min"].as_py(), max=bounds["max"].as_py()
        )
    return ColumnProfile(**base)  # binary and nested columns: counts only


def _kind(kind: pa.DataType) -> str:
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_temporal(kind):
        return "temporal"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "text"
    return "other"


def _numeric(column: pa.ChunkedArray) -> dict[str, Any]:
    if pa.types.is_decimal(column.type) or pa.types.is_float16(column.type):
        column = column.cast(pa.float64())
    values = column.drop_null()
    if pa.types.is_floating(values.type):
        values = values.filter(pc.is_finite(values))
    if len(values) == 0:
        return {"distinct": pc.count_distinct(column).as_py()}
    # One sort gives the quantiles, the distinct count and the histogram, far cheaper than
    # a hash table of every value.
    ordered = np.sort(values.to_numpy())
    low, high = ordered[0].item(), ordered[-1].item()
    edges = np.linspace(float(low), float(high), HISTOGRAM_BINS + 1)
    cuts = np.searchsorted(ordered, edges[1:-1], side="left")
    counts = np.diff(np.concatenate(([0], cuts, [len(ordered)])))
    return {
        "distinct": _distinct(ordered),
        "min": low,
        "max": high,
        "mean": _number(pc.mean(values)),
        "std": _number(pc.stddev(values, ddof=1)) if len(values) > 1 else None,
        "quantiles": {
            f"p{round(q * 100):02d}": float(v)
            for q, v in zip(QUANTILES, np.quantile(ordered, QUANTILES), strict=True)
        },
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _distinct(ordered: np.ndarray) -> int:
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if len(ordered) else 0


def _categorical(column: pa.ChunkedArray) -> dict[str, Any]:
    counts = pc.value_counts(column.drop_null())
    order = pc.array_sort_indices(counts.field("counts"), order="descending")
    top = counts.take(order[:TOP_K])
    values = top.field("values").to_pylist()
    frequencies = top.field("counts").to_pylist()
    return {"distinct": len(counts), "top": list(zip(values, frequencies, strict=True))}


def _number(scalar: pa.Scalar) -> float | None:
    value = scalar.as_py()
    return None if value is None or not math.isfinite(value) else float(value)


def _text(scalar: pa.Scalar) -> str | None:
    try:
        value = scalar.as_py()
    except (OverflowError, ValueError):  # beyond Python's dates, e.g. a 2**63-1 sentinel
        return str(scalar.cast(pa.int64()).as_py()) if scalar.is_valid else None
    return (
        None if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    )
