"""What alerts do: call a webhook, roll the champion back, start a retraining pipeline
(never two at once for one model), and write events for all of it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.monitor import Monitors
from mlpilot.registry import ModelRegistry
from mlpilot.schedule._launch import settings_environment
from mlpilot.store import Store, now_ms
from mlpilot.tracking import TrackingClient

from .test_monitor import T0, log, reference, traffic

DRIFT = {"name": "drift", "when": "psi > 0.2", "features": ["a"], "cooldown_s": 0}


def watch(monitors: Monitors, *actions: Any, name: str = "watch", backfill: bool = False) -> None:
    monitors.create(
        name,
        model="churn",
        reference="ref@v1",
        target="y",
        window_rows=200,
        rules=[{**DRIFT, "actions": ["record", *actions]}],
        backfill=backfill,
    )


def event_kinds(store: Store) -> list[str]:
    return [event.kind for event in store.events.read()]


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody"


def test_a_webhook_receives_the_alert_and_a_dead_one_is_recorded_as_failed(
    store: Store, monitors: Monitors, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    watch(
        monitors,
        {"kind": "webhook", "url": url},
        {"kind": "webhook", "url": dead_url(), "timeout_s": 2},
    )
    log(store, traffic(200, shift=2.0), start_ms=now_ms(), step_ms=1)

    [window] = monitors.run_once("watch")

    [alert] = window.alerts
    [document] = received
    assert document["id"] == alert.id and document["rule"] == "drift"
    assert document["model"] == "churn" and document["message"] == alert.message
    record, live, dead = alert.actions
    assert record == {"kind": "record", "status": "ok", "detail": "alert recorded"}
    assert live["status"] == "ok" and "204" in live["detail"]
    assert dead["status"] == "failed" and "nobody" in dead["detail"]
    kinds = event_kinds(store)
    # one outcome for each of the three actions, record included
    assert kinds.count("alert.raised") == 1 and kinds.count("alert.action") == 3


def test_a_new_monitor_reads_the_traffic_after_it_and_a_backfilled_one_reads_it_all(
    store: Store, monitors: Monitors
) -> None:
    log(store, traffic(400), start_ms=T0, prefix="old")
    watch(monitors)
    watch(monitors, name="history", backfill=True)
    log(store, traffic(200), start_ms=now_ms(), step_ms=1, prefix="new")

    [new] = monitors.run_once("watch")
    assert new.start_ms > T0 and new.rows == 200
    assert [w.start_ms for w in monitors.run_once("history")][0] == T0
    assert len(monitors.windows("history")) == 3


def test_an_alert_on_traffic_older_than_its_monitor_is_recorded_but_does_not_act(
    store: Store, monitors: Monitors, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    log(store, traffic(200, shift=2.0), start_ms=T0)
    watch(monitors, {"kind": "webhook", "url": url}, backfill=True)

    [window] = monitors.run_once("watch")

    [alert] = window.alerts
    assert [a["status"] for a in alert.actions] == ["skipped", "skipped"]
    assert alert.actions[1]["detail"] == "the traffic began before the monitor was created"
    assert received == []


def test_a_guard_never_rolls_back_a_promotion_for_traffic_the_old_version_served(
    store: Store, client: TrackingClient, monitors: Monitors
) -> None:
    registry = ModelRegistry(client)
    register_versions(client, registry, 2)
    registry.set_alias("churn", "champion", 1)
    watch(monitors, "rollback")
    log(store, traffic(200, shift=2.0), start_ms=now_ms(), step_ms=1)  # served by version 1
    registry.set_alias("churn", "champion", 2, reason="promoted")

    [window] = monitors.run_once("watch")

    skipped = window.alerts[0].actions[1]
    assert skipped["status"] == "skipped"
    assert skipped["detail"] == "the traffic began before churn@champion moved to version 2"
    assert registry.get_model("churn").aliases["champion"] == 2


def register_versions(client: TrackingClient, registry: ModelRegistry, count: int) -> None:
    X, y = load_iris(return_X_y=True)
    for _ in range(count):
        with client.create_run("monitor", name="dummy") as run:
            client.log_model(run.id, DummyClassifier().fit(X, y))
        registry.register("churn", run.id)


def test_rollback_moves_the_champion_back(
    store: Store, client: TrackingClient, monitors: Monitors
) -> None:
    registry = ModelRegistry(client)
    register_versions(client, registry, 2)
    registry.set_alias("churn", "champion", 1, reason="first")
    registry.set_alias("churn", "champion", 2, reason="better")
    watch(monitors, "rollback")
    log(store, traffic(400, shift=2.0), start_ms=now_ms(), step_ms=1)

    first, second = monitors.run_once("watch")

    assert registry.get_model("churn").aliases["champion"] == 1
    back = registry.moves("churn", "champion")[-1]
    assert back.kind == "rollback" and back.reason.startswith(f"alert {first.alerts[0].id}: ")
    # what the monitor did on its own names the monitor, not the user who ran it
    assert back.actor == "monitor:watch"
    raised = [e for e in store.events.read("alert.") if e.object_id == str(first.alerts[0].id)]
    assert {e.actor for e in raised} == {"monitor:watch"}
    assert first.alerts[0].actions[1]["status"] == "ok"
    # the second window was served by version 2 too: one event, one alias move
    skipped = second.alerts[0].actions[1]
    assert skipped["status"] == "skipped"
    assert skipped["detail"] == "the traffic began before churn@champion moved to version 1"
    assert len(registry.moves("churn", "champion")) == 3
    assert registry.get_model("churn").aliases["champion"] == 1


PIPELINE = """
import time

