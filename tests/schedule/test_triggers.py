"""Triggers start a pipeline once per new dataset version or schedule slot, from the
present on, whichever controller fires them."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.schedule._triggers import Triggers
from mlpilot.tracking import TrackingClient

pytestmark = pytest.mark.integration

FLOW = """
from mlpilot import pipeline, step


@step(cache=False)
def count(rows: int) -> int:
    return rows


@pipeline
def train(rows: int = 1):
    return count(rows)
"""


@pytest.fixture
def flows(tmp_path: Path) -> str:
    path = tmp_path / "flows.py"
    path.write_text(FLOW)
    return f"{path}:train"


def data(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(rows)})


def finished_runs(client: TrackingClient, name: str, count: int) -> list[str]:
    """The keys of the runs ``name`` started, once ``count`` of them have ended."""
    deadline = time.monotonic() + 120
    while True:
        runs = client.search_runs(filter=f"tags.`mlpilot.trigger` = '{name}'")
        if len(runs) >= count and all(run.status != "running" for run in runs):
            assert all(run.status == "finished" for run in runs), runs
            assert all(run.user == f"trigger:{name}" for run in runs)
            return sorted(run.tags["mlpilot.trigger_key"] for run in runs)
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_dataset_trigger_starts_its_pipeline_once_per_new_version(
    client: TrackingClient, flows: str
) -> None:
    client.datasets.register("churn", data(3))
    triggers = Triggers(client)
    created = triggers.create("fresh", pipeline=flows, params={"rows": 2}, dataset="churn")
    assert created.last_key == "churn@v1"  # the version there does not fire it
    assert triggers.fire_due() == []

    client.datasets.register("churn", data(5))
    [firing] = triggers.fire_due()
    other_controller = Triggers(TrackingClient(client.store))

    assert firing.key == "churn@v2"
    assert other_controller.fire_due() == [] and triggers.fire_due() == []
    assert finished_runs(client, "fresh", 1) == ["churn@v2"]
    assert triggers.get("fresh").last_key == "churn@v2"


def test_a_cron_trigger_fires_once_for_each_slot_that_passes(
    client: TrackingClient, flows: str
) -> None:
    triggers = Triggers(client)
    created = triggers.create("hourly", pipeline=flows, cron="0 * * * *")
    hour = 3_600_000

    assert triggers.fire_due() == []  # the slot before its creation does not count
    [firing] = triggers.fire_due(at_ms=created.created_ms + hour)
    assert triggers.fire_due(at_ms=created.created_ms + hour) == []

    assert firing.key > (created.last_key or "")
    assert finished_runs(client, "hourly", 1) == [firing.key]


def test_bad_triggers_are_refused_by_name(client: TrackingClient, flows: str) -> None:
    client.datasets.register("churn", data(3))
    triggers = Triggers(client)
    for settings, error, message in (
        ({"cron": "every day"}, InvalidInputError, "not a cron expression"),
        ({"cron": "0 3 * * *", "dataset": "churn"}, InvalidInputError, "schedule"),
        ({}, InvalidInputError, "schedule"),
        ({"cron": "0 3 * * *", "tag": "prod"}, InvalidInputError, "give --dataset"),
        ({"dataset": "chrun"}, NotFoundError, "no dataset named 'chrun'"),
        ({"dataset": "churn", "params": {"rwos": 1}}, InvalidInputError, "no parameter 'rwos'"),
        ({"dataset": "churn", "pipeline": "flows.py:trian"}, NotFoundError, "flows.py"),
    ):
        with pytest.raises(error, match=message):
            triggers.create("bad", **{"pipeline": flows, **settings})
    assert triggers.list_triggers() == []
