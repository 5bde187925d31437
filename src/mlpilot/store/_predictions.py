"""The prediction log: the served predictions that monitoring reads back.

The inference server hands each sampled request to :meth:`PredictionLog.record`, which
only appends it to a buffer; a background thread writes what waits in one transaction
every ``flush_interval_s`` (or sooner, once ``flush_rows`` rows wait). A database that is
down delays the rows rather than losing them: they stay buffered, up to
``max_pending_rows``, and the next interval tries again. Ground truth that arrives later
is stored with ``store.predictions.record_labels`` and joined back by
``store.predictions.read`` (see :class:`~mlpilot.store.base.PredictionRecords`).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import numbers
import random
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpilot.errors import InvalidInputError, StoreError
from mlpilot.store._schema import MAX_KEY_LENGTH

if TYPE_CHECKING:
    from mlpilot.store.base._predictions import PredictionRecords, PredictionRow

_log = logging.getLogger(__name__)

#: Who served a prediction: the champion, a canary taking part of the traffic, or a
#: shadow model that sees the traffic without answering it.
ROLES = ("primary", "canary", "shadow")
#: Columns of ``store.predictions.read`` besides the features.
FIXED_COLUMNS = (
    "request_id",
    "row",
    "model",
    "version",
    "role",
    "ts_ms",
    "latency_ms",
    "prediction",
    "scores",
)
#: The longest request id the log stores.
MAX_REQUEST_ID = 64


@dataclasses.dataclass(frozen=True)
class PredictionBatch:
    """One request's sampled rows, as the server hands them to the log.

    The log keeps the lists themselves until it writes them: do not change them after
    :meth:`PredictionLog.record`.
    """

    request_id: str
    model: str
    version: int
    role: str
    ts_ms: int
    latency_ms: float
    #: One ``{column: value}`` mapping per row, or the columns as ``{column: [values]}``
    #: (a server's form: turned into rows in the writer's thread, off the request path).
    features: list[dict[str, Any]] | Mapping[str, list[Any]]
    #: One predicted value per row.
    predictions: list[Any]
    #: One list of class probabilities per row, where the model gives them.
    scores: list[list[float]] | None = None


class PredictionLog:
    """Buffers predictions and writes them to the store's prediction records in batches
    from a background thread, never on the request's path.

    Args:
        records: Where the rows go (``store.predictions``).
        sample: Share of requests to record, in [0, 1]; :meth:`sampled` draws against it.
        flush_rows: Write as soon as this many rows wait.
        flush_interval_s: Otherwise write what waits this often; also the delay between
            tries while the database cannot be written.
        max_pending_rows: Rows that may wait at most; a batch that would exceed it is
            dropped and counted in :attr:`dropped`.
        seed: Seed of the sampling draws, for a repeatable sample.

    Raises:
        InvalidInputError: A setting is out of range.

    Example::

        log = PredictionLog(store.predictions, sample=0.1)
        if log.sampled():
            log.record(PredictionBatch(request_id, "churn", 3, "primary", now_ms(), 4.2,
                                       features=rows, predictions=[1, 0]))
        ...
        log.close()
    """

    def __init__(
        self,
        records: PredictionRecords,
        *,
        sample: float = 1.0,
        flush_rows: int = 2000,
        flush_interval_s: float = 1.0,
        max_pending_rows: int = 200_000,
        seed: int | None = None,
    ) -> None:
        _check_settings(sample, flush_rows, flush_interval_s, max_pending_rows)
        self._records = records
        self._sample = float(sample)
        self._flush_rows = flush_rows
        self._flush_interval_s = float(flush_interval_s)
        self._max_pending_rows = max_pending_rows
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        # Held by whoever writes; guards ``_unwritten``.
        self._write_lock = threading.Lock()
        self._batches: list[PredictionBatch] = []
        # Rows a failed write left, to be written first next time.
        self._unwritten: list[PredictionRow] = []
        # Rows buffered, left by a failed write, or being written.
        self._pending_rows = 0
        self._written = 0
        self._dropped = 0
        self._dropping = False
        self._closed = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="mlpilot-prediction-log", daemon=True
        )
        self._thread.start()

    @property
    def written(self) -> int:
        """Rows stored so far."""
        return self._written

    @property
    def dropped(self) -> int:
        """Rows given up: over ``max_pending_rows``, unreadable, or unwritten at close."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Rows recorded but not stored yet."""
        return self._pending_rows

    def sampled(self) -> bool:
        """Whether to record the next request: one random draw against ``sample``."""
        return self._random.random() < self._sample

    def record(self, batch: PredictionBatch) -> None:
        """Queue ``batch`` for writing; returns at once, whatever the database does.

        Raises:
            InvalidInputError: The batch is malformed (unknown role, lists of different
                lengths, ...).
            StoreError: The log is closed.
        """
        rows = _check_batch(batch)
        wake = first_drop = False
        with self._lock:
            if self._closed:
                raise StoreError("the prediction log is closed; open a new PredictionLog")
            if self._pending_rows + rows > self._max_pending_rows:
                self._dropped += rows
                first_drop, self._dropping = not self._dropping, True
            else:
                self._batches.append(batch)
                self._pending_rows += rows
                wake = self._pending_rows >= self._flush_rows
        if first_drop:
            _log.warning(
                "mlpilot's prediction log holds %d unwritten rows, its max_pending_rows; "
                "dropping new predictions until the database catches up",
                self._max_pending_rows,
            )
        if wake and not self._wake.is_set():
            self._wake.set()

    def flush(self) -> int:
        """Write every pending row now, in the calling thread, and return how many.

        Raises:
            StoreError: The database could not be written; the rows stay pending.
        """
        with self._write_lock:
            with self._lock:
                batches, self._batches = self._batches, []
            rows = self._unwritten + self._rows_of(batches)
            self._unwritten = []
            if not rows:
                return 0
            try:
                self._records.write(rows)
            except InvalidInputError as exc:
                # Rows the store refuses would be refused again: retrying them would hold
                # up every later prediction.
                with self._lock:
                    self._pending_rows -= len(rows)
                    self._dropped += len(rows)
                _log.error("mlpilot dropped %d logged predictions: %s", len(rows), exc)
                return 0
            except BaseException:
                self._unwritten = rows
                raise
            with self._lock:
                self._pending_rows -= len(rows)
                self._written += len(rows)
                self._dropping = False
            return len(rows)

    def close(self) -> None:
        """Write what is pending and stop the background thread; later calls do nothing.

        Rows that cannot be written by then are counted in :attr:`dropped` and logged.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stopping.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        try:
            self.flush()
        except Exception as exc:
            with self._write_lock, self._lock:
                lost, self._pending_rows, self._unwritten = self._pending_rows, 0, []
                self._dropped += lost
            _log.error("mlpilot's prediction log lost %d rows at close: %s", lost, exc)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                return  # close() writes the rest
            try:
                self.flush()
            except Exception as exc:  # keep the rows and try again after an interval
                _log.warning(
                    "mlpilot could not write %d predictions yet, will retry: %s",
                    self._pending_rows,
                    exc,
                )
                self._stopping.wait(self._flush_interval_s)

    def _rows_of(self, batches: list[PredictionBatch]) -> list[PredictionRow]:
        rows: list[PredictionRow] = []
        for batch in batches:
            try:
                rows.extend(_batch_rows(batch))
            except Exception as exc:  # one unreadable batch must not block the others
                count = len(batch.predictions)
                with self._lock:
                    self._pending_rows -= count
                    self._dropped += count
                _log.warning(
                    "mlpilot dropped the %d logged predictions of request %s: %s",
                    count,
                    batch.request_id,
                    exc,
                )
        return rows


def json_safe(value: Any) -> Any:
    """``value`` made of JSON's types: numpy values become Python ones, and NaN and
    infinities become None (JSON has no NaN)."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.ndarray | np.generic):
        return json_safe(value.tolist())
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, numbers.Real):
        return json_safe(float(value))
    return str(value)


