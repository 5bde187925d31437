"""Runs whose process died are marked failed; what they flushed before dying is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text, update

from mlpilot.config import Settings
from mlpilot.store import Store, now_ms
from mlpilot.store import _migrate as migrate
from mlpilot.store._schema import events, runs
from mlpilot.tracking import TrackingClient

FLUSHED_POINTS = 2_000

CRASHING_SCRIPT = f"""
import time
from mlpilot.tracking import TrackingClient

client = TrackingClient()
run = client.create_run("crash", "doomed")
print(run.id, flush=True)
for step in range({FLUSHED_POINTS}):
    run.log_metric("loss", step * 0.5)
client.flush()
print("flushed", flush=True)
step = {FLUSHED_POINTS}
while True:
    run.log_metric("loss", step * 0.5)
    step += 1
    if step % 100 == 0:
        time.sleep(0.001)
"""


@contextmanager
def reopened(settings: Settings) -> Iterator[TrackingClient]:
    """A client on a fresh Store, as a new process would open it."""
    store = Store(settings)
    try:
        yield TrackingClient(store)
    finally:
        store.close()


def move_to_another_host(client: TrackingClient, run_id: str, heartbeat_ms: int) -> None:
    with client.store.metadata.write() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(host="elsewhere.example", heartbeat_ms=heartbeat_ms)
        )


def test_run_on_another_host_without_recent_heartbeat_is_failed(client: TrackingClient) -> None:
    with client.create_run() as run:
        stale_ms = now_ms() - int(client.settings.heartbeat_timeout_s * 1000) - 5_000
        move_to_another_host(client, run.id, stale_ms)

        assert client.mark_dead_runs() == [run.id]

        record = client.get_run(run.id)
        assert record.status == "failed"
        assert record.end_ms is not None
        with client.store.metadata.read() as conn:
            actor, payload = conn.execute(
                select(events.c.actor, events.c.payload).where(
                    events.c.object_id == run.id, events.c.kind == "run.failed"
                )
            ).one()
        assert actor == "mlpilot.liveness"
        assert "no heartbeat from elsewhere.example" in payload["reason"]
        assert client.mark_dead_runs() == []  # a failed run is not failed again


def test_run_on_another_host_with_recent_heartbeat_is_kept(client: TrackingClient) -> None:
    with client.create_run() as run:
        move_to_another_host(client, run.id, now_ms() - 1_000)

        assert client.mark_dead_runs() == []
        assert client.get_run(run.id).status == "running"


def test_ended_runs_are_left_alone(client: TrackingClient) -> None:
    with client.create_run() as run:
        pass
    move_to_another_host(client, run.id, 0)

    assert client.mark_dead_runs() == []
    assert client.get_run(run.id).status == "finished"


def test_running_run_of_this_live_process_is_kept(client: TrackingClient) -> None:
    with client.create_run() as run:
        assert client.mark_dead_runs() == []
        with reopened(client.settings) as other:
            assert other.get_run(run.id).status == "running"


def child_environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "MLPILOT_STORE_URI": settings.store_uri,
        "MLPILOT_ARTIFACTS_URI": settings.artifacts_uri,
    }


@contextmanager
def crashing_process(settings: Settings) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A process that starts a run, flushes its first points and keeps logging."""
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SCRIPT],
        env=child_environment(settings),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        assert process.stdout.readline() == "flushed\n", "the logging process ended early"
        yield process, run_id
    finally:
        process.kill()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


def check_flushed_points(client: TrackingClient, run_id: str) -> None:
    history = client.get_metric_history(run_id, "loss")
    assert len(history) >= FLUSHED_POINTS
    # Whatever the background writer stored after "flushed" is whole too.
    assert [p.step for p in history] == list(range(len(history)))
    assert [p.value for p in history] == [step * 0.5 for step in range(len(history))]


@pytest.mark.integration
def test_killed_process_leaves_a_failed_run_with_its_flushed_points(settings: Settings) -> None:
    with crashing_process(settings) as (process, run_id):
        process.kill()
        process.wait(timeout=60)

    with reopened(settings) as client:
        assert migrate.current_revision(client.store.metadata.engine) == migrate.head_revision()
        if client.store.metadata.dialect == "sqlite":
            with client.store.metadata.read() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        record = client.get_run(run_id)
        assert record.status == "failed"
        assert record.end_ms is not None
        check_flushed_points(client, run_id)
        with client.store.metadata.read() as conn:
            payload = conn.execute(
                select(events.c.payload).where(
                    events.c.object_id == run_id, events.c.kind == "run.failed"
                )
            ).scalar_one()
        assert f"process {process.pid}" in payload["reason"]
        # The store takes new work after the crash.
        with client.create_run("crash", "next") as run:
            run.log_metric("loss", 1.0)
        assert client.get_run(run.id).metrics == {"loss": 1.0}


@pytest.mark.integration
def test_killed_process_not_yet_reaped_counts_as_dead(settings: Settings) -> None:
    with crashing_process(settings) as (process, run_id):
        process.kill()
        # Wait for it to exit without reaping it: it lingers as a zombie.
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        with reopened(settings) as client:
            assert client.get_run(run_id).status == "failed"
            check_flushed_points(client, run_id)
