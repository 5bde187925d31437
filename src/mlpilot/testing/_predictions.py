"""The contract of :class:`~mlpilot.store.base.PredictionRecords`, as pytest tests.

An implementation proves itself by subclassing :class:`PredictionRecordsContract` in a
test module that provides a ``store`` fixture (a fresh, empty
:class:`~mlpilot.store.Store` whose ``predictions`` is the implementation)::

    class TestMyPredictionRecords(PredictionRecordsContract):
        pass
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlpilot.config import Settings
from mlpilot.errors import InvalidInputError
from mlpilot.store._store import Store
from mlpilot.store.base._predictions import PredictionRecords, PredictionRow
from mlpilot.testing._processes import race

#: Writes each of two processes makes in the concurrency test.
WRITES = 40


def prediction_row(
    request_id: str,
    row: int = 0,
    *,
    model: str = "churn",
    version: int = 1,
    role: str = "primary",
    ts_ms: int = 1_000,
    features: dict[str, Any] | None = None,
    prediction: Any = 0,
    scores: list[float] | None = None,
) -> PredictionRow:
    """A logged row with defaults for what a test does not care about."""
    return {
        "request_id": request_id,
        "row": row,
        "model": model,
        "version": version,
        "role": role,
        "ts_ms": ts_ms,
        "latency_ms": 4.5,
        "features": {"age": 30 + row, "plan": "pro"} if features is None else features,
        "prediction": prediction,
        "scores": scores,
    }


def request(request_id: str, rows: int = 2, **fields: Any) -> list[PredictionRow]:
    """The rows of one request, numbered from 0."""
    return [prediction_row(request_id, index, **fields) for index in range(rows)]


def write_requests(settings: Settings, worker: int, barrier: Any, results: Any) -> None:
    """Write ``WRITES`` requests of 3 rows and report ``(worker, error or None)``."""
    store = Store(settings)
    try:
        barrier.wait(timeout=120)
        for index in range(WRITES):
            store.predictions.write(request(f"w{worker}-{index}", 3, ts_ms=index))
        results.put((worker, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


def _requests(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["request_id"]))


class PredictionRecordsContract:
    """Tests every prediction records implementation passes."""

    def test_rows_come_back_oldest_first_with_their_features(self, store: Store) -> None:
        records = store.predictions
        assert isinstance(records, PredictionRecords)
        assert records.write(request("later", ts_ms=2_000)) == 2
        assert records.write(request("first", 1) + request("second", 1)) == 2
        assert records.write([]) == 0

        frame = records.read("churn")

        # Oldest first; rows written with the same time keep the order they were written.
        assert list(zip(frame["request_id"], frame["row"], strict=True)) == [
            ("first", 0),
            ("second", 0),
            ("later", 0),
            ("later", 1),
        ]
        assert frame["age"].tolist() == [30, 30, 30, 31]
        assert set(frame["latency_ms"]) == {4.5}
        assert frame["ts_ms"].tolist() == [1_000, 1_000, 2_000, 2_000]

    def test_reading_by_time_window_version_role_and_last(self, store: Store) -> None:
        records = store.predictions
        records.write(request("late", ts_ms=4_000, version=2))
        records.write(request("early", ts_ms=1_000))
        records.write(request("mid-a", ts_ms=2_000))
        records.write(request("mid-b", ts_ms=2_000, role="canary"))
        records.write(request("shadow", ts_ms=3_000, role="shadow"))
        records.write(request("other-model", ts_ms=2_500, model="fraud"))

        def requests(**query: Any) -> list[str]:
            return _requests(records.read("churn", **query))

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
        assert requests(since_ms=4_001) == []
        assert requests(version=2) == ["late"]
        frame = records.read("churn", last=3)
        assert list(zip(frame["request_id"], frame["row"], strict=True)) == [
            ("mid-b", 1),
            ("late", 0),
            ("late", 1),
        ]
        assert _requests(records.read("churn", last=2, until_ms=2_001)) == ["mid-b"]
        assert len(records.read("churn", last=100)) == 8

    def test_an_unknown_model_gives_an_empty_frame(self, store: Store) -> None:
        frame = store.predictions.read("nobody")
        labelled = store.predictions.read("nobody", labels=True)

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

    def test_features_become_columns_renamed_where_they_clash(self, store: Store) -> None:
        store.predictions.write(
            [
                prediction_row(
                    "r1", 0, features={"version": "beta", "label": 1, "x": 0.5}, scores=[0.9, 0.1]
                ),
                prediction_row("r1", 1, features={"x": 1.5, "y": "new"}, scores=[0.2, 0.8]),
            ]
        )

        frame = store.predictions.read("churn")

        assert list(frame.columns)[9:] == ["feature.version", "feature.label", "x", "y"]
        assert frame["version"].tolist() == [1, 1]
        assert frame["feature.version"].tolist()[0] == "beta"
        assert frame["x"].tolist() == [0.5, 1.5]
        assert pd.isna(frame["y"].iloc[0]) and frame["y"].iloc[1] == "new"
        assert frame["scores"].tolist() == [[0.9, 0.1], [0.2, 0.8]]

    def test_labels_are_joined_by_request_and_row(self, store: Store) -> None:
        records = store.predictions
        records.write(request("r1") + request("r2", 1) + request("r3", 1))

        numpy_row: Any = np.int64(1)
        assert records.record_labels({("r1", 0): 1, ("r1", numpy_row): np.int64(0)}) == 2
        frame_labels = pd.DataFrame({"request_id": ["r2", "r3", "r3"], "label": [1, 0, 1]})
        assert records.record_labels(frame_labels, ts_ms=5_000) == 2
        assert records.record_labels({}) == 0

        frame = records.read("churn", labels=True)
        assert frame["label"].tolist() == [1, 0, 1, 1]  # the last label of r3 counts
        assert "label" not in records.read("churn").columns

    def test_a_new_label_replaces_the_stored_one(self, store: Store) -> None:
        records = store.predictions
        records.write(request("r1"))

        records.record_labels({("r1", 0): "churned"})
        records.record_labels({("r1", 0): "stayed"})

        labels = records.read("churn", labels=True)["label"].tolist()
        assert labels[0] == "stayed" and (labels[1] is None or math.isnan(labels[1]))

    def test_labels_that_come_before_their_request_join_it_when_it_lands(
        self, store: Store
    ) -> None:
        # A label may be known as soon as the answer is, before the server's log of it
        # is written (it writes in batches).
        records = store.predictions
        records.write(request("r1"))

        assert records.record_labels({("r1", 0): 1, ("r2", 0): 0, ("r2", 1): 1}) == 3
        assert records.read("churn", labels=True)["label"].tolist()[0] == 1
        records.write(request("r2"))

        frame = records.read("churn", labels=True)
        assert frame[frame["request_id"] == "r2"]["label"].tolist() == [0, 1]

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
    def test_malformed_labels_are_refused(self, store: Store, labels: Any, message: str) -> None:
        store.predictions.write(request("r1"))
        with pytest.raises(InvalidInputError, match=message):
            store.predictions.record_labels(labels)
        with pytest.raises(InvalidInputError, match="ts_ms must be an integer"):
            store.predictions.record_labels({("r1", 0): 1}, ts_ms=1.5)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"role": "blue"}, "role must be one of primary, canary, shadow"),
            ({"request_id": "x" * 65}, "request_id is text of 1 to 64"),
            ({"request_id": ""}, "request_id is text of 1 to 64"),
            ({"model": ""}, "model is a name"),
            ({"version": "2"}, "version must be an integer"),
            ({"row": -1}, "row is a position from 0"),
            ({"latency_ms": float("nan")}, "latency_ms is a finite number"),
            ({"features": [1, 2]}, "features are a"),
            ({"scores": "high"}, "scores are a list"),
        ],
    )
    def test_malformed_rows_are_refused_and_none_is_stored(
        self, store: Store, fields: dict[str, Any], message: str
    ) -> None:
        bad: Any = prediction_row("r2") | fields
        with pytest.raises(InvalidInputError, match=message):
            store.predictions.write([prediction_row("r1"), bad])
        missing: Any = {key: value for key, value in prediction_row("r3").items() if key != "ts_ms"}
        with pytest.raises(InvalidInputError, match="needs the field 'ts_ms'"):
            store.predictions.write([missing])

        assert store.predictions.read("churn").empty

    def test_reading_with_bad_arguments_is_refused(self, store: Store) -> None:
        with pytest.raises(InvalidInputError, match="role must be one of"):
            store.predictions.read("churn", roles=["blue"])
        with pytest.raises(InvalidInputError, match="roles is a list"):
            store.predictions.read("churn", roles="primary")
        with pytest.raises(InvalidInputError, match="last is a number of rows"):
            store.predictions.read("churn", last=0)

    def test_two_processes_writing_at_once_lose_no_row(self, store: Store) -> None:
        reports = sorted(race(write_requests, [(store.settings, worker) for worker in range(2)]))

        assert reports == [(0, None), (1, None)]
        frame = store.predictions.read("churn")
        assert len(frame) == 2 * WRITES * 3
        assert frame["ts_ms"].is_monotonic_increasing
        for worker in range(2):
            mine = frame[frame["request_id"].str.startswith(f"w{worker}-")]
            assert _requests(mine) == [f"w{worker}-{index}" for index in range(WRITES)]
