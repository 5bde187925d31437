"""Turning what users pass to the logging calls into validated rows and batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mlpilot.errors import InvalidInputError
from mlpilot.store._metadata import now_ms
from mlpilot.store._validate import (
    MAX_STEP,
    check_key,
    check_metric,
    check_step,
    check_text,
)
from mlpilot.store.base._tracking import Batch, Series


def text_rows(run_id: str, values: Mapping[str, Any], what: str) -> list[dict[str, str]]:
    """Validated ``{run_id, key, value}`` rows of params or tags, sorted by key.

    Sorted, so that transactions writing the same keys lock their rows in one order
    (on PostgreSQL, two writers on one run would otherwise deadlock).
    """
    if not isinstance(values, Mapping):
        raise InvalidInputError(
            f"{what}s must be a mapping of key to value, got {type(values).__name__}"
        )
    rows = [
        {"run_id": run_id, "key": check_key(k, f"{what} key"), "value": check_text(k, v, what)}
        for k, v in values.items()
    ]
    return sorted(rows, key=lambda row: row["key"])


def metric_batch(run_id: str, entries: Iterable[Sequence[Any]]) -> Batch:
    """Validate ``(key, value, step[, timestamp_ms])`` entries column by column and group them.

    Column-wise numpy checks keep a 1,000-point batch at a few microseconds of Python;
    a bad entry is then found one by one, so the error still names it.
    """
    rows = list(entries)
    try:
        # A string has a length too, but is never an entry.
        widths = {0 if isinstance(r, str | bytes) else len(r) for r in rows}
    except TypeError:
        widths = {0}
    if not widths <= {3, 4}:
        bad = next(
            r
            for r in rows
            if isinstance(r, str | bytes) or not isinstance(r, Sequence) or len(r) not in (3, 4)
        )
        raise InvalidInputError(
            f"a metric entry is (key, value, step) or (key, value, step, timestamp_ms); got {bad!r}"
        )
    if not rows:
        return {}
    now = now_ms()
    if widths == {3, 4}:
        rows = [r if len(r) == 4 else (*r, now) for r in rows]
    columns = list(zip(*rows, strict=True))
    keys = columns[0]
    for key in (k for k in keys if not isinstance(k, str)):
        check_key(key, "metric key")  # refuses it, unhashable ones too
    for key in set(keys):
        check_key(key, "metric key")
    try:
        values = np.asarray(columns[1])
    except (TypeError, ValueError):
        values = np.array([], dtype=object)
    if values.ndim == 1 and values.dtype.kind in "biuf":
        values = values.astype(np.float64)
    else:  # text, None, ragged entries...: check one by one so that the error names the key
        values = np.array(
            [check_metric(k, v) for k, v in zip(keys, columns[1], strict=True)], dtype=np.float64
        )
    if not np.isfinite(values).all():
        first = int(np.argmin(np.isfinite(values)))
        check_metric(keys[first], values[first])
    steps = np.asarray(columns[2])
    if steps.dtype.kind not in "iu" or (steps < 0).any() or (steps > MAX_STEP).any():
        steps = np.array([check_step(k, v) for k, v in zip(keys, columns[2], strict=True)])
    try:
        stamps = np.asarray(columns[3], dtype=np.int64) if len(columns) == 4 else None
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(
            "metric timestamps must be integer milliseconds since the epoch"
        ) from None
    stamps = np.full(len(rows), now, dtype=np.int64) if stamps is None else stamps
    if len(set(keys)) == 1:
        return {(run_id, keys[0]): Series.of(steps, stamps, values)}
    key_array = np.array(keys, dtype=object)
    return {
        (run_id, key): Series.of(steps[mask], stamps[mask], values[mask])
        for key in dict.fromkeys(keys)
        for mask in [key_array == key]
    }
