"""Metric points in SQL: one chunk row per series per write, and the latest value of each."""

from __future__ import annotations

import logging
import sys
from array import array
from collections.abc import Mapping

import numpy as np
from sqlalchemy import Connection, and_, insert, or_, select

from mlpilot.store._metadata import MetadataStore
from mlpilot.store._schema import latest_metrics, metric_chunks, runs
from mlpilot.store.base._tracking import Batch, MetricPoint, Series

_log = logging.getLogger(__name__)


def write_series(
    metadata: MetadataStore, conn: Connection, batch: Mapping[tuple[str, str], Series]
) -> None:
    """Store one chunk per series and advance each series' latest value.

    Runs inside the caller's transaction, so a batch is stored whole or not at all.
    Rows are written in (run, key) order: two transactions that advance the same keys
    then lock their ``latest_metrics`` rows in the same order, and so never deadlock.
    """
    chunks, latest = [], []
    for (run_id, key), series in sorted(batch.items(), key=lambda item: item[0]):
        if not series.steps:
            continue
        steps = _little_endian(series.steps, "<i8")
        stamps = _little_endian(series.stamps, "<i8")
        values = _little_endian(series.values, "<f8")
        last = int(np.lexsort((stamps, steps))[-1]) if len(steps) > 1 else 0
        chunks.append(
            {
                "run_id": run_id,
                "key": key,
                "first_step": int(steps.min()),
                "last_step": int(steps.max()),
                "count": len(steps),
                "steps": steps.tobytes(),
                "timestamps": stamps.tobytes(),
                "values": values.tobytes(),
            }
        )
        latest.append(
            {
                "run_id": run_id,
                "key": key,
                "step": int(steps[last]),
                "timestamp_ms": int(stamps[last]),
                "value": float(values[last]),
            }
        )
    if not chunks:
        return
    conn.execute(insert(metric_chunks), chunks)
    metadata.upsert(
        conn,
        latest_metrics,
        latest,
        keys=("run_id", "key"),
        only_if=lambda new: or_(
            new.step > latest_metrics.c.step,
            and_(
                new.step == latest_metrics.c.step,
                new.timestamp_ms >= latest_metrics.c.timestamp_ms,
            ),
        ),
    )


def without_deleted_runs(conn: Connection, batch: Batch) -> Batch:
    """``batch`` less the points of runs deleted since they were logged.

    Another process can delete a run while this one still buffers its points; writing
    them would fail the whole batch on the foreign key.
    """
    run_ids = list({run_id for run_id, _ in batch})
    present = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(run_ids))).scalars())
    for run_id, key in [k for k in batch if k[0] not in present]:
        _log.warning(
            "dropping %d points of deleted run %s", len(batch.pop((run_id, key)).steps), run_id
        )
    return batch


def read_history(conn: Connection, run_id: str, key: str) -> list[MetricPoint]:
    """Every stored point of ``(run_id, key)``, by step then time."""
    rows = conn.execute(
        select(metric_chunks.c.steps, metric_chunks.c.timestamps, metric_chunks.c["values"])
        .where(metric_chunks.c.run_id == run_id, metric_chunks.c.key == key)
        .order_by(metric_chunks.c.first_step, metric_chunks.c.id)
    ).all()
    if not rows:
        return []
    steps, stamps, values = (
        np.concatenate(a) for a in zip(*(unpack_chunk(*r) for r in rows), strict=True)
    )
    order = np.lexsort((stamps, steps))
    return [
        MetricPoint(int(s), int(t), float(v))
        for s, t, v in zip(steps[order], stamps[order], values[order], strict=True)
    ]


def unpack_chunk(
    steps: bytes, stamps: bytes, values: bytes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of a stored chunk, as written by :func:`write_series`."""
    return (
        np.frombuffer(steps, dtype="<i8"),
        np.frombuffer(stamps, dtype="<i8"),
        np.frombuffer(values, dtype="<f8"),
    )


def _little_endian(values: array, dtype: str) -> np.ndarray:  # type: ignore[type-arg]
    native = np.frombuffer(values, dtype=dtype[1:])
    return native if sys.byteorder == "little" else native.astype(dtype)
