"""The prediction log: served predictions written in the background, read back with labels."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text

from mlpilot.errors import InvalidInputError, StoreError
from mlpilot.store import (
    PredictionBatch,
    PredictionLog,
    Store,
    read_predictions,
    record_labels,
)
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
        log = PredictionLog(store.metadata, **settings)
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
    frame = read_predictions(store.metadata, "churn")
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
    frame = read_predictions(store.metadata, "churn")
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
    stored = set(read_predictions(store.metadata, "churn")["request_id"])
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


def test_reading_by_time_window_version_role_and_last(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("late", ts_ms=4_000, version=2))
    log.record(batch("early", ts_ms=1_000))
    log.record(batch("mid-a", ts_ms=2_000))
    log.record(batch("mid-b", ts_ms=2_000, role="canary"))
    log.record(batch("shadow", ts_ms=3_000, role="shadow"))
    log.record(batch("other-model", ts_ms=2_500, model="fraud"))
    log.flush()

    def requests(**query: Any) -> list[str]:
        frame = read_predictions(store.metadata, "churn", **query)
        return list(dict.fromkeys(frame["request_id"]))

    assert requests() == ["early", "mid-a", "mid-b", "late"]
    assert requests(roles=("primary", "canary", "shadow")) == [
        "early",
        "mid-a",
        "mid-b",
        "shadow",
        "late",
    ]
    assert requests(roles=["canary"]) == ["mid-b"]
    assert requests(since_ms=2_000, until_ms=4_000) == ["mid-a", "mid-b"]
    assert requests(version=2) == ["late"]
    frame = read_predictions(store.metadata, "churn", last=3)
    assert list(zip(frame["request_id"], frame["row"], strict=True)) == [
        ("mid-b", 1),
        ("late", 0),
        ("late", 1),
    ]


def test_reading_an_unknown_model_gives_an_empty_frame(store: Store) -> None:
    frame = read_predictions(store.metadata, "nobody")
    labelled = read_predictions(store.metadata, "nobody", labels=True)

    assert frame.empty and list(frame.columns) == [
        "request_id",
        "row",
        "model",
        "version",
        "role",
        "ts_ms",
        "latency_ms",
        "prediction",
        "scores",
    ]
    assert list(labelled.columns) == [*frame.columns, "label"]


def test_features_become_columns_renamed_where_they_clash(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER)
    features = [{"version": "beta", "label": 1, "x": 0.5}, {"x": 1.5, "y": "new"}]
    log.record(batch("r1", features=features, scores=[[0.9, 0.1], [0.2, 0.8]]))
    log.flush()

    frame = read_predictions(store.metadata, "churn")

    assert list(frame.columns)[9:] == ["feature.version", "feature.label", "x", "y"]
    assert frame["version"].tolist() == [1, 1]
    assert frame["feature.version"].tolist()[0] == "beta"
    assert frame["x"].tolist() == [0.5, 1.5]
    assert pd.isna(frame["y"].iloc[0]) and frame["y"].iloc[1] == "new"
    assert frame["scores"].tolist() == [[0.9, 0.1], [0.2, 0.8]]


def test_features_given_as_columns_are_stored_as_rows(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1", features={"age": [30, 41, 52], "plan": ["pro", "free", "pro"]}, rows=3))
    with pytest.raises(InvalidInputError, match="different lengths"):
        log.record(batch("r2", features={"age": [30, 41]}, rows=3))
    log.flush()

    frame = read_predictions(store.metadata, "churn")

    assert frame["age"].tolist() == [30, 41, 52]
    assert frame["plan"].tolist() == ["pro", "free", "pro"]
    assert frame["row"].tolist() == [0, 1, 2]


def test_labels_are_joined_by_request_and_row(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1"))
    log.record(batch("r2", rows=1))
    log.record(batch("r3", rows=1))
    log.flush()

    assert record_labels(store.metadata, {("r1", 0): 1, ("r1", np.int64(1)): np.int64(0)}) == 2
    frame_labels = pd.DataFrame({"request_id": ["r2", "r3", "r3"], "label": [1, 0, 1]})
    assert record_labels(store.metadata, frame_labels, ts_ms=5_000) == 2

    frame = read_predictions(store.metadata, "churn", labels=True)
    assert frame["label"].tolist() == [1, 0, 1, 1]  # the last label of r3 counts
    with store.metadata.read() as conn:
        stamp = select(prediction_labels.c.ts_ms).where(prediction_labels.c.request_id == "r2")
        assert conn.execute(stamp).scalar_one() == 5_000


def test_a_new_label_replaces_the_stored_one(store: Store, open_log: OpenLog) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1"))
    log.flush()

    record_labels(store.metadata, {("r1", 0): "churned"})
    record_labels(store.metadata, {("r1", 0): "stayed"})

    labels = read_predictions(store.metadata, "churn", labels=True)["label"].tolist()
    assert labels[0] == "stayed" and (labels[1] is None or math.isnan(labels[1]))


def test_labels_for_unlogged_requests_are_refused_and_nothing_is_stored(
    store: Store, open_log: OpenLog
) -> None:
    log = open_log(flush_interval_s=NEVER)
    log.record(batch("r1"))
    log.flush()
    log.record(batch("buffered"))  # not written yet, so not known either

    labels = {("r1", 0): 1, ("ghost", 0): 1, ("buffered", 0): 0}
    with pytest.raises(InvalidInputError, match="'ghost', 'buffered'; no label was stored"):
        record_labels(store.metadata, labels)
    many = {(f"ghost-{i:02d}", 0): 1 for i in range(12)}
    with pytest.raises(InvalidInputError, match="'ghost-09' and 2 more;"):
        record_labels(store.metadata, many)

    with store.metadata.read() as conn:
        assert conn.execute(select(func.count()).select_from(prediction_labels)).scalar() == 0


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({("r1", 0): float("nan")}, "label of \\('r1', 0\\) is missing"),
        ({("r1", "0"): 1}, "row of request 'r1' must be an integer"),
        ({"r1": 1}, "key is \\(request_id, row\\)"),
        (pd.DataFrame({"request_id": ["r1"]}), "lacks label"),
        ([("r1", 0, 1)], "mapping or a frame"),
    ],
)
def test_malformed_labels_are_refused(store: Store, labels: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        record_labels(store.metadata, labels)


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
        PredictionLog(store.metadata, **options)


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


def test_reading_with_bad_arguments_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="role must be one of"):
        read_predictions(store.metadata, "churn", roles=["blue"])
    with pytest.raises(InvalidInputError, match="last is a number of rows"):
        read_predictions(store.metadata, "churn", last=0)


def test_close_is_idempotent_and_recording_after_it_fails(store: Store) -> None:
    log = PredictionLog(store.metadata, flush_interval_s=NEVER)
    log.record(batch("r1"))
    log.close()
    log.close()

    assert log.written == 2
    with pytest.raises(StoreError, match="closed"):
        log.record(batch("r2"))
