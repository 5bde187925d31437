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
import threading
import time
import weakref

from mlpilot.store.base._tracking import Batch, Series, TrackingRecords

_log = logging.getLogger(__name__)
_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


class MetricWriter:
    """Collects metric points in memory and writes them in batches."""

    def __init__(
        self,
        records: TrackingRecords,
        *,
        flush_interval_s: float,
        heartbeat_interval_s: float,
        batch_size: int = 100_000,
    ) -> None:
        self._records = records
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
                self._records.write_metrics(batch)
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
        self._records.beat(list(self._live_runs))


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
