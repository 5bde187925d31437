"""Cutting a model's prediction log into a monitor's windows.

A window is a number of rows or a span of time; only complete windows are cut, so a
window not yet full waits for more traffic. A window also ends where the version
answering as primary changes (a swap or a rollback), so that no window mixes two
versions' traffic: the one before the swap is complete, if shorter. Each window records
where its reading started and where the next one starts (a time, and the rows at that
time that earlier windows hold), so that the log can be read on from there and a stored
window read again when its labels arrive.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mlpilot.store.base._monitors import Monitor, WindowResult
from mlpilot.store.base._predictions import PredictionRecords

# Empty time windows recorded in a row at most; a longer silence is skipped over.
_MAX_EMPTY_WINDOWS = 100


class Cut(NamedTuple):
    """A complete window of the log: where it lies, and its rows."""

    position: dict[str, Any]
    rows: pd.DataFrame


def cut(
    monitor: Monitor, frame: pd.DataFrame, index: int, from_ms: int | None, from_skip: int
) -> list[Cut]:
    """The complete windows of ``frame`` (the log read from ``from_ms`` on, whose first
    ``from_skip`` rows earlier windows hold), numbered from ``index``."""
    if "rows" in monitor.window:
        return _row_windows(monitor.window["rows"], frame, index, from_ms, from_skip)
    return _time_windows(monitor.window["seconds"] * 1000, frame, index, from_ms, from_skip)


def _swaps(frame: pd.DataFrame) -> np.ndarray:
    """The positions of the rows where the version answering as primary changes (the
    canary's rows, interleaved, count as the primary's of their time)."""
    if not len(frame) or "version" not in frame.columns:
        return np.empty(0, dtype=np.int64)
    primary = (
        frame["version"].where(frame["role"] == "primary") if "role" in frame else frame["version"]
    )
    serving = primary.ffill().bfill().to_numpy()
    return np.flatnonzero(serving[1:] != serving[:-1]) + 1


def reread(log: PredictionRecords, monitor: Monitor, window: WindowResult) -> pd.DataFrame:
    """The logged rows of a stored window, read again with their labels."""
    by_rows = "rows" in monitor.window
    until = window.next_ms + 1 if by_rows else window.end_ms
    frame = log.read(monitor.model, since_ms=window.from_ms, until_ms=until, labels=True)
    if by_rows:
        rows: pd.DataFrame = frame.iloc[window.from_skip : window.from_skip + window.rows]
    else:
        rows = frame[frame["ts_ms"] >= window.start_ms]
    return rows


def _row_windows(
    size: int, frame: pd.DataFrame, index: int, from_ms: int | None, from_skip: int
) -> list[Cut]:
    """Windows of ``size`` rows; each starts reading where the one before it ended."""
    times = frame["ts_ms"].to_numpy(dtype=np.int64)
    swaps = _swaps(frame)
    cuts: list[Cut] = []
    at, start_ms, start_skip = from_skip, from_ms, from_skip
    while True:
        ahead = swaps[(swaps > at) & (swaps < at + size)]
        if len(ahead):
            last = int(ahead[0]) - 1
        elif len(frame) - at >= size:
            last = at + size - 1
        else:
            break
        next_ms = int(times[last])
        next_skip = int(np.count_nonzero(times[: last + 1] == next_ms))
        position = _position(
            index + len(cuts),
            int(times[at]),
            next_ms + 1,
            start_ms,
            start_skip,
            next_ms,
            next_skip,
        )
        cuts.append(Cut(position, frame.iloc[at : last + 1]))
        at, start_ms, start_skip = last + 1, next_ms, next_skip
    return cuts


def _time_windows(
    span: int, frame: pd.DataFrame, index: int, from_ms: int | None, from_skip: int
) -> list[Cut]:
    """Windows of ``span`` milliseconds, aligned to multiples of it; a window is
    complete once a later row is logged."""
    times = frame["ts_ms"].to_numpy(dtype=np.int64)
    cuts: list[Cut] = []
    if from_skip:
        keep = np.ones(len(frame), dtype=bool)
        keep[:from_skip] = False
        frame, times = frame[keep], times[keep]
    if not len(times):
        return cuts
    swapped_at = times[_swaps(frame)]
    start = from_ms if from_ms is not None else int(times[0]) // span * span
    empty = 0
    while True:
        # The window ends at the next multiple of the span, or at a swap before it.
        end = (start // span + 1) * span
        swap = swapped_at[(swapped_at > start) & (swapped_at < end)]
        if len(swap):
            end = int(swap[0])
        elif int(times[-1]) < end:
            break
        inside = (times >= start) & (times < end)
        if not inside.any():
            empty += 1
            if empty > _MAX_EMPTY_WINDOWS:
                start = int(times[times >= start][0]) // span * span
                empty = 0
                continue
        else:
            empty = 0
        position = _position(index + len(cuts), start, end, start, 0, end, 0)
        cuts.append(Cut(position, frame[inside]))
        start = end
    return cuts


def _position(
    index: int,
    start: int,
    end: int,
    from_ms: int | None,
    from_skip: int,
    next_ms: int,
    next_skip: int,
) -> dict[str, Any]:
    """A window's place in the log, as its stored columns."""
    return {
        "index": index,
        "start_ms": start,
        "end_ms": end,
        "from_ms": from_ms,
        "from_skip": from_skip,
        "next_ms": next_ms,
        "next_skip": next_skip,
    }
