"""``mlpilot monitor``, ``mlpilot alerts`` and ``mlpilot events`` over a real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.registry import ModelRegistry
from mlpilot.store import Store
from mlpilot.tracking import TrackingClient
from monitor.test_monitor import PER_REQUEST, log, reference, traffic

from .conftest import Invoke, assert_one_line_error, parse_json


@pytest.fixture
def watched(cli: Invoke, store: Store) -> Invoke:
    """A monitor ``watch`` of model ``churn`` whose drift rule fires on shifted traffic."""
    client = TrackingClient(store)
    client.datasets.register("ref", reference())
    ModelRegistry(client).create_model("churn")
    result = cli(
        "monitor",
        "create",
        "watch",
        "--model",
        "churn",
        "--reference",
        "ref@v1",
        "--target",
        "y",
        "--window-rows",
        "200",
        "--rule",
        "psi > 0.2",
        "--backfill",  # the tests log traffic of the past
    )
    assert result.exit_code == 0, result.output
    return cli


def test_create_list_and_show(watched: Invoke) -> None:
    [monitor] = parse_json(watched("monitor", "list", "--json"))
    assert monitor["name"] == "watch" and monitor["features"] == ["a", "b"]
    assert monitor["rules"][0]["when"] == "psi > 0.2"
    table = watched("monitor", "list")
    assert "watch" in table.stdout and "ref@v1" in table.stdout
    shown = watched("monitor", "show", "watch")
    assert shown.exit_code == 0 and "No windows yet" in shown.stdout


def test_run_once_prints_windows_and_alerts(watched: Invoke, store: Store, tmp_path: Path) -> None:
    log(store, traffic(200))
    log(store, traffic(200, shift=2.0, seed=5), start_ms=2_000_000_000_000, prefix="s")

    result = watched("monitor", "run-once", "watch")

    assert result.exit_code == 0, result.output
    assert "alerts raised" in result.stdout and "psi" in result.stdout
    again = watched("monitor", "run-once", "watch", "--json")
    assert parse_json(again) == []
    shown = parse_json(
        watched("monitor", "show", "watch", "--json", "--report", str(tmp_path / "r"))
    )
    assert [w["index"] for w in shown["windows"]] == [0, 1]
    assert "a" in shown["windows"][1]["drifted_columns"]
    [alert] = shown["open_alerts"]
    assert (tmp_path / "r" / "report.html").is_file()
    table = watched("monitor", "show", "watch")
    assert "open alerts" in table.stdout

    listed = parse_json(watched("alerts", "list", "--open", "--json"))
    assert [a["id"] for a in listed] == [alert["id"]]
    acked = watched("alerts", "ack", str(alert["id"]), "--note", "looking")
    assert acked.exit_code == 0, acked.output
    assert parse_json(watched("alerts", "list", "--open", "--json")) == []
    [done] = parse_json(watched("alerts", "list", "--monitor", "watch", "--json"))
    assert done["state"] == "acknowledged" and done["note"] == "looking"

    kinds = [e["kind"] for e in parse_json(watched("events", "--kind", "alert", "--json"))]
    # the record action's outcome is an action like the others
    assert kinds == ["alert.raised", "alert.action", "alert.acknowledged"]
    printed = watched("events", "--limit", "3")
    assert printed.exit_code == 0 and "alert.acknowledged" in printed.stdout


def test_labels_from_a_file(watched: Invoke, store: Store, tmp_path: Path) -> None:
    ids = log(store, traffic(200))
    labels = pd.DataFrame(
        {
            "request_id": np.repeat(ids, PER_REQUEST),
            "row": np.tile(np.arange(PER_REQUEST), len(ids)),
            "label": 1,
        }
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    labels.to_parquet(tmp_path / "labels.parquet")

    assert watched("monitor", "labels", "watch", str(tmp_path / "labels.csv")).exit_code == 0
    assert watched("monitor", "labels", "churn", str(tmp_path / "labels.parquet")).exit_code == 0
    [window] = parse_json(watched("monitor", "run-once", "watch", "--json"))
    assert window["performance"]["labels"] == 200

    labels.drop(columns="label").to_csv(tmp_path / "bad.csv", index=False)
    assert_one_line_error(watched("monitor", "labels", "watch", str(tmp_path / "bad.csv")), "label")


def test_bad_input_is_one_error_line(watched: Invoke, tmp_path: Path) -> None:
    assert_one_line_error(
        watched(
            "monitor",
            "create",
            "m2",
            "--model",
            "churn",
            "--reference",
            "ref@v1",
            "--rule",
            "psi >> 1",
        ),
        "METRIC OP NUMBER",
    )
    assert_one_line_error(
        watched("monitor", "create", "m2", "--model", "nobody", "--reference", "ref@v1"),
        "no model named 'nobody'",
    )
    assert_one_line_error(watched("monitor", "create", "m2", "--model", "churn"), "--reference")
    assert_one_line_error(watched("monitor", "show", "nothing"), "no monitor named 'nothing'")
    assert_one_line_error(watched("monitor", "run-once", "nothing"), "no monitor")
    assert_one_line_error(watched("alerts", "ack", "99"), "no alert 99")
    assert_one_line_error(
        watched("monitor", "labels", "watch", str(tmp_path / "none.csv")), "no file"
    )


def test_create_from_a_config_file(watched: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        """
model = "churn"
reference = "ref@v1"
target = "y"
window_seconds = 3600
features = ["a"]

