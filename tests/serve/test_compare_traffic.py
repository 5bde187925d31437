"""Comparing the versions that served a model, from the prediction log of a real store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mlpilot.serve import compare_traffic, record_labels
from mlpilot.store import PredictionBatch, PredictionLog, Store, now_ms
from mlpilot.tracking import TrackingClient


def log(store: Store, *batches: PredictionBatch) -> None:
    predictions = PredictionLog(store.predictions, flush_interval_s=3600)
    for one in batches:
        predictions.record(one)
    predictions.close()


def served(
    request_id: str,
    predictions: Sequence[Any],
    *,
    version: int = 1,
    role: str = "primary",
    latency_ms: float = 5.0,
    scores: list[list[float]] | None = None,
    ts_ms: int = 1_000,
) -> PredictionBatch:
    return PredictionBatch(
        request_id=request_id,
        model="churn",
        version=version,
        role=role,
        ts_ms=ts_ms,
        latency_ms=latency_ms,
        features=[{"tenure": i} for i in range(len(predictions))],
        predictions=list(predictions),
        scores=scores,
    )


def test_a_canary_and_its_primary_side_by_side_with_their_accuracy(store: Store) -> None:
    log(
        store,
        *(served(f"p{i}", ["stay"], latency_ms=10.0 + i) for i in range(8)),
        served("p8", ["leave", "leave"], latency_ms=30.0),
        *(served(f"c{i}", ["leave"], version=2, role="canary", latency_ms=4.0) for i in range(4)),
    )
    # Labels for some rows: the primary is right on 3 of 4, the canary on 1 of 2.
    record_labels(
        {("p0", 0): "stay", ("p1", 0): "stay", ("p8", 0): "leave", ("p8", 1): "stay"}
        | {("c0", 0): "leave", ("c1", 0): "stay"},
        client=TrackingClient(store),
    )

    found = compare_traffic("churn", client=TrackingClient(store))

    assert not found.regression
    primary, canary = found.versions
    assert (primary.role, primary.version, primary.requests, primary.rows) == ("primary", 1, 9, 10)
    # Nine requests, one latency each (the two-row request is not counted twice).
    assert primary.latency_p50_ms == 14.0
    assert primary.predictions == {"stay": 0.8, "leave": 0.2}
    assert (primary.labelled, primary.accuracy, primary.mae) == (4, 0.75, None)
    assert (canary.role, canary.version, canary.requests, canary.rows) == ("canary", 2, 4, 4)
    assert (canary.latency_p50_ms, canary.latency_p95_ms) == (4.0, 4.0)
    assert canary.predictions == {"leave": 1.0}
    assert (canary.labelled, canary.accuracy) == (2, 0.5)
    assert found.shadows == []


def test_a_shadow_is_compared_row_by_row_with_the_primary(store: Store) -> None:
    primary_scores = [[0.9, 0.1], [0.2, 0.8]]
    log(
        store,
        served("r1", [0, 1], scores=primary_scores),
        served("r1", [0, 0], version=3, role="shadow", scores=[[0.7, 0.3], [0.6, 0.4]]),
        served("r2", [1], scores=[[0.4, 0.6]]),
        served("r2", [1], version=3, role="shadow", scores=[[0.5, 0.5]]),
        # A shadow row whose primary answer is not in the log: not a pair.
        served("r3", [1], version=3, role="shadow"),
    )

    found = compare_traffic("churn", client=TrackingClient(store))

    (shadow,) = found.shadows
    assert (shadow.shadow_version, shadow.primary_version, shadow.rows) == (3, 1, 3)
    assert shadow.agreement == pytest.approx(2 / 3)
    assert shadow.score_gap == pytest.approx((0.2 + 0.4 + 0.1) / 3)
    assert shadow.mean_difference is None
    assert [(v.role, v.version, v.rows) for v in found.versions] == [
        ("primary", 1, 3),
        ("shadow", 3, 4),
    ]


def test_a_regressor_is_compared_by_its_errors_and_differences(store: Store) -> None:
    log(
        store,
        served("r1", [10.5, 20.0]),
        served("r1", [11.5, 18.0], version=2, role="shadow"),
    )
    record_labels({("r1", 0): 10.0, ("r1", 1): 21.0}, client=TrackingClient(store))

    found = compare_traffic("churn", client=TrackingClient(store))

    assert found.regression
    primary, shadow_traffic = found.versions
    assert primary.predictions == {"mean": 15.25}
    assert (primary.mae, primary.accuracy) == (0.75, None)
    assert shadow_traffic.mae == pytest.approx((1.5 + 3.0) / 2)
    (shadow,) = found.shadows
    assert (shadow.agreement, shadow.mean_difference) == (None, 1.5)


def test_only_the_period_asked_for_is_compared(store: Store) -> None:
    log(
        store,
        served("old", ["stay"], ts_ms=1_000),
        served("new", ["leave"], ts_ms=5_000),
        served("later", ["leave"], ts_ms=9_000),
    )

    found = compare_traffic("churn", client=TrackingClient(store), since_ms=2_000, until_ms=9_000)

    assert [(v.requests, v.predictions) for v in found.versions] == [(1, {"leave": 1.0})]
    assert compare_traffic("churn", client=TrackingClient(store), since_ms=now_ms()).versions == []
    assert compare_traffic("fraud", client=TrackingClient(store)).to_dict()["versions"] == []
