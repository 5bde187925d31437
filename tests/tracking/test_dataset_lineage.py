"""Lineage: runs record the dataset versions they write and read, and what they trained."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.tracking import TrackingClient

RAW = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})


def test_a_version_knows_the_run_that_made_it_and_the_runs_and_models_that_used_it(
    client: TrackingClient,
) -> None:
    with mlpilot.start_run("prepare", client=client):
        made = mlpilot.register_dataset("train", RAW, tags=["prod"])
    with mlpilot.start_run("fit", client=client) as fit:
        frame = mlpilot.read_dataset("train@prod").to_pandas()
        fit.log_model(LogisticRegression().fit(frame[["x"]], frame.y), name="classifier")

    lineage = mlpilot.dataset_lineage("train@v1", client=client)

    assert lineage.version.id == made.id
    assert [(link.run_name, link.role, link.status) for link in lineage.produced_by] == [
        ("prepare", "output", "finished")
    ]
    assert [(link.run_name, link.role) for link in lineage.used_by] == [("fit", "input")]
    assert lineage.models == [(fit.id, "classifier")]


def test_a_derived_version_links_back_through_its_parent(client: TrackingClient) -> None:
    raw = client.datasets.register("raw", RAW)
    with client.create_run(name="clean") as run:
        run.read_dataset(raw, step="load")
        clean = run.register_dataset("clean", RAW.dropna(), parent=raw, step="dedupe")

    raw_lineage = client.dataset_lineage("raw")
    clean_lineage = client.dataset_lineage(clean)

    assert [c.ref for c in raw_lineage.children] == ["clean@v1"]
    assert [(link.run_name, link.step) for link in raw_lineage.used_by] == [("clean", "load")]
    assert clean_lineage.parent is not None and clean_lineage.parent.ref == "raw@v1"
    assert [(link.run_name, link.step) for link in clean_lineage.produced_by] == [
        ("clean", "dedupe")
    ]


def test_reading_the_same_version_twice_records_it_once(client: TrackingClient) -> None:
    client.datasets.register("raw", RAW)
    with client.create_run(name="twice") as run:
        run.read_dataset("raw").to_table()
        run.read_dataset("raw@v1").to_table()
    assert len(client.dataset_lineage("raw").used_by) == 1


def test_a_deleted_run_leaves_the_lineage(client: TrackingClient) -> None:
    client.datasets.register("raw", RAW)
    with client.create_run(name="gone") as run:
        run.read_dataset("raw")
    client.delete_run(run.id)
    assert client.dataset_lineage("raw").used_by == []


def test_outside_a_run_nothing_is_recorded(client: TrackingClient) -> None:
    version = mlpilot.register_dataset("raw", RAW, client=client)
    assert mlpilot.read_dataset("raw", client=client).to_pandas().equals(RAW)
    assert mlpilot.get_dataset("raw@latest", client=client).id == version.id
    lineage = client.dataset_lineage(version)
    assert lineage.produced_by == [] and lineage.used_by == []


def test_a_validation_gate_stops_before_training(client: TrackingClient) -> None:
    client.datasets.register("raw", RAW)
    schema = mlpilot.DataSchema([mlpilot.ColumnRule("y", allowed=[0, 1], nullable=False)])
    bad = RAW.assign(y=[0, 1, 2, None])

    with pytest.raises(mlpilot.DataValidationError, match="y: allowed") as error:
        with client.create_run(name="gated") as run:
            mlpilot.validate_dataset(bad, schema, client=client).raise_for_failures()
            raise AssertionError("training ran on invalid data")

    assert {f.rule for f in error.value.report.failures} == {"allowed", "nullable"}
    assert client.get_run(run.id).status == "failed"
    assert isinstance(error.value, InvalidInputError)


def test_recording_use_by_an_unknown_run_is_refused(client: TrackingClient) -> None:
    client.datasets.register("raw", RAW)
    unknown = "0" * 32
    with pytest.raises(NotFoundError, match=f"no run with id '{unknown}'"):
        client.datasets.record_use("raw", unknown)
    with (
        client.create_run("lineage") as run,
        pytest.raises(InvalidInputError, match="role must be one of"),
    ):
        client.datasets.record_use("raw", run.id, role="reader")


def test_passing_the_runs_own_client_still_records_lineage(client: TrackingClient) -> None:
    with mlpilot.start_run("prep", client=client):
        mlpilot.register_dataset("raw", RAW, client=client, step="load")
    with mlpilot.start_run("fit", client=client):
        mlpilot.read_dataset("raw", client=client).to_table()
    lineage = client.dataset_lineage("raw")
    assert [(link.run_name, link.step) for link in lineage.produced_by] == [("prep", "load")]
    assert [link.run_name for link in lineage.used_by] == ["fit"]