[[rules]]
name = "slow"
when = "latency_p99_ms > 50"
actions = ["record", { kind = "webhook", url = "http://127.0.0.1:9/hook" }]
"""
    )
    created = parse_json(watched("monitor", "create", "timed", "--config", str(config), "--json"))
    assert created["window"] == {"seconds": 3600} and created["features"] == ["a"]
    assert created["rules"][0]["actions"][1]["url"] == "http://127.0.0.1:9/hook"
    config.write_text('model = "churn"\nspeed = 3\n')
    assert_one_line_error(
        watched("monitor", "create", "other", "--config", str(config)), "unknown setting speed"
    )


def test_update_pause_resume_and_delete(watched: Invoke, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        """
window_rows = 100

[[rules]]
when = "psi > 0.5"
actions = ["record", { kind = "webhook", url = "http://127.0.0.1:9/hook" }]
"""
    )
    updated = parse_json(
        watched("monitor", "update", "watch", "--config", str(rules), "--follow", "none", "--json")
    )
    assert updated["window"] == {"rows": 100} and updated["follow"] is None
    assert updated["rules"][0]["actions"][1]["kind"] == "webhook"
    assert_one_line_error(watched("monitor", "update", "watch"), "say what to change")
    rollback = '{"when": "psi > 0.3", "windows": 2, "actions": ["record", "rollback"]}'
    [rule] = parse_json(watched("monitor", "update", "watch", "--rule", rollback, "--json"))[
        "rules"
    ]
    assert rule["windows"] == 2 and rule["actions"] == ["record", "rollback"]
    assert_one_line_error(
        watched("monitor", "update", "watch", "--rule", '{"when": '), "not a JSON table"
    )
    rules.write_text('model = "other"\n')
    assert_one_line_error(
        watched("monitor", "update", "watch", "--config", str(rules)), "unknown setting model"
    )

    assert watched("monitor", "pause", "watch").exit_code == 0
    [shown] = parse_json(watched("monitor", "list", "--json"))
    assert shown["paused"] is True
    assert watched("monitor", "resume", "watch").exit_code == 0
    assert watched("monitor", "delete", "watch", "--yes").exit_code == 0
    assert parse_json(watched("monitor", "list", "--json")) == []
    assert_one_line_error(watched("monitor", "delete", "watch", "--yes"), "no monitor named")