from mlpilot import pipeline, step


@step
def wait(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pipeline
def retrain(seconds: float = 1.0):
    return wait(seconds)
"""


def test_a_retrain_is_started_once_and_its_outcome_recorded(
    store: Store, monitors: Monitors, tmp_path: Path
) -> None:
    """The retrain runs against the monitor's store, which it learns from its
    environment only: no setting (a store URI may hold a password) is on its command
    line, where ``ps`` shows it to every user of the machine."""
    flows = tmp_path / "flows.py"
    flows.write_text(PIPELINE)
    retrain = {"kind": "retrain", "pipeline": f"{flows}:retrain", "params": {"seconds": 2}}
    watch(monitors, retrain)
    log(store, traffic(400, shift=2.0), start_ms=now_ms(), step_ms=1)

    first, second = monitors.run_once("watch")

    started = first.alerts[0].actions[1]
    assert started["status"] == "running" and started["pid"] > 0
    command = " ".join(psutil.Process(started["pid"]).cmdline())
    for setting in (store.settings.store_uri, store.settings.artifacts_uri, "--store-uri"):
        assert setting not in command
    assert "pipelines run" in command
    skipped = second.alerts[0].actions[1]
    assert skipped["status"] == "skipped" and "still running" in skipped["detail"]
    [record] = store.monitors.running_retrains("churn")
    assert (record.alert_id, record.pid) == (first.alerts[0].id, started["pid"])

    deadline = time.monotonic() + 300
    while True:
        monitors.run_once("watch")
        [alert, _] = monitors.alerts("watch")
        if alert.actions[1]["status"] != "running":
            break
        assert time.monotonic() < deadline, Path(started["log"]).read_text()
        time.sleep(0.5)
    outcome = alert.actions[1]
    assert outcome["status"] == "ok", outcome
    assert outcome["detail"] == "the pipeline promoted nothing; version None stays champion"
    row = store.monitors.retrain(record.id)
    assert row.status == "finished" and row.ended_ms is not None
    assert store.monitors.running_retrains("churn") == []
    # the pipeline ran against this store, not the default one under MLPILOT_HOME
    [run] = TrackingClient(store).search_runs(filter=f"tags.`mlpilot.retrain` = '{record.id}'")
    assert store.pipelines.get(run.id).status == "finished"
    assert run.user == "monitor:watch"


def test_a_killed_retrain_is_recorded_as_failed_from_its_pipeline_runs_record(
    store: Store, monitors: Monitors, tmp_path: Path
) -> None:
    """Its outcome comes from the pipeline run, not from what its log happens to hold:
    a killed driver leaves no exit code to a process that did not start it, and no
    report in the log."""
    flows = tmp_path / "flows.py"
    flows.write_text(PIPELINE)
    retrain = {"kind": "retrain", "pipeline": f"{flows}:retrain", "params": {"seconds": 120}}
    watch(monitors, retrain)
    log(store, traffic(200, shift=2.0), start_ms=now_ms(), step_ms=1)
    [window] = monitors.run_once("watch")
    started = window.alerts[0].actions[1]
    client = TrackingClient(store)
    tagged = f"tags.`mlpilot.retrain` = '{started['retrain_id']}'"
    deadline = time.monotonic() + 120
    while not client.search_runs(filter=tagged):
        assert time.monotonic() < deadline, Path(started["log"]).read_text()
        time.sleep(0.2)

    os.killpg(started["pid"], signal.SIGKILL)  # the driver and its workers
    driver = psutil.Process(started["pid"])
    while driver.status() != psutil.STATUS_ZOMBIE:  # dead; this process reaps it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Settled by another process, as `monitor run-once` from cron would.
    subprocess.run(
        [sys.executable, "-m", "mlpilot", "monitor", "run-once", "watch"],
        env=settings_environment(store.settings),
        check=True,
        capture_output=True,
    )

    [alert] = monitors.alerts("watch")
    outcome = alert.actions[1]
    [run] = client.search_runs(filter=tagged)
    # the process that settles it finds the driver dead and the run failed (or, if it
    # is the first to look, ends it as killed)
    assert run.status in ("failed", "killed")
    assert outcome["status"] == "failed", outcome
    assert outcome["detail"].startswith(f"the retraining pipeline run {run.id} ")
    assert "promoted nothing" not in outcome["detail"]
    assert store.monitors.retrain(started["retrain_id"]).status == "failed"


def test_a_monitor_is_updated_paused_resumed_and_deleted(
    store: Store, client: TrackingClient, monitors: Monitors
) -> None:
    watch(monitors)
    before = monitors.get("watch")

    changed = monitors.update("watch", window_rows=100, rules=["psi > 0.5"], correction="none")

    assert changed.window == {"rows": 100} and changed.correction == "none"
    assert [rule["when"] for rule in changed.rules] == ["psi > 0.5"]
    assert monitors.get("watch") == changed and changed.created_ms == before.created_ms
    [event] = [e for e in store.events.read() if e.kind == "monitor.updated"]
    assert event.payload["window"] == [{"rows": 200}, {"rows": 100}]
    for bad, error, message in (
        ({"model": "other"}, InvalidInputError, "model cannot be changed"),
        ({"reference": "ref@v9"}, NotFoundError, "ref"),
        ({"window_rows": 0}, InvalidInputError, "window rows"),
    ):
        with pytest.raises(error, match=message):
            monitors.update("watch", **bad)
        assert monitors.get("watch") == changed  # nothing half-written

    monitors.pause("watch")
    log(store, traffic(300), start_ms=now_ms(), step_ms=1)
    assert monitors.run_once("watch") == []
    monitors.resume("watch")
    assert [w.rows for w in monitors.run_once("watch")] == [100, 100, 100]

    monitors.delete("watch")
    with pytest.raises(NotFoundError, match="no monitor named 'watch'"):
        monitors.get("watch")
    assert [e.kind for e in store.events.read()][-1] == "monitor.deleted"


def test_the_reference_follows_the_champion_to_the_data_it_was_trained_on(
    store: Store, client: TrackingClient, monitors: Monitors
) -> None:
    """After a retrain on shifted data is promoted, the shift is the new normal: the
    monitor compares with the new champion's data and stops alerting on it."""
    registry = ModelRegistry(client)
    register_versions(client, registry, 1)
    registry.set_alias("churn", "champion", 1)
    shifted = reference(seed=3)
    shifted["a"] += 2.0
    client.datasets.register("ref", shifted)
    X, y = load_iris(return_X_y=True)
    with client.create_run("monitor", name="retrained") as run:
        client.log_model(run.id, DummyClassifier().fit(X, y))
    registry.register("churn", run.id, dataset="ref@v2")
    watch(monitors)
    watch(monitors, name="fixed")
    monitors.update("fixed", follow=None)
    registry.set_alias("churn", "champion", 2, reason="retrained on the new scanner's data")
    log(store, traffic(200, shift=2.0), start_ms=now_ms(), step_ms=1)

    [window] = monitors.run_once("watch")
    [still] = monitors.run_once("fixed")

    assert monitors.get("watch").reference == "ref@v2" and window.alerts == []
    assert monitors.get("fixed").reference == "ref@v1" and still.alerts
    [moved] = [
        e for e in store.events.read() if e.kind == "monitor.updated" and e.object_id == "watch"
    ]
    assert moved.payload["reference"] == ["ref@v1", "ref@v2"]
    assert moved.payload["reason"] == "churn@champion is version 2, trained on ref@v2"