def _batch_rows(batch: PredictionBatch) -> list[PredictionRow]:
    scores = batch.scores if batch.scores is not None else [None] * len(batch.predictions)
    request_id, model, role = batch.request_id, batch.model, batch.role
    version, ts_ms, latency_ms = int(batch.version), int(batch.ts_ms), float(batch.latency_ms)
    per_row = batch.features
    if isinstance(per_row, Mapping):
        names = list(per_row)
        per_row = [
            dict(zip(names, row, strict=True)) for row in zip(*per_row.values(), strict=True)
        ]
    return [
        {
            "request_id": request_id,
            "row": index,
            "model": model,
            "version": version,
            "role": role,
            "ts_ms": ts_ms,
            "latency_ms": latency_ms,
            "features": json_safe(_mapping(features)),
            "prediction": json_safe(prediction),
            "scores": _scores(row_scores),
        }
        for index, (features, prediction, row_scores) in enumerate(
            zip(per_row, batch.predictions, scores, strict=True)
        )
    ]


def _scores(scores: Any) -> list[Any] | None:
    stored = json_safe(scores)
    if stored is not None and not isinstance(stored, list):
        raise TypeError(f"a row's scores are a list of class probabilities, got {scores!r}")
    return stored


def _mapping(features: Any) -> Mapping[Any, Any]:
    if isinstance(features, Mapping):
        return features
    if isinstance(features, pd.Series):
        return features.to_dict()
    raise TypeError(f"a row's features are a {{column: value}} mapping, got {features!r}")


