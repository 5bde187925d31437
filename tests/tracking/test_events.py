"""Every state change writes an ``events`` row saying what happened, to what, by whom and when."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mlpilot.store import Store, now_ms
from mlpilot.store._schema import events
from mlpilot.tracking import TrackingClient


def events_of(client: TrackingClient, object_id: str) -> list[Any]:
    with client.store.metadata.read() as conn:
        return list(
            conn.execute(
                select(events).where(events.c.object_id == object_id).order_by(events.c.id)
            )
        )


def test_each_change_of_a_run_is_an_event(client: TrackingClient, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    before = now_ms()

    experiment_id = client.create_experiment("audited")
    with client.create_run("audited", "traced") as run:
        run.log_params({"lr": 0.1, "depth": 3})
        run.set_tags({"stage": "dev"})
        run.log_artifact(source)
    client.delete_run(run.id)
    after = now_ms()

    [created] = events_of(client, str(experiment_id))
    assert (created.kind, created.object_type, created.actor) == (
        "experiment.created",
        "experiment",
        "tester",
    )
    assert created.payload == {"name": "audited"}
    rows = events_of(client, run.id)
    assert [r.kind for r in rows] == [
        "run.started",
        "run.params_logged",
        "run.tags_set",
        "run.artifacts_logged",
        "run.finished",
        "run.deleted",
    ]
    assert {(r.object_type, r.actor) for r in rows} == {("run", "tester")}
    stamps = [created.ts_ms] + [r.ts_ms for r in rows]
    assert all(isinstance(ts, int) for ts in stamps)
    assert before <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= after
    payloads = {r.kind: r.payload for r in rows}
    assert payloads["run.started"]["experiment"] == "audited"
    assert payloads["run.started"]["name"] == "traced"
    assert payloads["run.params_logged"] == {"keys": ["depth", "lr"]}
    assert payloads["run.tags_set"] == {"keys": ["stage"]}
    assert payloads["run.artifacts_logged"] == {"paths": ["model.bin"]}
    assert payloads["run.finished"] == {"previous": "running"}
    assert payloads["run.deleted"] == {"runs_deleted": 1}


@pytest.mark.parametrize(
    ("raised", "kind"), [(RuntimeError, "run.failed"), (KeyboardInterrupt, "run.killed")]
)
def test_how_a_run_ended_is_an_event(
    client: TrackingClient, raised: type[BaseException], kind: str
) -> None:
    with pytest.raises(raised), client.create_run() as run:
        raise raised

    assert [r.kind for r in events_of(client, run.id)] == ["run.started", kind]


def test_refused_changes_write_no_event(client: TrackingClient) -> None:
    with client.create_run(params={"lr": 0.1}) as run:
        with pytest.raises(ValueError):
            run.log_params({"lr": 0.2})
        with pytest.raises(ValueError):
            run.set_tags({"": "x"})

    assert [r.kind for r in events_of(client, run.id)] == ["run.started", "run.finished"]


def test_the_actor_is_the_user_of_the_settings(client: TrackingClient) -> None:
    settings = dataclasses.replace(client.settings, user="ana")
    store = Store(settings)
    try:
        with TrackingClient(store).create_run() as run:
            pass
    finally:
        store.close()

    assert {r.actor for r in events_of(client, run.id)} == {"ana"}
