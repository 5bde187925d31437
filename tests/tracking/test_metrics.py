"""Metrics: buffered per-call logging, batches, history, latest values and validation."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._schema import latest_metrics, metric_chunks
from mlpilot.tracking import Run, TrackingClient


def steps_of(client: TrackingClient, run_id: str, key: str) -> list[int]:
    return [p.step for p in client.get_metric_history(run_id, key)]


def count_points(client: TrackingClient) -> int:
    with client.store.metadata.read() as conn:
        return int(
            conn.execute(select(func.coalesce(func.sum(metric_chunks.c.count), 0))).scalar_one()
        )


def test_default_steps_count_up_per_key(client: TrackingClient) -> None:
    with client.create_run() as run:
        for value in (0.9, 0.7, 0.5):
            run.log_metric("loss", value)
        run.log_metric("acc", 0.1)
        run.log_metrics({"acc": 0.2, "lr": 1e-3})

    assert steps_of(client, run.id, "loss") == [0, 1, 2]
    assert steps_of(client, run.id, "acc") == [0, 1]
    assert steps_of(client, run.id, "lr") == [0]
    assert [p.value for p in client.get_metric_history(run.id, "loss")] == [0.9, 0.7, 0.5]


def test_default_step_continues_after_an_explicit_one(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_metric("loss", 1.0, step=10)
        run.log_metric("loss", 0.5)
        run.log_metrics({"loss": 0.25}, step=20)
        run.log_metric("loss", 0.125)

    assert steps_of(client, run.id, "loss") == [10, 11, 20, 21]


def test_history_has_every_point_in_step_order(client: TrackingClient) -> None:
    logged = [(5, 0.5), (1, 0.1), (3, 0.3), (2, 0.2), (4, 0.4), (0, 0.0)]
    with client.create_run() as run:
        for index, (step, value) in enumerate(logged):
            run.log_metric("loss", value, step=step, timestamp_ms=1_000 + index)
            if index % 2:
                client.flush()  # points spread over several stored chunks

    history = client.get_metric_history(run.id, "loss")
    assert [(p.step, p.value) for p in history] == sorted(logged)
    assert {p.timestamp_ms for p in history} == set(range(1_000, 1_006))


def test_history_keeps_repeated_steps_in_time_order(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_metric("loss", 2.0, step=1, timestamp_ms=200)
        client.flush()
        run.log_metric("loss", 1.0, step=1, timestamp_ms=100)
        run.log_metric("loss", 3.0, step=1, timestamp_ms=300)

    history = client.get_metric_history(run.id, "loss")
    assert [(p.timestamp_ms, p.value) for p in history] == [(100, 1.0), (200, 2.0), (300, 3.0)]
    assert client.get_run(run.id).metrics == {"loss": 3.0}


def test_history_of_a_key_never_logged_is_empty(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_metric("loss", 1.0)

    assert client.get_metric_history(run.id, "accuracy") == []
    with pytest.raises(NotFoundError):
        client.get_metric_history("0" * 32, "loss")


def test_latest_value_is_the_point_with_the_highest_step(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_metric("acc", 0.5, step=5)
        run.log_metric("acc", 0.9, step=9)
        run.log_metric("acc", 0.2, step=2)
        client.flush()
        run.log_metric("acc", 0.3, step=3)  # a later flush with a lower step
        client.flush()
        assert client.get_run(run.id).metrics == {"acc": 0.9}
        run.log_metric("acc", 0.95, step=12)

    assert client.get_run(run.id).metrics == {"acc": 0.95}
    with client.store.metadata.read() as conn:
        assert conn.execute(select(latest_metrics.c.step)).scalars().all() == [12]


def test_record_includes_buffered_points(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_metric("loss", 0.5)
        assert run.record().metrics == {"loss": 0.5}


def test_client_log_metric_buffers_until_flush(client: TrackingClient) -> None:
    with client.create_run() as run:
        client.log_metric(run.id, "loss", 0.5, step=3)
        client.flush()
        assert count_points(client) == 1

    assert [(p.step, p.value) for p in client.get_metric_history(run.id, "loss")] == [(3, 0.5)]


def test_numpy_numbers_are_accepted(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_metric("loss", np.float32(0.5), step=np.int64(7))  # type: ignore[arg-type]
        run.log_metric("epochs", 3)
        client.log_batch(run.id, [("acc", np.float64(0.25), np.int32(1))])

    assert client.get_run(run.id).metrics == {"loss": 0.5, "epochs": 3.0, "acc": 0.25}
    assert steps_of(client, run.id, "loss") == [7]


def test_log_batch_stores_metrics_params_and_tags(client: TrackingClient) -> None:
    with client.create_run() as run:
        client.log_batch(
            run.id,
            metrics=[("loss", 0.9, 0, 1_000), ("loss", 0.5, 1), ("acc", 0.7, 0)],
            params={"lr": 0.1},
            tags={"stage": "warmup"},
        )

    record = client.get_run(run.id)
    assert record.metrics == {"loss": 0.5, "acc": 0.7}
    assert (record.params, record.tags) == ({"lr": "0.1"}, {"stage": "warmup"})
    history = client.get_metric_history(run.id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 0.9), (1, 0.5)]
    assert history[0].timestamp_ms == 1_000


def test_log_batch_with_one_nan_stores_nothing(client: TrackingClient) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match="'acc'"):
            client.log_batch(
                run.id,
                metrics=[("loss", 0.5, 0), ("acc", math.nan, 0), ("loss", 0.4, 1)],
                params={"lr": 0.1},
                tags={"stage": "warmup"},
            )

    record = client.get_run(run.id)
    assert (record.metrics, record.params, record.tags) == ({}, {}, {})
    assert count_points(client) == 0


def test_log_batch_with_a_param_conflict_stores_nothing(client: TrackingClient) -> None:
    with client.create_run(params={"lr": 0.1}) as run:
        with pytest.raises(ConflictError, match="'lr'"):
            client.log_batch(run.id, metrics=[("loss", 0.5, 0)], params={"lr": 0.2})

    assert client.get_run(run.id).metrics == {}
    assert count_points(client) == 0


@pytest.mark.parametrize(
    "entry",
    [("loss", 0.5), ("loss", 0.5, 0, 1, 2), "loss", 5],
)
def test_log_batch_entries_have_three_or_four_fields(client: TrackingClient, entry: Any) -> None:
    with client.create_run() as run:
        with pytest.raises(InvalidInputError, match=r"\(key, value, step\)"):
            client.log_batch(run.id, [("acc", 0.1, 0), entry])

    assert count_points(client) == 0


def test_log_batch_to_an_unknown_run(client: TrackingClient) -> None:
    with pytest.raises(NotFoundError, match="no run"):
        client.log_batch("0" * 32, [("loss", 0.5, 0)])
    assert count_points(client) == 0


LONG_KEY = "k" * 251
BAD_VALUES = [math.nan, math.inf, -math.inf, "0.5", "high", None, [1.0], b"1"]
BAD_STEPS = [-1, 2**63, 1.5, 2.0, "3", None]
BAD_KEYS = [LONG_KEY, "a\nb", "tab\tkey", "nul\x00", "bad\udcff", "", " loss", 42]

Logger = Callable[[TrackingClient, Run, Any, Any, Any], None]
LOGGERS: dict[str, Logger] = {
    "Run.log_metric": lambda client, run, key, value, step: run.log_metric(key, value, step),
    "Run.log_metrics": lambda client, run, key, value, step: run.log_metrics({key: value}, step),
    "TrackingClient.log_metric": lambda client, run, key, value, step: client.log_metric(
        run.id, key, value, step
    ),
    "TrackingClient.log_batch": lambda client, run, key, value, step: client.log_batch(
        run.id, [("ok", 1.0, 0), (key, value, step)]
    ),
}


def refusal(client: TrackingClient, logger: str, key: Any, value: Any, step: Any) -> str:
    """The message of the InvalidInputError that logging this point raises."""
    with client.create_run() as run:
        with pytest.raises(InvalidInputError) as error:
            LOGGERS[logger](client, run, key, value, step)
    assert client.get_run(run.id).metrics == {}
    assert count_points(client) == 0
    return str(error.value)


@pytest.mark.parametrize("logger", LOGGERS)
def test_bad_values_are_refused_naming_the_key(client: TrackingClient, logger: str) -> None:
    for value in BAD_VALUES:
        message = refusal(client, logger, "val loss", value, 0)
        assert "'val loss'" in message, value


@pytest.mark.parametrize("logger", LOGGERS)
def test_bad_steps_are_refused_naming_the_key(client: TrackingClient, logger: str) -> None:
    for step in BAD_STEPS if logger.startswith("TrackingClient") else BAD_STEPS[:-1]:
        message = refusal(client, logger, "loss", 1.0, step)
        assert "step of metric 'loss'" in message, step


@pytest.mark.parametrize("logger", LOGGERS)
def test_bad_keys_are_refused_naming_the_key(client: TrackingClient, logger: str) -> None:
    for key in BAD_KEYS:
        message = refusal(client, logger, key, 1.0, 0)
        assert "metric key" in message, key
        assert repr(key)[1:-1][:40] in message, key


def test_a_boolean_step_is_refused(client: TrackingClient) -> None:
    message = refusal(client, "Run.log_metric", "loss", 1.0, True)
    assert "step of metric 'loss' must be an integer" in message


def test_a_refused_point_does_not_advance_the_default_step(client: TrackingClient) -> None:
    with client.create_run() as run:
        run.log_metric("loss", 1.0)
        with pytest.raises(InvalidInputError):
            run.log_metric("loss", math.nan)
        run.log_metric("loss", 0.5)

    assert steps_of(client, run.id, "loss") == [0, 1]


def test_points_of_a_deleted_run_do_not_block_other_runs(client: TrackingClient) -> None:
    with client.create_run() as doomed:
        pass
    client.delete_run(doomed.id)
    client.log_metric(doomed.id, "loss", 1.0)  # buffered: nothing checks the run yet

    with client.create_run() as survivor:
        survivor.log_metric("loss", 0.5)

    assert client.get_run(survivor.id).metrics == {"loss": 0.5}
    assert count_points(client) == 1


def test_closing_the_store_writes_pending_points_and_stops_the_writer(
    client: TrackingClient,
) -> None:
    def writers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "mlpilot-metric-writer"}

    others = writers()  # other stores' writers in this process
    run = client.create_run()
    client.log_metric(run.id, "loss", 0.5, step=1)
    assert writers() - others
    client.store.close()

    assert count_points(client) == 1  # the engine reconnects on demand after close
    run.end()
    assert not writers() - others