def check_integer(value: Any, what: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{what} must be an integer, got {value!r}")
    return int(value)


def check_role(role: Any) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}; got {role!r}")


def check_row(
    request_id: Any, model: Any, version: Any, role: Any, ts_ms: Any, latency_ms: Any
) -> None:
    """Check the fields a logged row shares with the rest of its request.

    Raises:
        InvalidInputError: One is malformed.
    """
    check_role(role)
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID:
        raise InvalidInputError(
            f"request_id is text of 1 to {MAX_REQUEST_ID} characters, got {request_id!r}"
        )
    if not isinstance(model, str) or not 0 < len(model) <= MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"model is a name of 1 to {MAX_KEY_LENGTH} characters, got {model!r}"
        )
    check_integer(version, "version")
    check_integer(ts_ms, "ts_ms")
    if not isinstance(latency_ms, numbers.Real) or not (
        math.isfinite(latency_ms) and float(latency_ms) >= 0
    ):
        raise InvalidInputError(f"latency_ms is a finite number >= 0, got {latency_ms!r}")


def _check_batch(batch: PredictionBatch) -> int:
    """The number of rows of ``batch``, once its fields are checked."""
    check_row(
        batch.request_id, batch.model, batch.version, batch.role, batch.ts_ms, batch.latency_ms
    )
    rows = len(batch.predictions)
    features = batch.features
    given = len(next(iter(features.values()), ())) if isinstance(features, Mapping) else None
    if (len(features) if given is None else given) != rows or (
        batch.scores is not None and len(batch.scores) != rows
    ):
        named = "features, predictions" + (" and scores" if batch.scores is not None else "")
        raise InvalidInputError(
            f"request {batch.request_id!r} has {named} of different lengths; give one of "
            "each per row"
        )
    return rows


def _check_settings(
    sample: float, flush_rows: int, flush_interval_s: float, max_pending_rows: int
) -> None:
    if not isinstance(sample, numbers.Real) or not 0.0 <= sample <= 1.0:
        raise InvalidInputError(f"sample is the share of requests to log, in [0, 1]; got {sample}")
    for name, value in (("flush_rows", flush_rows), ("max_pending_rows", max_pending_rows)):
        if check_integer(value, name) < 1:
            raise InvalidInputError(f"{name} must be at least 1, got {value}")
    if not isinstance(flush_interval_s, numbers.Real) or not (
        math.isfinite(flush_interval_s) and flush_interval_s > 0
    ):
        raise InvalidInputError(
            f"flush_interval_s is a number of seconds above 0, got {flush_interval_s!r}"
        )
