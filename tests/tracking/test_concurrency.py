"""Several processes logging into one store at once lose no point."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from sqlalchemy import func, select

from mlpilot.config import Settings
from mlpilot.store import Store
from mlpilot.store._schema import metric_chunks
from mlpilot.tracking import TrackingClient

PROCESSES = 4
POINTS = 50_000


def log_points(settings: Settings, index: int, barrier: Any, results: Any) -> None:
    store = Store(settings)
    client = TrackingClient(store)
    with client.create_run("concurrent", f"worker-{index}") as run:
        barrier.wait(timeout=120)
        for step in range(POINTS):
            run.log_metric("loss", float(index * POINTS + step))
    results.put((index, run.id))
    store.close()


@pytest.mark.integration
def test_processes_logging_at_once_lose_no_point(settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(target=log_points, args=(settings, index, barrier, results))
        for index in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    run_ids = dict(results.get(timeout=240) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES

    store = Store(settings)
    try:
        with store.metadata.read() as conn:
            total = conn.execute(select(func.sum(metric_chunks.c.count))).scalar()
        assert total == PROCESSES * POINTS
        client = TrackingClient(store)
        for index, run_id in run_ids.items():
            record = client.get_run(run_id)
            assert record.status == "finished"
            history = client.get_metric_history(run_id, "loss")
            assert len(history) == POINTS
            assert [p.step for p in history] == list(range(POINTS))
            assert history[0].value == index * POINTS
            assert history[-1].value == index * POINTS + POINTS - 1
            assert record.metrics == {"loss": history[-1].value}
    finally:
        store.close()
