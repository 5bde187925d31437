"""The prediction log: served predictions written in the background, without loss.

What the stored rows read back as is the records' contract
(:class:`mlpilot.testing.PredictionRecordsContract`, run in tests/store/conformance).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, text

from mlpilot.errors import InvalidInputError, StoreError
from mlpilot.store import PredictionBatch, PredictionLog, Store
from mlpilot.store._schema import prediction_labels, predictions

OpenLog = Callable[..., PredictionLog]
#: Long enough that the background thread never writes on its own during a test.
NEVER = 3600.0


def batch(
    request_id: str,
    *,
    rows: int = 2,
    model: str = "churn",
    version: int = 1,
    role: str = "primary",
    ts_ms: int = 1_000,
    **fields: Any,
) -> PredictionBatch:
    return PredictionBatch(
        request_id=request_id,
        model=model,
        version=version,
        role=role,
        ts_ms=ts_ms,
        latency_ms=fields.pop("latency_ms", 4.5),
        features=fields.pop("features", [{"age": 30 + i, "plan": "pro"} for i in range(rows)]),
        predictions=fields.pop("predictions", [i % 2 for i in range(rows)]),
        **fields,
    )


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the prediction log did not get there"
        time.sleep(0.005)


def stored_count(store: Store) -> int:
    with store.metadata.read() as conn:
        return int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())


def rename_predictions(store: Store, old: str, new: str) -> None:
    with store.metadata.write() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


@pytest.fixture
def open_log(store: Store) -> Iterator[OpenLog]:
    logs: list[PredictionLog] = []

    def open_(**settings: Any) -> PredictionLog:
        log = PredictionLog(store.predictions, **settings)
        logs.append(log)
        return log

    yield open_
    for log in logs:
        log.close()


def test_batches_recorded_from_many_threads_all_land_after_close(
    store: Store, open_log: OpenLog
) -> None:
    log = open_log(flush_rows=7, flush_interval_s=0.01)

    def serve(worker: int) -> None:
        for i in range(50):
            log.record(batch(f"w{worker}-{i}", rows=3, ts_ms=1_000 + i))

    threads = [threading.Thread(target=serve, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()

    assert (log.written, log.dropped, log.pending) == (8 * 50 * 3, 0, 0)
    frame = store.predictions.read("churn")
    assert len(frame) == 8 * 50 * 3
    assert frame["ts_ms"].is_monotonic_increasing
    one = frame[frame["request_id"] == "w3-7"]
    assert one["row"].tolist() == [0, 1, 2]
    assert one["age"].tolist() == [30, 31, 32]
    assert one["prediction"].tolist() == [0, 1, 0]
    assert set(one["ts_ms"]) == {1_007}
    assert set(one["latency_ms"]) == {4.5}


def test_record_returns_while_the_database_is_locked(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=0.01)

    with store.metadata.write() as conn:  # SQLite: BEGIN IMMEDIATE holds the write lock
        if store.metadata.dialect == "postgresql":
            conn.execute(text("LOCK TABLE predictions IN EXCLUSIVE MODE"))
        log.record(batch("r1"))
        log.record(batch("r2"))
        assert (log.written, log.pending) == (0, 4)

    wait_until(lambda: log.written == 4)
    assert stored_count(store) == 4


def test_rows_wait_for_the_interval_or_for_flush_rows(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER, flush_rows=5)

    log.record(batch("r1"))
    log.record(batch("r2"))
    assert (log.written, log.pending, stored_count(store)) == (0, 4, 0)
    assert log.flush() == 4
    assert (log.written, log.pending, stored_count(store)) == (4, 0, 4)
    assert log.flush() == 0

    log.record(batch("r3", rows=3))
    log.record(batch("r4", rows=3))  # 6 rows wait: past flush_rows, the thread writes
    wait_until(lambda: log.written == 10)
    assert stored_count(store) == 10


def test_sampling_records_the_given_share(store: Store, open_log: OpenLog) -> None:
    never = open_log(sample=0.0, flush_interval_s=NEVER)
    always = open_log(sample=1.0, flush_interval_s=NEVER)
    third = open_log(sample=0.3, seed=7, flush_interval_s=NEVER)
    same_seed = open_log(sample=0.3, seed=7, flush_interval_s=NEVER)

    assert not any(never.sampled() for _ in range(10_000))
    assert all(always.sampled() for _ in range(10_000))
    draws = [third.sampled() for _ in range(10_000)]
    assert 2_800 < sum(draws) < 3_200
    assert [same_seed.sampled() for _ in range(10_000)] == draws


def test_a_failed_write_keeps_the_rows_for_the_next_flush(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1"))
    rename_predictions(store, "predictions", "predictions_away")

    with pytest.raises(StoreError, match="write failed"):
        log.flush()
    log.record(batch("r2", rows=3))
    assert (log.written, log.pending, log.dropped) == (0, 5, 0)

    rename_predictions(store, "predictions_away", "predictions")
    assert log.flush() == 5
    frame = store.predictions.read("churn")
    assert frame["request_id"].tolist() == ["r1", "r1", "r2", "r2", "r2"]


def test_the_background_thread_retries_after_write_errors(
    store: Store, open_log: OpenLog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mlpilot.store._predictions")
    log = open_log(flush_interval_s=0.01)
    rename_predictions(store, "predictions", "predictions_away")

    log.record(batch("r1"))
    wait_until(lambda: "could not write 2 predictions yet" in caplog.text)
    log.record(batch("r2"))
    rename_predictions(store, "predictions_away", "predictions")

    wait_until(lambda: log.written == 4)
    assert (log.pending, log.dropped, stored_count(store)) == (0, 0, 4)


def test_rows_past_max_pending_rows_are_dropped_and_counted(
    store: Store, open_log: OpenLog
) -> None:
    log = open_log(flush_interval_s=NEVER, max_pending_rows=5)
    log.record(batch("r1"))
    log.record(batch("r2"))
    log.record(batch("r3"))  # 6 rows would wait
    log.record(batch("r4", rows=1))
    assert (log.pending, log.dropped) == (5, 2)

    rename_predictions(store, "predictions", "predictions_away")
    with pytest.raises(StoreError):
        log.flush()
    log.record(batch("r5", rows=1))  # the unwritten rows still count
    assert (log.pending, log.dropped) == (5, 3)
    rename_predictions(store, "predictions_away", "predictions")

    assert log.flush() == 5
    log.record(batch("r6", rows=1))
    log.close()
    assert (log.written, log.dropped) == (6, 3)
    stored = set(store.predictions.read("churn")["request_id"])
    assert stored == {"r1", "r2", "r4", "r6"}


def test_numpy_values_and_non_finite_floats_are_stored_as_json(
    store: Store, open_log: OpenLog
) -> None:
    log = open_log(flush_interval_s=NEVER)
    features = {
        "f32": np.float32(1.5),
        "i64": np.int64(3),
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "array": np.array([1, 2]),
        "flag": np.bool_(True),
        "text": np.str_("x"),
        "nested": {"values": (np.float64("-inf"), 2.5)},
    }
    log.record(
        batch(
            "r1",
            rows=1,
            features=[features],
            predictions=[np.int64(1)],
            scores=[np.array([0.25, 0.75])],
        )
    )
    log.record(batch("r2", rows=1, predictions=[np.float64("nan")], scores=None))
    log.close()

    with store.metadata.read() as conn:
        query = select(predictions.c.features, predictions.c.prediction, predictions.c.scores)
        stored = conn.execute(query.order_by(predictions.c.id)).all()
    assert stored[0] == (
        {
            "f32": 1.5,
            "i64": 3,
            "nan": None,
            "inf": None,
            "array": [1, 2],
            "flag": True,
            "text": "x",
            "nested": {"values": [None, 2.5]},
        },
        1,
        [0.25, 0.75],
    )
    assert stored[1][1:] == (None, None)


def test_features_given_as_columns_are_stored_as_rows(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1", features={"age": [30, 41, 52], "plan": ["pro", "free", "pro"]}, rows=3))
    with pytest.raises(InvalidInputError, match="different lengths"):
        log.record(batch("r2", features={"age": [30, 41]}, rows=3))
    log.flush()

    frame = store.predictions.read("churn")

    assert frame["age"].tolist() == [30, 41, 52]
    assert frame["plan"].tolist() == ["pro", "free", "pro"]
    assert frame["row"].tolist() == [0, 1, 2]


def test_labels_of_buffered_requests_join_them_once_they_are_written(
    store: Store, open_log: OpenLog
) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1"))

    assert store.predictions.record_labels({("r1", 0): 3}) == 1
    assert store.predictions.read("churn", labels=True).empty
    log.flush()
    assert store.predictions.record_labels({("r1", 0): 1, ("r1", 1): 0}, ts_ms=5_000) == 2

    assert store.predictions.read("churn", labels=True)["label"].tolist() == [1, 0]
    with store.metadata.read() as conn:
        stamps = select(prediction_labels.c.ts_ms).where(prediction_labels.c.request_id == "r1")
        assert conn.execute(stamps).scalars().all() == [5_000, 5_000]


def test_an_unreadable_batch_is_dropped_alone(
    store: Store, open_log: OpenLog, caplog: pytest.LogCaptureFixture
) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1", scores=["high", "low"]))
    log.record(batch("r2", features=[["not", "a mapping"], {"age": 3}]))
    log.record(batch("r3"))

    assert log.flush() == 2

    assert (log.written, log.dropped, log.pending) == (2, 4, 0)
    assert store.predictions.read("churn")["request_id"].tolist() == ["r3", "r3"]
    assert "dropped the 2 logged predictions of request r1" in caplog.text


class Refusing:
    """Prediction records that refuse every row, as a store refuses malformed ones."""

    def __init__(self) -> None:
        self.calls = 0

    def write(self, rows: Any) -> int:
        self.calls += 1
        raise InvalidInputError("refused")


def test_rows_the_records_refuse_are_dropped_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = Refusing()
    log = PredictionLog(records, flush_interval_s=NEVER)  # type: ignore[arg-type]
    log.record(batch("r1"))

    assert log.flush() == 0
    assert log.flush() == 0
    log.close()

    assert (records.calls, log.written, log.dropped, log.pending) == (1, 0, 2, 0)
    assert "dropped 2 logged predictions: refused" in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sample": -0.1}, "sample is the share"),
        ({"sample": 1.5}, "sample is the share"),
        ({"sample": float("nan")}, "sample is the share"),
        ({"flush_rows": 0}, "flush_rows must be at least 1"),
        ({"max_pending_rows": 0}, "max_pending_rows must be at least 1"),
        ({"flush_interval_s": 0}, "flush_interval_s is a number of seconds above 0"),
    ],
)
def test_settings_out_of_range_are_refused(
    store: Store, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        PredictionLog(store.predictions, **options)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "blue"}, "role must be one of primary, canary, shadow"),
        ({"request_id": "x" * 65}, "request_id is text of 1 to 64"),
        ({"latency_ms": float("nan")}, "latency_ms is a finite number"),
        ({"predictions": [1]}, "of different lengths"),
        ({"scores": [[0.5, 0.5]]}, "features, predictions and scores of different lengths"),
    ],
)
def test_malformed_batches_are_refused(
    open_log: OpenLog, fields: dict[str, Any], message: str
) -> None:
    log = open_log(flush_interval_s=NEVER)
    fields = {"request_id": "r1", **fields}

    with pytest.raises(InvalidInputError, match=message):
        log.record(batch(**fields))
    assert log.pending == 0


def test_close_is_idempotent_and_recording_after_it_fails(store: Store) -> None:
    log = PredictionLog(store.predictions, flush_interval_s=NEVER)
    log.record(batch("r1"))
    log.close()
    log.close()

    assert log.written == 2
    with pytest.raises(StoreError, match="closed"):
        log.record(batch("r2"))
