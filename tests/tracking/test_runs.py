"""Run lifecycle: how runs start and end, nesting, and the module-level helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mlpilot
from mlpilot.config import load_settings
from mlpilot.errors import InvalidInputError, NoActiveRunError, NotFoundError
from mlpilot.store import Store, now_ms
from mlpilot.tracking import DEFAULT_EXPERIMENT, Run, TrackingClient


def test_run_finishes_when_the_block_ends(client: TrackingClient) -> None:
    before = now_ms()
    with client.create_run("lifecycle", "ok", params={"lr": 0.1}, tags={"team": "a"}) as run:
        assert client.get_run(run.id).status == "running"

    record = client.get_run(run.id)
    assert (record.status, record.name, record.experiment) == ("finished", "ok", "lifecycle")
    assert record.params == {"lr": "0.1"}
    assert record.tags == {"team": "a"}
    assert record.user == "tester"
    assert record.end_ms is not None
    assert before <= record.start_ms <= record.end_ms <= now_ms()


def test_run_fails_when_an_exception_escapes(client: TrackingClient) -> None:
    with pytest.raises(ValueError, match="diverged"), client.create_run() as run:
        raise ValueError("diverged")

    record = client.get_run(run.id)
    assert record.status == "failed"
    assert record.end_ms is not None


def test_run_is_killed_on_keyboard_interrupt(client: TrackingClient) -> None:
    with pytest.raises(KeyboardInterrupt), client.create_run() as run:
        raise KeyboardInterrupt

    assert client.get_run(run.id).status == "killed"


@pytest.mark.parametrize(
    ("raised", "status"),
    [(None, "finished"), (RuntimeError, "failed"), (KeyboardInterrupt, "killed")],
)
def test_start_run_ends_with_the_status_of_its_block(
    client: TrackingClient, raised: type[BaseException] | None, status: str
) -> None:
    started: list[Run] = []

    def train() -> None:
        with mlpilot.start_run("fluent", experiment="lifecycle", client=client) as run:
            started.append(run)
            assert mlpilot.active_run() is run
            if raised is not None:
                raise raised

    if raised is None:
        train()
    else:
        with pytest.raises(raised):
            train()
    assert client.get_run(started[0].id).status == status
    assert mlpilot.active_run() is None


def test_ending_twice_is_harmless_and_bad_status_is_refused(client: TrackingClient) -> None:
    run = client.create_run()
    with pytest.raises(InvalidInputError, match="running"):
        run.end("running")

    run.end("failed")
    run.end("finished")

    assert client.get_run(run.id).status == "failed"


def test_default_name_and_experiment(client: TrackingClient) -> None:
    with client.create_run() as run:
        pass

    record = client.get_run(run.id)
    assert record.experiment == DEFAULT_EXPERIMENT
    assert record.name == f"run-{run.id[:8]}"
    assert len(run.id) == 32


@pytest.mark.parametrize("name", ["", " padded ", "line\nbreak", "x" * 251, 7])
def test_bad_run_names_are_refused(client: TrackingClient, name: Any) -> None:
    with pytest.raises(InvalidInputError, match="run name"):
        client.create_run(name=name)
    assert client.search_runs() == []


def test_nested_runs_know_their_parent(client: TrackingClient) -> None:
    with mlpilot.start_run("outer", experiment="nest", client=client) as outer:
        with mlpilot.start_run("inner") as inner:
            assert mlpilot.active_run() is inner
            mlpilot.log_metric("loss", 0.5)
            mlpilot.log_param("depth", 2)
            mlpilot.set_tag("level", "inner")
        assert mlpilot.active_run() is outer
        mlpilot.log_metric("loss", 0.9)
        mlpilot.log_params({"width": 8})
        mlpilot.set_tags({"level": "outer"})

    inner_record, outer_record = client.get_run(inner.id), client.get_run(outer.id)
    assert inner_record.parent_id == outer.id
    assert outer_record.parent_id is None
    assert inner_record.experiment == "nest"
    assert (inner_record.metrics, outer_record.metrics) == ({"loss": 0.5}, {"loss": 0.9})
    assert (inner_record.params, outer_record.params) == ({"depth": "2"}, {"width": "8"})
    assert (inner_record.tags, outer_record.tags) == ({"level": "inner"}, {"level": "outer"})
    assert (inner_record.status, outer_record.status) == ("finished", "finished")


def test_explicit_parent_by_id_prefix(client: TrackingClient) -> None:
    with client.create_run("nest") as parent:
        with mlpilot.start_run(parent=parent.id[:8], client=client) as child:
            pass

    assert client.get_run(child.id).parent_id == parent.id


def test_unknown_parent_is_refused(client: TrackingClient) -> None:
    with pytest.raises(NotFoundError, match="no run"):
        client.create_run(parent_id="f" * 32)


def test_module_level_end_run_ends_the_innermost_run(client: TrackingClient) -> None:
    with mlpilot.start_run("outer", client=client) as outer:
        inner = mlpilot.start_run("inner")
        mlpilot.end_run("killed")
        assert mlpilot.active_run() is outer

    assert client.get_run(inner.id).status == "killed"
    assert client.get_run(outer.id).status == "finished"


HELPERS: dict[str, Callable[[], Any]] = {
    "log_metric": lambda: mlpilot.log_metric("loss", 1.0),
    "log_metrics": lambda: mlpilot.log_metrics({"loss": 1.0}),
    "log_param": lambda: mlpilot.log_param("lr", 1),
    "log_params": lambda: mlpilot.log_params({"lr": 1}),
    "set_tag": lambda: mlpilot.set_tag("team", "a"),
    "set_tags": lambda: mlpilot.set_tags({"team": "a"}),
    "log_artifact": lambda: mlpilot.log_artifact("model.bin"),
    "log_model": lambda: mlpilot.log_model(object()),
    "end_run": lambda: mlpilot.end_run(),
}


@pytest.mark.parametrize("helper", HELPERS)
def test_helpers_need_an_active_run(helper: str) -> None:
    assert mlpilot.active_run() is None
    with pytest.raises(NoActiveRunError, match="start_run"):
        HELPERS[helper]()


def test_another_thread_has_no_active_run(client: TrackingClient) -> None:
    seen: dict[str, Any] = {}

    def work() -> None:
        seen["active"] = mlpilot.active_run()
        try:
            mlpilot.log_metric("loss", 1.0)
        except NoActiveRunError as exc:
            seen["error"] = exc

    with mlpilot.start_run(client=client) as run:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        assert mlpilot.active_run() is run

    assert seen["active"] is None
    assert isinstance(seen["error"], NoActiveRunError)
    assert client.get_run(run.id).metrics == {}


def test_threads_log_into_their_own_runs(client: TrackingClient) -> None:
    ids: dict[int, str] = {}

    def work(index: int) -> None:
        with mlpilot.start_run(f"thread-{index}", client=client) as run:
            ids[index] = run.id
            for step in range(50):
                mlpilot.log_metric("value", float(index), step=step)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for index, run_id in ids.items():
        record = client.get_run(run_id)
        assert record.parent_id is None
        history = client.get_metric_history(run_id, "value")
        assert [p.value for p in history] == [float(index)] * 50


def test_start_run_without_a_client_uses_the_settings(tmp_path: Path) -> None:
    with mlpilot.start_run("defaults", experiment="env") as run:
        mlpilot.log_metric("acc", 0.5)

    store = Store(load_settings())
    try:
        assert store.settings.store_uri.endswith(str(tmp_path / ".mlpilot" / "mlpilot.db"))
        record = TrackingClient(store).get_run(run.id)
        assert (record.experiment, record.status, record.metrics) == (
            "env",
            "finished",
            {"acc": 0.5},
        )
    finally:
        store.close()


def test_experiments_are_created_once(client: TrackingClient) -> None:
    first = client.create_experiment("churn", description="monthly churn")
    with client.create_run("churn"):
        pass

    assert client.get_or_create_experiment("churn") == first
    [experiment] = [e for e in client.list_experiments() if e.name == "churn"]
    assert (experiment.id, experiment.description, experiment.run_count) == (
        first,
        "monthly churn",
        1,
    )
    assert client.get_experiment("churn") == experiment
    assert client.get_experiment(first) == experiment
    with pytest.raises(NotFoundError, match="no experiment 'absent'"):
        client.get_experiment("absent")


def test_concurrent_first_runs_share_one_new_experiment(client: TrackingClient) -> None:
    names = [f"sweep-{i}" for i in range(10)]
    barrier = threading.Barrier(6)
    found: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        for name in names:
            barrier.wait()
            try:
                found.append((name, client.get_or_create_experiment(name)))
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(barrier.parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    ids = {e.name: e.id for e in client.list_experiments()}
    assert sorted(found) == sorted((name, ids[name]) for name in names for _ in threads)


def test_a_client_opens_a_store_from_its_uri(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'by-uri' / 'mlpilot.db'}"
    client = TrackingClient(uri)
    try:
        assert client.settings.store_uri == uri
        with client.create_run("by-uri", "first") as run:
            run.log_metric("loss", 0.5)
        assert TrackingClient(store_uri=uri).get_run(run.id).metrics == {"loss": 0.5}
    finally:
        client.store.close()


@pytest.mark.parametrize("store", [42, Path("mlpilot.db"), {"store_uri": "sqlite:///x.db"}])
def test_a_client_refuses_what_is_not_a_store(store: Any) -> None:
    with pytest.raises(InvalidInputError, match="takes a Store or a store URI string"):
        TrackingClient(store)


def test_a_client_takes_the_store_uri_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="once"):
        TrackingClient("sqlite:///a.db", store_uri="sqlite:///b.db")
