"""Deleting runs, and naming runs by id or id prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from mlpilot.errors import ConflictError, InvalidInputError, NotFoundError
from mlpilot.store._schema import latest_metrics, metric_chunks, params, run_artifacts, runs, tags
from mlpilot.tracking import Run, TrackingClient

RUN_TABLES = [params, tags, metric_chunks, latest_metrics, run_artifacts]


def rows_of(client: TrackingClient, run_id: str) -> dict[str, int]:
    with client.store.metadata.read() as conn:
        return {
            table.name: conn.execute(
                select(func.count()).select_from(table).where(table.c.run_id == run_id)
            ).scalar_one()
            for table in RUN_TABLES
        }


def full_run(client: TrackingClient, tmp_path: Path, name: str) -> Run:
    source = tmp_path / f"{name}.txt"
    source.write_text(name)
    with client.create_run("deletion", name, params={"lr": 0.1}, tags={"team": "a"}) as run:
        run.log_metric("loss", 0.5)
        run.log_artifact(source)
    return run


def set_status(client: TrackingClient, run_id: str, status: str) -> None:
    """As another process would: that run's row says what its process is doing."""
    with client.store.metadata.write() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(status=status))


def test_delete_removes_everything_of_the_run_only(client: TrackingClient, tmp_path: Path) -> None:
    doomed = full_run(client, tmp_path, "doomed")
    kept = full_run(client, tmp_path, "kept")
    assert rows_of(client, doomed.id) == {table.name: 1 for table in RUN_TABLES}
    [artifact] = client.list_artifacts(doomed.id)

    assert client.delete_run(doomed.id) == 1

    assert rows_of(client, doomed.id) == {table.name: 0 for table in RUN_TABLES}
    assert rows_of(client, kept.id) == {table.name: 1 for table in RUN_TABLES}
    with pytest.raises(NotFoundError):
        client.get_run(doomed.id)
    assert [r.id for r in client.search_runs("deletion")] == [kept.id]
    assert client.store.artifacts.exists(artifact.digest)  # until garbage collection


def test_running_run_is_kept_unless_forced(client: TrackingClient) -> None:
    with client.create_run() as run:
        with pytest.raises(ConflictError, match="still running.*force"):
            client.delete_run(run.id)
    set_status(client, run.id, "running")
    with pytest.raises(ConflictError, match="force"):
        client.delete_run(run.id)
    assert client.get_run(run.id).status == "running"

    assert client.delete_run(run.id, force=True) == 1
    with pytest.raises(NotFoundError):
        client.get_run(run.id)


def test_run_with_children_is_kept_unless_recursive(client: TrackingClient) -> None:
    with client.create_run(name="parent") as parent:
        with client.create_run(name="child", parent_id=parent.id) as child:
            with client.create_run(name="grandchild", parent_id=child.id) as grandchild:
                grandchild.log_metric("loss", 1.0)
    with client.create_run(name="bystander"):
        pass

    with pytest.raises(ConflictError, match="2 child run.*recursive"):
        client.delete_run(parent.id)
    assert len(client.search_runs()) == 4

    assert client.delete_run(parent.id, recursive=True) == 3
    assert [r.name for r in client.search_runs()] == ["bystander"]
    assert rows_of(client, grandchild.id)["metric_chunks"] == 0


def test_a_running_child_needs_force_too(client: TrackingClient) -> None:
    with client.create_run(name="parent") as parent:
        with client.create_run(name="child", parent_id=parent.id) as child:
            pass
    set_status(client, child.id, "running")

    with pytest.raises(ConflictError, match="or a child"):
        client.delete_run(parent.id, recursive=True)
    assert client.delete_run(parent.id, recursive=True, force=True) == 2


def test_delete_by_unique_prefix(client: TrackingClient) -> None:
    with client.create_run() as run:
        pass

    assert client.delete_run(run.id[:6].upper()) == 1
    assert client.search_runs() == []


def test_unknown_run_id(client: TrackingClient) -> None:
    with pytest.raises(NotFoundError, match=r"no run with id '0{32}'.*mlpilot runs list"):
        client.delete_run("0" * 32)
    with pytest.raises(NotFoundError, match="no run with id 'abcdef'"):
        client.get_run("abcdef")


@pytest.mark.parametrize("run_id", ["", "abc", "12345"])
def test_too_short_run_id(client: TrackingClient, run_id: str) -> None:
    message = "is not a run id" if not run_id else "too short; give at least 6 characters"
    with pytest.raises(InvalidInputError, match=message):
        client.delete_run(run_id)


@pytest.mark.parametrize("run_id", ["../../etc", "abc def", "a" * 33, "abcdef%", None, 12])
def test_malformed_run_id(client: TrackingClient, run_id: object) -> None:
    with pytest.raises(InvalidInputError, match="is not a run id"):
        client.get_run(run_id)  # type: ignore[arg-type]


def test_ambiguous_run_id_prefix(client: TrackingClient) -> None:
    ids = []
    for suffix in ("1", "2"):
        with client.create_run() as run:
            pass
        new_id = "abcdef" + suffix * 26
        with client.store.metadata.write() as conn:
            conn.execute(update(runs).where(runs.c.id == run.id).values(id=new_id))
        ids.append(new_id)

    with pytest.raises(InvalidInputError, match="'abcdef' matches several runs; give more"):
        client.delete_run("abcdef")
    assert client.get_run("abcdef1").id == ids[0]
    assert len(client.search_runs()) == 2


def test_prefix_like_characters_are_not_wildcards(client: TrackingClient) -> None:
    with client.create_run() as run:
        pass

    with pytest.raises(InvalidInputError):
        client.get_run(run.id[:6] + "%")
    with pytest.raises(InvalidInputError):
        client.get_run(run.id[:6] + "_")


def test_a_run_deleted_while_running_ends_with_not_found_once(client: TrackingClient) -> None:
    from mlpilot.tracking import _run

    run = client.create_run("e")
    client.delete_run(run.id, force=True)
    with pytest.raises(NotFoundError):
        run.end()
    assert run.ended
    assert run.id not in _run._unfinished
    run.end()  # nothing left to do, and no error the second time
