"""Dataset versions: registration, deduplication, references, tags and events."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.store import DatasetStore, collect_garbage
from mlpilot.testing._monitors import monitor
from mlpilot.testing._registry import GATE, SCORING, add_version


def frame(seed: int = 0, rows: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "plan": rng.choice(["basic", "pro"], rows),
            "spend": rng.normal(50, 10, rows),
        }
    )


def blobs(datasets: DatasetStore) -> set[str]:
    return {blob.digest for blob in datasets.store.artifacts.blobs()}


def test_a_version_records_what_the_data_is(datasets: DatasetStore) -> None:
    version = datasets.register("churn", frame(), description="monthly customers")

    assert version.ref == "churn@v1"
    assert version.num_rows == 500
    assert [(c["name"], c["type"]) for c in version.columns] == [
        ("age", "int64"),
        ("plan", "string"),
        ("spend", "double"),
    ]
    assert version.profile["age"].min >= 18 and version.profile["age"].max < 90
    assert version.profile["plan"].distinct == 2
    assert version.source == "pandas.DataFrame"
    assert version.created_by == "tester"
    assert len(version.digest) == 64
    assert version.num_bytes == datasets.store.artifacts.get_bytes(version.blob_digest).__len__()
    assert datasets.list_datasets()[0].description == "monthly customers"


def test_the_same_content_is_the_same_version_and_stored_once(datasets: DatasetStore) -> None:
    first = datasets.register("churn", frame())
    stored = blobs(datasets)

    again = datasets.register("churn", pa.Table.from_pandas(frame(), preserve_index=False))

    assert again.id == first.id
    assert blobs(datasets) == stored
    assert [v.version for v in datasets.versions("churn")] == [1]


@pytest.mark.parametrize("name", ["", "../up", "a b", "x@y", "-dash", "k" * 251, 7])
def test_bad_names_are_refused_and_nothing_is_stored(datasets: DatasetStore, name: object) -> None:
    with pytest.raises(InvalidInputError, match="dataset name"):
        datasets.register(name, frame())  # type: ignore[arg-type]
    assert datasets.list_datasets() == []
    assert blobs(datasets) == set()


def test_a_parent_is_recorded(datasets: DatasetStore) -> None:
    raw = datasets.register("raw", frame())
    clean = datasets.register("clean", frame().dropna(), parent="raw@v1")
    assert clean.parent_id == raw.id
    assert [c.ref for c in datasets.lineage("raw").children] == ["clean@v1"]


def test_registering_writes_events(datasets: DatasetStore) -> None:
    version = datasets.register("churn", frame(), tags=["prod"])
    rows = [(e.kind, e.object_id, e.actor) for e in datasets.store.events.read()]
    assert ("dataset.version_registered", version.id, "tester") in rows
    assert ("dataset.tagged", version.id, "tester") in rows


def test_list_shows_each_dataset_with_its_newest_version(datasets: DatasetStore) -> None:
    datasets.register("sales", frame(5))
    datasets.register("churn", frame(0))
    datasets.register("churn", frame(1), tags=["prod"])

    summaries = datasets.list_datasets()

    assert [(s.name, s.versions, s.latest.version, s.latest.tags) for s in summaries] == [
        ("churn", 2, 2, ["prod"]),
        ("sales", 1, 1, []),
    ]


def test_garbage_collection_keeps_dataset_files(datasets: DatasetStore) -> None:
    version = datasets.register("churn", frame())
    collect_garbage(datasets.store, grace_s=0)
    assert datasets.read(version).to_table().num_rows == 500


def test_a_registration_whose_run_is_unknown_stores_no_version(datasets: DatasetStore) -> None:
    with pytest.raises(NotFoundError, match=f"no run with id '{'f' * 32}'"):
        datasets.register("churn", frame(), run_id="f" * 32)
    assert datasets.list_datasets() == []
    assert blobs(datasets) == set()  # refused before anything was written


def test_tags_given_as_text_are_refused(datasets: DatasetStore) -> None:
    with pytest.raises(InvalidInputError, match="tags is a list of tags"):
        datasets.register("churn", frame(), tags="prod")  # type: ignore[arg-type]


def test_files_register_like_frames(datasets: DatasetStore, tmp_path: Path) -> None:
    frame().to_parquet(tmp_path / "churn.parquet")
    from_file = datasets.register("churn", tmp_path / "churn.parquet")
    from_frame = datasets.register("churn", frame())
    assert from_file.id == from_frame.id
    assert from_file.source == f"parquet: {tmp_path / 'churn.parquet'}"


def test_lineage_names_the_model_versions_and_monitors_of_the_version(
    datasets: DatasetStore,
) -> None:
    store = datasets.store
    first = datasets.register("churn", frame(0))
    second = datasets.register("churn", frame(1))
    run = store.tracking.create_run("train")
    store.registry.create_model("churn-model", scoring=SCORING, gate=GATE)
    add_version(store.registry, run.id, "churn-model", dataset=first.ref)
    add_version(store.registry, run.id, "churn-model", dataset=second.ref)
    add_version(store.registry, run.id, "churn-model", dataset=first.ref)
    store.monitors.create(dataclasses.replace(monitor("watch-a"), reference=first.ref))
    store.monitors.create(dataclasses.replace(monitor("watch-b"), reference=second.ref))

    found = datasets.lineage(first)

    assert [(m.model, m.version, m.run_id) for m in found.model_versions] == [
        ("churn-model", 1, run.id),
        ("churn-model", 3, run.id),
    ]
    assert [(m.name, m.model) for m in found.monitors] == [("watch-a", "churn")]
    document = found.to_dict()
    assert [m["version"] for m in document["model_versions"]] == [1, 3]
    assert [m["name"] for m in document["monitors"]] == ["watch-a"]
    assert [m.version for m in datasets.lineage("churn@v2").model_versions] == [2]
