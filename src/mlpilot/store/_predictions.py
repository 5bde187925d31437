"""The prediction log: the served predictions that monitoring reads back.

The inference server hands each sampled request to :meth:`PredictionLog.record`, which
only appends it to a buffer; a background thread writes what waits in one transaction
every ``flush_interval_s`` (or sooner, once ``flush_rows`` rows wait). A database that is
down delays the rows rather than losing them: they stay buffered, up to
``max_pending_rows``, and the next interval tries again. Ground truth that arrives later
is stored with :func:`record_labels` and joined back by :func:`read_predictions`.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import numbers
import random
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, insert, select
from sqlalchemy.exc import SQLAlchemyError

from mlpilot.errors import InvalidInputError, StoreError
from mlpilot.store._metadata import MetadataStore, now_ms
from mlpilot.store._schema import MAX_KEY_LENGTH, prediction_labels, predictions

_log = logging.getLogger(__name__)

#: Who served a prediction: the champion, a canary taking part of the traffic, or a
#: shadow model that sees the traffic without answering it.
ROLES = ("primary", "canary", "shadow")
#: Columns of :func:`read_predictions` besides the features.
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
_MAX_REQUEST_ID = 64
# Request ids looked up per query when checking labels (within every backend's limit).
_LOOKUP_CHUNK = 500


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
    """Buffers predictions and writes them to the metadata store in batches from a
    background thread, never on the request's path.

    Args:
        metadata: Where the rows go.
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

        log = PredictionLog(store.metadata, sample=0.1)
        if log.sampled():
            log.record(PredictionBatch(request_id, "churn", 3, "primary", now_ms(), 4.2,
                                       features=rows, predictions=[1, 0]))
        ...
        log.close()
    """

    def __init__(
        self,
        metadata: MetadataStore,
        *,
        sample: float = 1.0,
        flush_rows: int = 2000,
        flush_interval_s: float = 1.0,
        max_pending_rows: int = 200_000,
        seed: int | None = None,
    ) -> None:
        _check_settings(sample, flush_rows, flush_interval_s, max_pending_rows)
        self._metadata = metadata
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
        self._unwritten: list[dict[str, Any]] = []
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
                with self._metadata.write() as conn:
                    conn.execute(insert(predictions), rows)
            except BaseException as exc:
                self._unwritten = rows
                if isinstance(exc, SQLAlchemyError):
                    raise StoreError(f"metadata store write failed: {exc}") from exc
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

    def _rows_of(self, batches: list[PredictionBatch]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
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


def read_predictions(
    metadata: MetadataStore,
    model: str,
    *,
    version: int | None = None,
    roles: Sequence[str] = ("primary", "canary"),
    since_ms: int | None = None,
    until_ms: int | None = None,
    last: int | None = None,
    labels: bool = False,
) -> pd.DataFrame:
    """The logged rows of ``model``, oldest first (by ``ts_ms``, then as recorded).

    The frame has the columns of :data:`FIXED_COLUMNS`, then ``label`` where ``labels``
    is true, then one column per feature. A feature named like one of those columns
    (``version``, ``label``, ...) comes out as ``feature.<name>``. A row that lacks a
    feature other rows have holds NaN there.

    Args:
        version: Only rows served by this version.
        roles: Only rows served in these roles (shadow traffic is left out by default).
        since_ms: Only rows with ``ts_ms >= since_ms``.
        until_ms: Only rows with ``ts_ms < until_ms``.
        last: Only the newest ``last`` rows of those selected.
        labels: Add the ground truth stored with :func:`record_labels` (None where none
            arrived).

    Raises:
        InvalidInputError: An unknown role or a ``last`` below 1.
    """
    for role in roles:
        _check_role(role)
    if last is not None and (not isinstance(last, numbers.Integral) or last < 1):
        raise InvalidInputError(f"last is a number of rows, at least 1; got {last!r}")
    p = predictions
    columns = [p.c[name] for name in FIXED_COLUMNS] + [p.c.features]
    source: Any = p
    if labels:
        columns.append(prediction_labels.c.label)
        source = p.outerjoin(
            prediction_labels,
            and_(
                prediction_labels.c.request_id == p.c.request_id,
                prediction_labels.c.row == p.c.row,
            ),
        )
    query = select(*columns).select_from(source).where(p.c.model == model, p.c.role.in_(roles))
    if version is not None:
        query = query.where(p.c.version == version)
    if since_ms is not None:
        query = query.where(p.c.ts_ms >= since_ms)
    if until_ms is not None:
        query = query.where(p.c.ts_ms < until_ms)
    if last is None:
        query = query.order_by(p.c.ts_ms, p.c.id)
    else:
        query = query.order_by(p.c.ts_ms.desc(), p.c.id.desc()).limit(int(last))
    with metadata.read() as conn:
        rows = [tuple(row) for row in conn.execute(query)]
    if last is not None:
        rows.reverse()
    return _frame(rows, labels)


def record_labels(
    metadata: MetadataStore,
    labels: Mapping[tuple[str, int], Any] | pd.DataFrame,
    *,
    ts_ms: int | None = None,
) -> int:
    """Store the ground truth of logged rows, replacing what was stored for them.

    Args:
        labels: ``{(request_id, row): label}``, or a frame with the columns
            ``request_id``, ``label`` and ``row`` (0 where the column is absent). Where a
            row appears twice, the last label counts.
        ts_ms: When the labels arrived; now by default.

    Returns:
        The number of rows stored.

    Raises:
        InvalidInputError: A label is missing or malformed, or names a request id the
            log never stored; then nothing is stored.
    """
    by_row = _label_rows(labels)
    if not by_row:
        return 0
    stamp = now_ms() if ts_ms is None else _integer(ts_ms, "ts_ms")
    ids = list(dict.fromkeys(request_id for request_id, _ in by_row))
    with metadata.write() as conn:
        known: set[str] = set()
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            found = select(predictions.c.request_id).where(predictions.c.request_id.in_(chunk))
            known.update(conn.execute(found.distinct()).scalars())
        unknown = [request_id for request_id in ids if request_id not in known]
        if unknown:
            named = ", ".join(repr(request_id) for request_id in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise InvalidInputError(
                f"no prediction was logged for the request ids {named}{more}; no label was "
                "stored. Label only logged requests (flush the PredictionLog first)"
            )
        rows = [
            {"request_id": request_id, "row": row, "label": label, "ts_ms": stamp}
            for (request_id, row), label in by_row.items()
        ]
        metadata.upsert(conn, prediction_labels, rows, keys=("request_id", "row"))
    return len(rows)


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


def _batch_rows(batch: PredictionBatch) -> list[dict[str, Any]]:
    scores = batch.scores if batch.scores is not None else [None] * len(batch.predictions)
    common = {
        "request_id": batch.request_id,
        "model": batch.model,
        "version": int(batch.version),
        "role": batch.role,
        "ts_ms": int(batch.ts_ms),
        "latency_ms": float(batch.latency_ms),
    }
    per_row = batch.features
    if isinstance(per_row, Mapping):
        names = list(per_row)
        per_row = [
            dict(zip(names, row, strict=True)) for row in zip(*per_row.values(), strict=True)
        ]
    return [
        {
            **common,
            "row": index,
            "features": json_safe(_mapping(features)),
            "prediction": json_safe(prediction),
            "scores": json_safe(row_scores),
        }
        for index, (features, prediction, row_scores) in enumerate(
            zip(per_row, batch.predictions, scores, strict=True)
        )
    ]


def _mapping(features: Any) -> Mapping[Any, Any]:
    if isinstance(features, Mapping):
        return features
    if isinstance(features, pd.Series):
        return features.to_dict()
    raise TypeError(f"a row's features are a {{column: value}} mapping, got {features!r}")


def _frame(rows: list[tuple[Any, ...]], labels: bool) -> pd.DataFrame:
    names = list(FIXED_COLUMNS) + (["label"] if labels else [])
    if not rows:
        dtypes = {"row": "int64", "version": "int64", "ts_ms": "int64", "latency_ms": "float64"}
        return pd.DataFrame({name: pd.Series(dtype=dtypes.get(name, object)) for name in names})
    values = list(zip(*rows, strict=True))
    features = values.pop(len(FIXED_COLUMNS))
    frame = pd.DataFrame(dict(zip(names, values, strict=True)))
    expanded = pd.DataFrame(list(features), index=frame.index)
    reserved = {*FIXED_COLUMNS, "label"}
    expanded.columns = [f"feature.{c}" if c in reserved else c for c in expanded.columns]
    return pd.concat([frame, expanded], axis=1)


def _label_rows(labels: Mapping[tuple[str, int], Any] | pd.DataFrame) -> dict[Any, Any]:
    if isinstance(labels, pd.DataFrame):
        missing = [c for c in ("request_id", "label") if c not in labels.columns]
        if missing:
            raise InvalidInputError(
                f"a frame of labels needs the columns request_id and label (and row, "
                f"optional); it lacks {', '.join(missing)}"
            )
        rows = labels["row"] if "row" in labels.columns else [0] * len(labels)
        keys = zip(labels["request_id"], rows, strict=True)
        items: Any = zip(keys, labels["label"], strict=True)
    elif isinstance(labels, Mapping):
        items = labels.items()
    else:
        raise InvalidInputError(
            "labels are a {(request_id, row): label} mapping or a frame with the columns "
            f"request_id, row and label; got {type(labels).__name__}"
        )
    by_row: dict[tuple[str, int], Any] = {}
    for key, label in items:
        if not isinstance(key, tuple) or len(key) != 2 or not isinstance(key[0], str):
            raise InvalidInputError(f"a label's key is (request_id, row), got {key!r}")
        row = _integer(key[1], f"the row of request {key[0]!r}")
        stored = json_safe(label)
        if stored is None:
            raise InvalidInputError(
                f"the label of ({key[0]!r}, {row}) is missing ({label!r}); leave out the "
                "rows whose label has not arrived (frame.dropna(subset=['label']))"
            )
        by_row[key[0], row] = stored
    return by_row


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _check_role(role: Any) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}; got {role!r}")


def _check_batch(batch: PredictionBatch) -> int:
    """The number of rows of ``batch``, once its fields are checked."""
    _check_role(batch.role)
    if not isinstance(batch.request_id, str) or not 0 < len(batch.request_id) <= _MAX_REQUEST_ID:
        raise InvalidInputError(
            f"request_id is text of 1 to {_MAX_REQUEST_ID} characters, got {batch.request_id!r}"
        )
    if not isinstance(batch.model, str) or not 0 < len(batch.model) <= MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"model is a name of 1 to {MAX_KEY_LENGTH} characters, got {batch.model!r}"
        )
    _integer(batch.version, "version")
    _integer(batch.ts_ms, "ts_ms")
    latency = batch.latency_ms
    if not isinstance(latency, numbers.Real) or not (math.isfinite(latency) and latency >= 0):
        raise InvalidInputError(f"latency_ms is a finite number >= 0, got {latency!r}")
    rows = len(batch.predictions)
    features = batch.features
    given = len(next(iter(features.values()), ())) if isinstance(features, Mapping) else None
    if (len(features) if given is None else given) != rows or (
        batch.scores is not None and len(batch.scores) != rows
    ):
        given = "features, predictions" + (" and scores" if batch.scores is not None else "")
        raise InvalidInputError(
            f"request {batch.request_id!r} has {given} of different lengths; give one of "
            "each per row"
        )
    return rows


def _check_settings(
    sample: float, flush_rows: int, flush_interval_s: float, max_pending_rows: int
) -> None:
    if not isinstance(sample, numbers.Real) or not 0.0 <= sample <= 1.0:
        raise InvalidInputError(f"sample is the share of requests to log, in [0, 1]; got {sample}")
    for name, value in (("flush_rows", flush_rows), ("max_pending_rows", max_pending_rows)):
        if _integer(value, name) < 1:
            raise InvalidInputError(f"{name} must be at least 1, got {value}")
    if not isinstance(flush_interval_s, numbers.Real) or not (
        math.isfinite(flush_interval_s) and flush_interval_s > 0
    ):
        raise InvalidInputError(
            f"flush_interval_s is a number of seconds above 0, got {flush_interval_s!r}"
        )
