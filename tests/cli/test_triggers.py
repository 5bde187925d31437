"""``mlpilot triggers``: create, list and delete the pipelines the controller starts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlpilot.store import Store
from mlpilot.tracking import TrackingClient

from .conftest import Invoke, assert_one_line_error, parse_json

FLOW = """
from mlpilot import pipeline, step


@step
def count(rows: int) -> int:
    return rows


@pipeline
def train(rows: int = 1):
    return count(rows)
"""


def test_create_list_and_delete(cli: Invoke, store: Store, tmp_path: Path) -> None:
    TrackingClient(store).datasets.register("churn", pd.DataFrame({"x": [1, 2]}))
    (tmp_path / "flows.py").write_text(FLOW)
    flows = f"{tmp_path / 'flows.py'}:train"

    created = parse_json(
        cli(
            "triggers",
            "create",
            "fresh",
            "--pipeline",
            flows,
            "--dataset",
            "churn",
            "-p",
            "rows=3",
            "--json",
        )
    )
    assert created["params"] == {"rows": 3} and created["last_key"] == "churn@v1"
    assert (
        cli("triggers", "create", "nightly", "--pipeline", flows, "--cron", "0 3 * * *").exit_code
        == 0
    )
    assert [t["name"] for t in parse_json(cli("triggers", "list", "--json"))] == [
        "fresh",
        "nightly",
    ]

    assert_one_line_error(
        cli("triggers", "create", "x", "--pipeline", flows, "--cron", "at dawn"),
        "not a cron expression",
    )
    assert_one_line_error(
        cli("triggers", "create", "fresh", "--pipeline", flows, "--cron", "0 3 * * *"), "exists"
    )
    assert cli("triggers", "delete", "nightly").exit_code == 0
    assert_one_line_error(cli("triggers", "delete", "nightly"), "no trigger named 'nightly'")
    assert [t["name"] for t in parse_json(cli("triggers", "list", "--json"))] == ["fresh"]
