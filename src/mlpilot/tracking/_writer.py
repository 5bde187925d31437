"""Buffered metric writing and run heartbeats, on one background thread per store.

``log_metric`` appends to three packed arrays of its (run, key) series, which costs
about a microsecond; the thread writes everything pending in one transaction every
``flush_interval_s`` (or sooner, once ``batch_size`` points wait), one chunk row per
series, and beats the heartbeat of this process's running runs so that a run whose
process died can be told from one still working.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from array import array
from collections.abc import Mapping

import numpy as np
from sqlalchemy import Connection, and_, insert, or_, select, update

from mlpilot.store import MetadataStore, now_ms
from mlpilot.store._schema import latest_metrics, metric_chunks, runs

_log = logging.getLogger(__name__)
_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


class Series:
    """Points of one (run, key), in arrival order."""

    __slots__ = ("steps", "stamps", "values")

    def __init__(self) -> None:
        self.steps = array("q")
        self.stamps = array("q")
        self.values = array("d")

    @classmethod
    def of(cls, steps: np.ndarray, stamps: np.ndarray, values: np.ndarray) -> Series:
        series = cls()
        series.steps.frombytes(steps.astype(np.int64).tobytes())
        series.stamps.frombytes(stamps.astype(np.int64).tobytes())
        series.values.frombytes(values.astype(np.float64).tobytes())
        return series

    def append(self, step: int, stamp: int, value: float) -> None:
        self.steps.append(step)
        self.stamps.append(stamp)
        self.values.append(value)

    def extend(self, other: Series) -> None:
        self.steps.extend(other.steps)
        self.stamps.extend(other.stamps)
        self.values.extend(other.values)


#: Pending points by (run_id, key).
Batch = dict[tuple[str, str], Series]


class MetricWriter:
    """Collects metric points in memory and writes them in batches."""

    def __init__(
        self,
        metadata: MetadataStore,
        *,
        flush_interval_s: float,
        heartbeat_interval_s: float,
        batch_size: int = 100_000,
    ) -> None:
        self._metadata = metadata
        self._flush_interval_s = flush_interval_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._batch_size = batch_size
        # Past this many waiting points the caller writes them itself: memory stays bounded
        # even when points arrive faster than the thread can store them.
        self._max_pending = batch_size * 10
        self._reset()
        _writers.add(self)

    def _reset(self) -> None:
        self._pending: Batch = {}
        self._count = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._live_runs: set[str] = set()
        self._last_beat = time.monotonic()

    def add(self, run_id: str, key: str, step: int, stamp: int, value: float) -> None:
        with self._lock:
            series = self._pending.get((run_id, key))
            if series is None:
                series = self._pending[run_id, key] = Series()
            series.append(step, stamp, value)
            self._count += 1
            waiting = self._count
        if self._thread is None and not self._stopping.is_set():
            self._start()
        if waiting >= self._batch_size:
            if waiting >= self._max_pending:
                self.flush()
            else:
                self._wake.set()

    def watch(self, run_id: str) -> None:
        """Beat ``run_id``'s heartbeat until :meth:`unwatch`."""
        self._live_runs.add(run_id)
        if self._thread is None:
            self._start()

    def unwatch(self, run_id: str) -> None:
        self._live_runs.discard(run_id)

    def discard(self, run_id: str) -> None:
        """Drop the points waiting for ``run_id`` (the run is being deleted)."""
        with self._lock:
            for key in [k for k in self._pending if k[0] == run_id]:
                self._count -= len(self._pending.pop(key).steps)
        self._live_runs.discard(run_id)

    def flush(self) -> None:
        """Write every pending point now, in the calling thread; raises on failure."""
        with self._write_lock:
            with self._lock:
                batch, self._pending, self._count = self._pending, {}, 0
            if not batch:
                return
            try:
                with self._metadata.write() as conn:
                    write_series(self._metadata, conn, _without_deleted_runs(conn, batch))
            except BaseException:
                self._restore(batch)
                raise

    def stop(self) -> None:
        """Write what is pending and end the background thread (the store is closing)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()

    def _restore(self, batch: Batch) -> None:
        with self._lock:
            for key, series in batch.items():
                newer = self._pending.get(key)
                if newer is not None:
                    series.extend(newer)
                self._pending[key] = series
            self._count = sum(len(s.steps) for s in self._pending.values())

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name="mlpilot-metric-writer", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                return  # stop() writes the rest in its own thread, where errors surface
            try:
                self.flush()
                if time.monotonic() - self._last_beat >= self._heartbeat_interval_s:
                    self._beat()
            except Exception as exc:  # keep the points and try again on the next tick
                _log.warning("mlpilot could not write metrics yet, will retry: %s", exc)

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        live = list(self._live_runs)
        if not live:
            return
        with self._metadata.write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(live), runs.c.status == "running")
                .values(heartbeat_ms=now_ms())
            )


def write_series(
    metadata: MetadataStore, conn: Connection, batch: Mapping[tuple[str, str], Series]
) -> None:
    """Store one chunk per series and advance each series' latest value.

    Runs inside the caller's transaction, so a batch is stored whole or not at all.
    """
    chunks, latest = [], []
    for (run_id, key), series in batch.items():
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


def _without_deleted_runs(conn: Connection, batch: Batch) -> Batch:
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


def flush_all() -> None:
    """Write what every writer of this process holds (at exit)."""
    for writer in list(_writers):
        try:
            writer.flush()
        except Exception as exc:
            _log.error("mlpilot could not write buffered metrics at exit: %s", exc)


def _after_fork_in_child() -> None:
    # The child's copy of pending points belongs to the parent, which writes them;
    # its writer thread did not survive the fork.
    for writer in list(_writers):
        writer._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
